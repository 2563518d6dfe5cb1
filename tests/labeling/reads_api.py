"""How the labeling tests talk to the reads API: a reader's read of a project, its URLs, autosave, submit."""

from __future__ import annotations

from ichweb.labeling.models import Read


def read_of(user, project):
    return Read.objects.filter(reader=user, case__project=project).order_by("case__position").first()


def read_url(read, suffix=""):
    return f"/api/v1/labeling/reads/{read.pk}/{suffix}"


def put_labels(client, read, slices, version=None):
    version = read.version if version is None else version
    return client.put(
        read_url(read, "labels"), {"version": version, "slices": slices}, content_type="application/json"
    )


def submit(client, user, read):
    client.force_login(user)
    read.refresh_from_db()
    return client.post(read_url(read, "submit"), {"version": read.version}, content_type="application/json")
