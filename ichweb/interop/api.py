"""The JSON API of interop: received studies, DICOM exports and sending them to destinations.

* ``/api/v1/received-studies/``: studies received over C-STORE (team leads and admins);
* ``/api/v1/interop/export/series/{id}/ground-truth.dcm``, ``.../jobs/{id}/findings.dcm`` and
  ``.../jobs/{id}/seg.dcm``: the DICOM exports (leads, admins and service accounts, as for DICOMweb);
* ``/api/v1/interop/destinations/`` (list) and ``/api/v1/interop/send-jobs/`` (list, create, detail): where
  exports can be sent, and sending them (leads and admins).

Wired by ``register(router)`` in ``ichweb/api.py`` like every room's API.
"""

from __future__ import annotations

from typing import Any

from rest_framework import mixins, serializers, viewsets

from ichweb.accounts.permissions import Managers
from ichweb.interop.models import ReceivedStudy


class ReceivedStudySerializer(serializers.ModelSerializer[ReceivedStudy]):
    class Meta:
        model = ReceivedStudy
        fields = [
            "id",
            "study_uid",
            "calling_ae",
            "status",
            "n_instances",
            "n_refused",
            "aborted",
            "reasons",
            "import_job",
            "first_received_at",
            "last_received_at",
            "queued_at",
            "finished_at",
        ]
        read_only_fields = fields


class ReceivedStudyViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Studies received over DICOM C-STORE, newest first: status, counts, reasons and the import job."""

    serializer_class = ReceivedStudySerializer
    permission_classes = [Managers]
    queryset = ReceivedStudy.objects.all()


def register(router: Any) -> None:
    from ichweb.interop import export_api

    router.register("received-studies", ReceivedStudyViewSet, basename="receivedstudy")
    export_api.register(router)
