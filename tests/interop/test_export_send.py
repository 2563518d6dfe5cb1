"""Sending DICOM exports to real peers: a pynetdicom C-STORE SCP, a STOW-RS server, destinations that fail."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from io import BytesIO

import highdicom as hd
import pydicom
import pytest
from pydicom.uid import Comprehensive3DSRStorage, SegmentationStorage
from pynetdicom import AE, evt

from ichweb.celery import app
from ichweb.interop import send
from ichweb.interop.models import ExportDestination, SendJob
from tests.interop.orthanc import free_port
from tests.interop.test_export import job, series, truth

__all__ = ["job", "series", "truth"]


@pytest.fixture(scope="session", autouse=True)
def _plain_http_live_server() -> Iterator[None]:
    """The live server speaks plain HTTP; its middleware reads these once, at its start (as in tests/e2e)."""
    from django.test import override_settings

    with override_settings(SECURE_SSL_REDIRECT=False, SECURE_HSTS_SECONDS=0):
        yield


@pytest.fixture(autouse=True)
def _fast_retries(settings):
    settings.ICHWEB_EXPORT_SEND_ATTEMPTS = 3
    settings.ICHWEB_EXPORT_BACKOFF_S = 0
    settings.ICHWEB_EXPORT_TIMEOUT_S = 5


@pytest.fixture
def scp() -> Iterator[tuple[int, list[pydicom.Dataset]]]:
    """A C-STORE SCP (AE title PEER) on a free port, keeping what it receives."""
    received: list[pydicom.Dataset] = []

    def on_store(event) -> int:
        ds = event.dataset
        ds.file_meta = event.file_meta
        received.append(ds)
        return 0x0000

    ae = AE(ae_title="PEER")
    for sop_class in (Comprehensive3DSRStorage, SegmentationStorage):
        ae.add_supported_context(sop_class)
    server = ae.start_server(("127.0.0.1", 0), block=False, evt_handlers=[(evt.EVT_C_STORE, on_store)])
    try:
        yield server.server_address[1], received
    finally:
        server.shutdown()


class _Recorder(http.server.BaseHTTPRequestHandler):
    bodies: list[tuple[dict[str, str], bytes]]
    status = 200

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.bodies.append((dict(self.headers.items()), body))
        answer = json.dumps(
            {"00081198": {"vr": "SQ", "Value": [{"00081197": {"vr": "US", "Value": [43264]}}]}}
        )
        self.send_response(self.status)
        self.send_header("Content-Type", "application/dicom+json")
        self.end_headers()
        self.wfile.write(answer.encode() if self.status != 200 else b"{}")

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def stow_server():
    """A STOW-RS endpoint that records each request's headers and multipart body (``.bodies``)."""

    def start(status: int = 200):
        handler = type("Handler", (_Recorder,), {"bodies": [], "status": status})
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        started.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/dicomweb/studies", handler.bodies

    started: list[http.server.ThreadingHTTPServer] = []
    yield start
    for server in started:
        server.shutdown()
        server.server_close()


def cstore_to(port: int) -> ExportDestination:
    return ExportDestination.objects.create(
        name=f"pacs {port}", kind="cstore", host="127.0.0.1", port=port, called_ae="PEER", calling_ae="ICHWEB"
    )


def queued(what: str, object_id: int, destination: ExportDestination) -> SendJob:
    job = SendJob.objects.create(what=what, object_id=object_id, destination=destination)
    job.next_attempt()
    return job


def multipart_instances(headers: dict[str, str], body: bytes) -> list[pydicom.Dataset]:
    from tests.interop.conftest import split_multipart

    return [pydicom.dcmread(BytesIO(data)) for _, data in split_multipart(headers["Content-Type"], body)]


def test_cstore_sends_the_sr_and_the_seg_to_a_real_scp(scp, truth, job, series):
    port, received = scp
    destination = cstore_to(port)
    for what, object_id in (("ground-truth", series.pk), ("findings", job.pk), ("seg", job.pk)):
        row = queued(what, object_id, destination)
        assert send.run(row.pk, row.dispatch) == "sent"
        row.refresh_from_db()
        assert (row.status, row.attempts, row.last_error) == ("sent", 1, "")
        assert row.finished_at is not None and row.sop_instance_uid
    assert [ds.SOPClassUID for ds in received] == [
        Comprehensive3DSRStorage,
        Comprehensive3DSRStorage,
        SegmentationStorage,
    ]
    assert all(ds.StudyInstanceUID == series.study.study_uid for ds in received)
    buffer = BytesIO()
    received[2].save_as(buffer, enforce_file_format=True)
    assert hd.seg.segread(BytesIO(buffer.getvalue())).number_of_segments == 2


def test_stow_posts_one_multipart_instance_with_the_bearer_token(stow_server, truth, series):
    url, bodies = stow_server()
    destination = ExportDestination.objects.create(name="web", kind="stow", url=url, token="s3cret")
    row = queued("ground-truth", series.pk, destination)
    assert send.run(row.pk, row.dispatch) == "sent"
    ((headers, body),) = bodies
    assert headers["Authorization"] == "Bearer s3cret"
    assert headers["Content-Type"].startswith('multipart/related; type="application/dicom"; boundary=')
    (ds,) = multipart_instances(headers, body)
    assert ds.SOPClassUID == Comprehensive3DSRStorage
    assert ds.SOPInstanceUID == SendJob.objects.get(pk=row.pk).sop_instance_uid


def test_a_refusing_stow_server_fails_the_job_with_its_reason_after_the_retries(stow_server, job):
    url, bodies = stow_server(status=409)
    row = queued("seg", job.pk, ExportDestination.objects.create(name="web", kind="stow", url=url))
    assert send.run(row.pk, row.dispatch) == "failed"
    row.refresh_from_db()
    assert (row.status, row.attempts, len(bodies)) == ("failed", 3, 3)
    assert "answered 409" in row.last_error and "FailureReason A900" in row.last_error
    assert "after 3 tries" in row.last_error


@pytest.mark.parametrize("kind", ["cstore", "stow"])
def test_a_closed_port_ends_failed_with_the_error_after_the_retries(kind, job):
    port = free_port()  # nobody listens there
    if kind == "cstore":
        destination = cstore_to(port)
    else:
        destination = ExportDestination.objects.create(
            name="web", kind="stow", url=f"http://127.0.0.1:{port}/dicomweb/studies"
        )
    row = queued("findings", job.pk, destination)
    assert send.run(row.pk, row.dispatch) == "failed"
    row.refresh_from_db()
    assert (row.status, row.attempts) == ("failed", 3)
    expected = "association" if kind == "cstore" else "could not be reached"
    assert expected in row.last_error and "after 3 tries" in row.last_error


def test_an_export_that_cannot_be_built_fails_at_once(series, scp):
    row = queued("ground-truth", series.pk, cstore_to(scp[0]))
    assert send.run(row.pk, row.dispatch) == "failed"
    row.refresh_from_db()
    assert row.attempts == 0 and "has no ground truth" in row.last_error


def test_an_older_or_repeated_message_does_nothing(scp, truth, series):
    port, received = scp
    row = queued("ground-truth", series.pk, cstore_to(port))
    old = row.dispatch
    row.next_attempt()
    assert send.run(row.pk, old) == "skipped"
    assert send.run(row.pk, row.dispatch) == "sent"
    assert send.run(row.pk, row.dispatch) == "skipped"
    assert len(received) == 1


# -- the API ---------------------------------------------------------------------------------------------


def test_a_lead_queues_a_send_job_and_a_worker_sends_it(
    client, alice, scp, job, monkeypatch, django_capture_on_commit_callbacks
):
    port, received = scp
    destination = cstore_to(port)
    monkeypatch.setitem(app.conf, "task_always_eager", True)
    client.force_login(alice)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/api/v1/interop/send-jobs/",
            {"what": "seg", "object_id": job.pk, "destination": destination.pk},
            content_type="application/json",
        )
    assert response.status_code == 201, response.content
    assert response.json()["status"] == "queued"
    assert len(received) == 1
    listed = client.get("/api/v1/interop/send-jobs/").json()["results"]
    assert [(r["what"], r["status"], r["attempts"]) for r in listed] == [("seg", "sent", 1)]
    destinations = client.get("/api/v1/interop/destinations/").json()["results"]
    assert destinations[0]["name"] == destination.name and "token" not in destinations[0]


def test_a_send_job_of_nothing_is_refused_naming_the_field(client, alice, series, job):
    destination = cstore_to(11112)
    client.force_login(alice)
    response = client.post(
        "/api/v1/interop/send-jobs/",
        {"what": "ground-truth", "object_id": series.pk, "destination": destination.pk},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert "has no ground truth" in json.dumps(response.json())
    assert "object_id" in json.dumps(response.json())
    assert not SendJob.objects.exists()


def test_send_jobs_are_for_leads_and_admins_only(client, bob, carol, sam, job):
    from tests.interop.conftest import bearer

    for user in (bob, carol):
        client.force_login(user)
        assert client.get("/api/v1/interop/send-jobs/").status_code == 403
        assert client.post("/api/v1/interop/send-jobs/", {}).status_code == 403
    client.logout()
    assert client.get("/api/v1/interop/send-jobs/", **bearer(sam)).status_code in (401, 403)


def test_a_destination_names_the_fields_its_kind_lacks(db):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as refused:
        ExportDestination(name="x", kind="cstore").full_clean()
    assert {"host", "port", "called_ae"} <= set(refused.value.message_dict)
    with pytest.raises(ValidationError) as refused:
        ExportDestination(name="y", kind="stow").full_clean()
    assert "url" in refused.value.message_dict
    with pytest.raises(ValidationError, match="must begin with http:// or https://"):
        ExportDestination(name="z", kind="stow", url="file:///etc/passwd").full_clean()


def test_ichwebs_own_stow_refuses_an_sr_and_the_job_says_why(
    live_server, transactional_db, truth, series, sam
):
    """A real STOW-RS peer (ICHweb itself, over HTTP): it stores CT only, so the SR fails with A900."""
    from ichweb.interop import tokens

    token = tokens.create_token(sam, name="loopback", days=1).secret
    destination = ExportDestination.objects.create(
        name="self", kind="stow", url=f"{live_server.url}/dicomweb/studies", token=token
    )
    row = queued("ground-truth", series.pk, destination)
    assert send.run(row.pk, row.dispatch) == "failed"
    row.refresh_from_db()
    assert "answered 409" in row.last_error and "FailureReason A900" in row.last_error, row.last_error
    assert row.attempts == 3


def test_a_redirecting_stow_server_is_a_failure_naming_where_it_points(stow_server, truth, series):
    url, bodies = stow_server(status=301)
    row = queued(
        "ground-truth", series.pk, ExportDestination.objects.create(name="web", kind="stow", url=url)
    )
    assert send.run(row.pk, row.dispatch) == "failed"
    row.refresh_from_db()
    assert "answered 301, a redirect to" in row.last_error and len(bodies) == 3


def test_the_admin_site_lists_destinations_and_send_jobs(client, dan, job):
    destination = cstore_to(free_port())  # nobody listens there
    queued("findings", job.pk, destination)
    dan.is_superuser = True  # model pages need model permissions; a superuser has them all
    dan.save()
    client.force_login(dan)
    assert client.get("/admin/interop/exportdestination/").status_code == 200
    assert client.get(f"/admin/interop/exportdestination/{destination.pk}/change/").status_code == 200
    page = client.get("/admin/interop/sendjob/")
    assert page.status_code == 200 and b"findings" in page.content
