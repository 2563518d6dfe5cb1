"""The JSON API of received studies: ``/api/v1/received-studies/`` for team leads and admins.

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
    router.register("received-studies", ReceivedStudyViewSet, basename="receivedstudy")
