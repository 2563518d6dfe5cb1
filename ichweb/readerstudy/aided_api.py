"""The aided arm of the case reads, nested under ``/api/v1/reader-studies/{study_id}/aided-cases/{id}/``:

* ``{id}/``: the read with the study model's output on the case (``model``): case probabilities and calls
  at the model's thresholds, the per-slice probability of the study's material label, the model-positive
  slices with their attention overlays (``slices/{index}/overlay.png``) and prediction-basis exemplars
  (``exemplars/{number}/patch.png`` and ``map.png``); in a sequential study also the case's unaided
  answer, now locked;
* ``{id}/read`` (PUT), ``{id}/heartbeat`` (POST), ``{id}/slices/{index}/image.png``: as for the unaided arm.

Every route opens the aided read first (``services.open_read``): 404 where the design has no aided reads,
409 before the read may open (the case's unaided read not submitted, or a crossover session not open).
The first route served freezes the material and locks the reads before it (who may see what:
docs/blinding.md, "Aided reads"). Exemplars never name their source, rank or distance.
"""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpResponse
from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from ichweb.imaging.api import PIXEL_RENDERERS
from ichweb.readerstudy import material, plan, services
from ichweb.readerstudy.models import AidedCase, CaseRead, Design, StudyCase
from ichweb.readerstudy.participant_api import (
    OBJECT,
    PNG,
    _CaseTask,
    _file_png,
    read_answer,
    read_document,
    read_url,
)
from ichweb.readerstudy.serializers import ReadSerializer


def model_document(study_id: int, case: StudyCase, aided: AidedCase) -> dict[str, Any]:
    """The frozen model output of an aided read, with the URLs of its overlays and exemplars."""

    def url(name: str, **kwargs: Any) -> str:
        return reverse(
            f"readerstudy-aided-case-{name}", kwargs={"study_id": study_id, "pk": case.pk, **kwargs}
        )

    slices = list(aided.slices.all())
    exemplars = list(aided.exemplars.select_related("slice"))
    return {
        "label": aided.label,
        "labels": aided.labels,
        "case": {
            label: {
                "probability": aided.probabilities.get(label),
                "threshold": aided.thresholds.get(label),
                "call": aided.calls.get(label),
            }
            for label in aided.labels
        },
        "slice_probabilities": aided.slice_probabilities,
        "overlays": [
            {"index": s.index, "probability": s.probability, "url": url("overlay", index=s.index)}
            for s in slices
        ],
        "exemplars": [
            {
                "number": e.number,
                "slice": e.slice.index,
                "patch_url": url("exemplar", number=e.number, kind="patch"),
                "map_url": url("exemplar", number=e.number, kind="map"),
            }
            for e in exemplars
        ],
    }


class AidedCaseViewSet(_CaseTask):
    """The aided read of a case (module docstring)."""

    basename = "readerstudy-aided-case"
    modality = plan.AIDED

    def _image_case(self, pk: str) -> StudyCase:
        return self._open(pk)[0]

    def _open(self, pk: str) -> tuple[StudyCase, CaseRead, AidedCase]:
        case = self._case(pk)
        read, aided = services.open_read(case, self.request.user, self.modality)
        assert aided is not None  # an aided read always has its material
        return case, read, aided

    def document(self, case: StudyCase, read: CaseRead, aided: AidedCase) -> dict[str, Any]:
        user = self.request.user
        assert user.is_authenticated  # signed in: IsAuthenticated is the API's default permission
        doc = read_document(self.study, user, case, read)
        doc["unaided"] = None
        if self.study.design == Design.SEQUENTIAL:
            unaided = CaseRead.objects.filter(case=case, participant=user, modality=plan.UNAIDED).first()
            doc["unaided"] = {
                "read": read_answer(unaided),
                "editable": False,
                "url": read_url(self.study, case.pk, plan.UNAIDED),
            }
        doc["model"] = model_document(self.study.pk, case, aided)
        return doc

    @extend_schema(responses=OBJECT)
    def retrieve(self, request: Request, study_id: str, pk: str, format: str | None = None) -> Response:
        """The aided read: the case, the model's output on it and (sequential) the locked unaided answer."""
        return Response(self.document(*self._open(pk)))

    @extend_schema(request=ReadSerializer, responses=OBJECT)
    @action(detail=True, methods=["put"])
    def read(self, request: Request, study_id: str, pk: str, format: str | None = None) -> Response:
        """Submit (or, where the study allows, change) the aided read: ICH present, subtypes, confidence."""
        case, _, aided = self._open(pk)
        form = ReadSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        read = services.submit_read(case, request.user, **form.validated_data, modality=self.modality)
        return Response(self.document(case, read, aided))

    @extend_schema(responses=PNG)
    @action(
        detail=True,
        url_path=r"slices/(?P<index>\d+)/overlay.png",
        url_name="overlay",
        renderer_classes=PIXEL_RENDERERS,
    )
    def overlay(
        self, request: Request, study_id: str, pk: str, index: str, format: str | None = None
    ) -> HttpResponse:
        """The attention overlay of a model-positive slice (404 for a slice without one)."""
        case, _, aided = self._open(pk)
        found = aided.slices.filter(index=int(index)).first()
        if found is None:
            raise Http404("the model marks no attention on this slice")
        etag = f"rs{self.study.pk}-a{case.pk}-o{found.index}"
        return _file_png(request, material.aided_overlay_path(found), etag)

    @extend_schema(responses=PNG)
    @action(
        detail=True,
        url_path=r"exemplars/(?P<number>\d+)/(?P<kind>patch|map).png",
        url_name="exemplar",
        renderer_classes=PIXEL_RENDERERS,
    )
    def exemplar(
        self, request: Request, study_id: str, pk: str, number: str, kind: str, format: str | None = None
    ) -> HttpResponse:
        """Prediction-basis exemplar ``number`` of the case: its image patch or its activation map."""
        case, _, aided = self._open(pk)
        found = aided.exemplars.select_related("entry").filter(number=int(number)).first()
        if found is None:
            raise Http404("no such exemplar")
        etag = f"rs{self.study.pk}-a{case.pk}-e{found.number}-{kind}"
        return _file_png(request, found.entry.image_path(kind), etag)
