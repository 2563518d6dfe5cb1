"""The participant's task routes, nested under ``/api/v1/reader-studies/{study_id}/``:

* ``cases/``: the reads of a session in the participant's order (``?session=``, default the current one),
  each row leading to its arm; ``cases/{id}/``: the blinded unaided read of a case and its slices
  (``cases/{id}/slices/{index}/image.png``). The aided arm is ``ichweb.readerstudy.aided_api``.
* ``localisation/``: bleeding points on the material slices, open once every read of the plan is submitted.
* ``questionnaire/``: the slice, its attention overlay and the four candidate sets under letters a-d,
  open only once the localisation task is finished (409 before).
* ``consensus/``: the two consensus participants' points merged into reference points (a lead or one of
  the two, once both finished localisation).

Nothing here names a study, series or patient, shows model output before the questionnaire (the aided
arm excepted, by design and once open), or shows another participant's answers (the consensus step
excepted, by design and after localisation). Handlers take ``format`` because DRF passes a format
argument to every handler.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
from django.db.models import Model
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response

from ichweb.errors import ID_REGEX, RuleError
from ichweb.imaging import render
from ichweb.imaging.api import PIXEL_RENDERERS, _cached_binary
from ichweb.imaging.serializers import ImageQuerySerializer
from ichweb.readerstudy import access, consensus, material, plan, services
from ichweb.readerstudy.models import (
    CaseRead,
    Design,
    LocalisationItem,
    LocalisationMark,
    QuestionnaireAnswer,
    ReaderStudy,
    StudyCase,
)
from ichweb.readerstudy.serializers import (
    ChoiceSerializer,
    HeartbeatSerializer,
    PointsSerializer,
    ReadSerializer,
    TaskRowSerializer,
)

IMAGE_PARAMS = [OpenApiParameter("preset", str, enum=render.PRESETS), OpenApiParameter("size", int)]
PNG = {(200, "image/png"): bytes}
OBJECT = {200: OpenApiTypes.OBJECT}


def _neighbours(order: Sequence[Model], current: Model) -> dict[str, Any]:
    """1-based number, total, and the previous and next ids around ``current`` in a participant's order."""
    i = order.index(current)
    return {
        "number": i + 1,
        "total": len(order),
        "previous": order[i - 1].pk if i > 0 else None,
        "next": order[i + 1].pk if i + 1 < len(order) else None,
    }


def _slice_png(request: Request, etag: str, volume: Callable[[], np.ndarray], index: int) -> HttpResponse:
    query = ImageQuerySerializer(data=request.query_params.dict())
    query.is_valid(raise_exception=True)
    preset, size = query.validated_data["preset"], query.validated_data.get("size")
    return _cached_binary(
        request,
        f"{etag}-{index}-{preset}-{size or 0}",
        "image/png",
        lambda: render.png_bytes(np.asarray(volume()[index]), preset, size),
    )


def read_url(study: ReaderStudy, case_id: int, modality: str, name: str = "detail", **kwargs: Any) -> str:
    """A route of the read of a case in ``modality``: ``cases/{id}/...`` or ``aided-cases/{id}/...``."""
    basename = "readerstudy-aided-case" if modality == plan.AIDED else "readerstudy-case"
    return reverse(f"{basename}-{name}", kwargs={"study_id": study.pk, "pk": case_id, **kwargs})


def read_answer(read: CaseRead | None) -> dict[str, Any] | None:
    """A submitted read's answer (``None`` until submitted)."""
    if read is None or read.submitted_at is None:
        return None
    return {"ich": read.ich, "subtypes": read.codes, "confidence": read.confidence}


def read_document(study: ReaderStudy, user, case: StudyCase, read: CaseRead) -> dict[str, Any]:
    """What both arms show of a read: the case's place in its session, its slices, the answer, whether it
    may still change. Never model output: the aided arm adds that."""
    modality = read.modality
    order = plan.session_cases(study, user, read.session)
    submitted = read.submitted_at is not None
    return {
        "id": case.pk,
        **_neighbours(order, case),
        "modality": modality,
        "session": read.session,
        "sessions": plan.n_sessions(study),
        "url": read_url(study, case.pk, modality),
        "n_slices": case.series.n_slices,
        "rows": case.series.rows,
        "columns": case.series.columns,
        "slices": [
            {"index": i, "image_url": read_url(study, case.pk, modality, "image", index=i)}
            for i in range(case.series.n_slices)
        ],
        "read": read_answer(read),
        "editable": access.can_change(
            study, user, access.READS, submitted=submitted, case=case, modality=modality
        ),
    }


def _file_png(request: Request, path: Path, etag: str) -> HttpResponse:
    if not path.is_file():
        raise Http404("image file missing; a lead can rebuild the study's material")
    return _cached_binary(request, etag, "image/png", path.read_bytes)


class _StudyTask(viewsets.GenericViewSet):
    """A task route of one study that the caller takes part in (404 for anyone else)."""

    queryset = ReaderStudy.objects.none()
    lookup_value_regex = ID_REGEX
    basename = ""

    @cached_property
    def study(self) -> ReaderStudy:
        return get_object_or_404(access.participant_studies(self.request.user), pk=self.kwargs["study_id"])

    def url(self, name: str, pk: int, **kwargs: Any) -> str:
        return reverse(f"{self.basename}-{name}", kwargs={"study_id": self.study.pk, "pk": pk, **kwargs})

    def page(self, rows: list[dict[str, Any]]) -> Response:
        return self.get_paginated_response(self.paginate_queryset(rows))


# --- case reads ---------------------------------------------------------------------------------------------


class _CaseTask(_StudyTask):
    """A read of one case in one modality: its slices and reading-time heartbeats (both arms)."""

    modality: str

    def _case(self, pk: str) -> StudyCase:
        return get_object_or_404(self.study.cases.select_related("series", "study"), pk=pk)

    def _image_case(self, pk: str) -> StudyCase:
        """The case whose slices the caller may see now (the aided arm opens its read first)."""
        return self._case(pk)

    @extend_schema(request=HeartbeatSerializer, responses={204: None})
    @action(detail=True, methods=["post"])
    def heartbeat(self, request: Request, study_id: str, pk: str, format: str | None = None) -> Response:
        """Reading time of this arm's read: ``seconds`` since the last beat (bounded by the server's clock and
        60 s). A beat does not open the read (409 where it may not open yet)."""
        form = HeartbeatSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        services.add_reading_time(self._case(pk), request.user, form.validated_data["seconds"], self.modality)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(parameters=IMAGE_PARAMS, responses=PNG)
    @action(
        detail=True,
        url_path=r"slices/(?P<index>\d+)/image.png",
        url_name="image",
        renderer_classes=PIXEL_RENDERERS,
    )
    def image(
        self, request: Request, study_id: str, pk: str, index: str, format: str | None = None
    ) -> HttpResponse:
        """A slice of the case, windowed on the server (``preset``), optionally shrunk (``size``)."""
        case = self._image_case(pk)
        if int(index) >= case.series.n_slices:
            raise Http404("no such slice")
        return _slice_png(request, f"rs{self.study.pk}-c{case.pk}", case.series.volume, int(index))


class CaseViewSet(_CaseTask):
    """The unaided arm, and the list of a session's reads."""

    basename = "readerstudy-case"
    modality = plan.UNAIDED

    def document(self, case: StudyCase) -> dict[str, Any]:
        """The unaided read of ``case`` (opened: ``retrieve`` and ``read`` open it first)."""
        user = self.request.user
        assert user.is_authenticated  # signed in: IsAuthenticated is the API's default permission
        read = CaseRead.objects.get(case=case, participant=user, modality=self.modality)
        doc = read_document(self.study, user, case, read)
        doc["aided"] = None
        if self.study.design == Design.SEQUENTIAL:
            aided = CaseRead.objects.filter(case=case, participant=user, modality=plan.AIDED).first()
            doc["aided"] = {
                "url": read_url(self.study, case.pk, plan.AIDED),
                "open": read.submitted_at is not None,
                "opened": aided is not None and aided.opened_at is not None,
                "submitted": aided is not None and aided.submitted_at is not None,
            }
        return doc

    def _session(self, request: Request) -> int:
        raw = request.query_params.get("session")
        if raw is None:
            return access.current_session(self.study, request.user)
        sessions = range(1, plan.n_sessions(self.study) + 1)
        if raw not in [str(n) for n in sessions]:
            raise RuleError(f"choose session {' or '.join(map(str, sessions))}", field="session")
        return int(raw)

    @extend_schema(
        parameters=[OpenApiParameter("session", int, description="1 or 2 (crossover); default: the current")],
        responses=TaskRowSerializer(many=True),
    )
    def list(self, request: Request, study_id: str, format: str | None = None) -> Response:
        """A session's reads in this participant's order: a row per case, leading to its first read."""
        user = request.user
        assert user.is_authenticated  # signed in: IsAuthenticated is the API's default permission
        session = self._session(request)
        access.require_session_open(self.study, user, session)
        done = set(
            CaseRead.objects.filter(
                case__study=self.study, participant=user, session=session, submitted_at__isnull=False
            ).values_list("case_id", "modality")
        )
        reads = plan.session_plan(self.study, user, session)
        rows = []
        for n, case in enumerate(plan.session_cases(self.study, user, session), start=1):
            mine = [p for p in reads if p.case.pk == case.pk]
            rows.append(
                {
                    "id": case.pk,
                    "number": n,
                    "submitted": all((case.pk, p.modality) in done for p in mine),
                    "url": read_url(self.study, case.pk, mine[0].modality),
                    "modality": mine[0].modality,
                    "session": session,
                }
            )
        return self.page(rows)

    @extend_schema(responses=OBJECT)
    def retrieve(self, request: Request, study_id: str, pk: str, format: str | None = None) -> Response:
        """The unaided read of the case: its slices and answer (opening it in a crossover's session 2 needs
        the session open)."""
        case = self._case(pk)
        services.open_read(case, request.user, self.modality)
        return Response(self.document(case))

    @extend_schema(request=ReadSerializer, responses=OBJECT)
    @action(detail=True, methods=["put"])
    def read(self, request: Request, study_id: str, pk: str, format: str | None = None) -> Response:
        """Submit (or, where the study allows, change) the read: ICH present, subtypes, confidence 0-100."""
        case = self._case(pk)
        form = ReadSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        services.submit_read(case, request.user, **form.validated_data, modality=self.modality)
        return Response(self.document(case))


# --- localisation -------------------------------------------------------------------------------------------


class _ItemTask(_StudyTask):
    """A task over the study's material slices; ``answers`` is the model of a participant's submissions."""

    answers: type[LocalisationMark] | type[QuestionnaireAnswer]

    def gate(self) -> None:
        access.open_localisation(self.study, self.request.user)

    def items(self) -> list[LocalisationItem]:
        """The task's items in the order this caller sees them."""
        return services.ordered_items(self.study, self.request.user)

    @cached_property
    def order(self) -> list[LocalisationItem]:
        return self.items()

    def _item(self, pk: str) -> LocalisationItem:
        self.gate()
        item = next((i for i in self.order if str(i.pk) == pk), None)
        if item is None:
            raise Http404("no such item in this task")
        return item

    def base(self, item: LocalisationItem) -> dict[str, Any]:
        series = item.case.series
        return {
            "id": item.pk,
            **_neighbours(self.order, item),
            "rows": series.rows,
            "columns": series.columns,
            "image_url": self.url("image", item.pk),
        }

    def slice_image(self, request: Request, pk: str) -> HttpResponse:
        item = self._item(pk)
        return _slice_png(request, f"rs{self.study.pk}-i{item.pk}", item.case.series.volume, item.slice.index)

    def document(self, item: LocalisationItem) -> dict[str, Any]:
        raise NotImplementedError

    @extend_schema(responses=TaskRowSerializer(many=True))
    def list(self, request: Request, study_id: str, format: str | None = None) -> Response:
        """The task's items in this caller's order, with what they have submitted."""
        self.gate()
        user = request.user
        assert user.is_authenticated  # signed in: IsAuthenticated is the API's default permission
        mine = self.answers.objects.filter(item__study=self.study, participant=user)
        done = set(mine.values_list("item_id", flat=True))
        return self.page(
            [
                {"id": i.pk, "number": n, "submitted": i.pk in done, "url": self.url("detail", i.pk)}
                for n, i in enumerate(self.order, start=1)
            ]
        )

    @extend_schema(responses=OBJECT)
    def retrieve(self, request: Request, study_id: str, pk: str, format: str | None = None) -> Response:
        return Response(self.document(self._item(pk)))

    @extend_schema(parameters=IMAGE_PARAMS, responses=PNG)
    @action(detail=True, url_path="image.png", url_name="image", renderer_classes=PIXEL_RENDERERS)
    def image(self, request: Request, study_id: str, pk: str, format: str | None = None) -> HttpResponse:
        return self.slice_image(request, pk)


class LocalisationViewSet(_ItemTask):
    basename = "readerstudy-localisation"
    answers = LocalisationMark

    def document(self, item: LocalisationItem) -> dict[str, Any]:
        user = self.request.user
        assert user.is_authenticated  # signed in: IsAuthenticated is the API's default permission
        mark = LocalisationMark.objects.filter(item=item, participant=user).first()
        return {
            **self.base(item),
            "points": mark.points if mark else [],
            "submitted": mark is not None,
            "editable": access.can_change(self.study, user, access.LOCALISATION, submitted=mark is not None),
        }

    @extend_schema(request=None, responses=OBJECT)
    @action(detail=False, methods=["post"])
    def finish(self, request: Request, study_id: str, format: str | None = None) -> Response:
        """Make my bleeding points final: they can no longer change (the consensus waits for both)."""
        services.finish_localisation(self.study, request.user)
        return Response(access.progress(self.study, request.user).to_dict())

    @extend_schema(request=PointsSerializer, responses=OBJECT)
    def update(self, request: Request, study_id: str, pk: str, format: str | None = None) -> Response:
        """Submit the bleeding points of the slice (an empty list: no bleeding found)."""
        item = self._item(pk)
        form = PointsSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        services.submit_points(item, request.user, form.validated_data["points"])
        return Response(self.document(item))


# --- questionnaire ------------------------------------------------------------------------------------------


class QuestionnaireViewSet(_ItemTask):
    basename = "readerstudy-questionnaire"
    answers = QuestionnaireAnswer

    def gate(self) -> None:
        access.open_questionnaire(self.study, self.request.user)

    def items(self) -> list[LocalisationItem]:
        allowed = set(access.questionnaire_items(self.study).values_list("pk", flat=True))
        return [i for i in super().items() if i.pk in allowed]

    def document(self, item: LocalisationItem) -> dict[str, Any]:
        user = self.request.user
        assert user.is_authenticated  # signed in: IsAuthenticated is the API's default permission
        answer = QuestionnaireAnswer.objects.filter(item=item, participant=user).first()
        options = services.options(self.study, self.request.user, item)
        return {
            **self.base(item),
            "overlay_url": self.url("overlay", item.pk),
            "options": [
                {
                    "letter": letter,
                    "patch_url": self.url("option", item.pk, letter=letter, kind="patch"),
                    "map_url": self.url("option", item.pk, letter=letter, kind="map"),
                }
                for letter, _ in options
            ],
            "choice": answer.letter if answer else None,
            "editable": access.can_change(
                self.study, self.request.user, access.QUESTIONNAIRE, submitted=answer is not None
            ),
        }

    @extend_schema(request=ChoiceSerializer, responses=OBJECT)
    def update(self, request: Request, study_id: str, pk: str, format: str | None = None) -> Response:
        """Choose the candidate set (a-d) most similar in morphology to the slice's attention."""
        item = self._item(pk)
        form = ChoiceSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        services.submit_answer(item, request.user, form.validated_data["choice"])
        return Response(self.document(item))

    @extend_schema(responses=PNG)
    @action(detail=True, url_path="overlay.png", url_name="overlay", renderer_classes=PIXEL_RENDERERS)
    def overlay(self, request: Request, study_id: str, pk: str, format: str | None = None) -> HttpResponse:
        """The attention map in colour, opacity growing with attention, to lay over the slice."""
        item = self._item(pk)
        return _file_png(request, material.overlay_path(item), f"rs{self.study.pk}-i{item.pk}-overlay")

    @extend_schema(responses=PNG)
    @action(
        detail=True,
        url_path=r"options/(?P<letter>[a-d])/(?P<kind>patch|map).png",
        url_name="option",
        renderer_classes=PIXEL_RENDERERS,
    )
    def option(
        self, request: Request, study_id: str, pk: str, letter: str, kind: str, format: str | None = None
    ) -> HttpResponse:
        """The atlas exemplar of candidate ``letter``: its image patch or its activation map."""
        item = self._item(pk)
        candidate = dict(services.options(self.study, request.user, item)).get(letter)
        if candidate is None:
            raise Http404("no such option")
        entry = candidate.entry
        path = entry.image_path(kind)
        return _file_png(request, path, f"rs{self.study.pk}-i{item.pk}-{letter}-{kind}-{request.user.pk}")


# --- consensus ----------------------------------------------------------------------------------------------


class ConsensusViewSet(_ItemTask):
    """Open to a lead or an admin and to the study's two consensus participants."""

    basename = "readerstudy-consensus"
    pair: tuple[Any, Any]

    @cached_property
    def study(self) -> ReaderStudy:
        study = get_object_or_404(access.visible_studies(self.request.user), pk=self.kwargs["study_id"])
        if not access.can_merge(study, self.request.user):
            raise PermissionDenied("Only a lead or the study's two consensus participants merge points.")
        return study

    def gate(self) -> None:
        self.pair = access.require_consensus_open(self.study)

    def items(self) -> list[LocalisationItem]:
        return list(self.study.items.select_related("case__series", "slice").order_by("position"))

    @extend_schema(responses=TaskRowSerializer(many=True))
    def list(self, request: Request, study_id: str, format: str | None = None) -> Response:
        self.gate()
        merged = set(self.study.items.filter(reference__isnull=False).values_list("pk", flat=True))
        return self.page(
            [
                {"id": i.pk, "number": n, "has_reference": i.pk in merged, "url": self.url("detail", i.pk)}
                for n, i in enumerate(self.order, start=1)
            ]
        )

    @extend_schema(responses=OBJECT)
    def retrieve(self, request: Request, study_id: str, pk: str, format: str | None = None) -> Response:
        item = self._item(pk)
        return Response(
            {
                **self.base(item),
                **consensus.consensus_of(item, self.pair),
                "radius": self.study.merge_radius_px,
            }
        )

    @extend_schema(request=PointsSerializer, responses=OBJECT)
    def update(self, request: Request, study_id: str, pk: str, format: str | None = None) -> Response:
        """Save the edited merge as the slice's reference points."""
        item = self._item(pk)
        form = PointsSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        consensus.record_reference(item, request.user, form.validated_data["points"])
        return self.retrieve(request, study_id, pk)


def register(router: Any) -> None:
    from ichweb.readerstudy.aided_api import AidedCaseViewSet

    nested = rf"reader-studies/(?P<study_id>{ID_REGEX})"
    router.register(f"{nested}/cases", CaseViewSet, basename=CaseViewSet.basename)
    router.register(f"{nested}/aided-cases", AidedCaseViewSet, basename=AidedCaseViewSet.basename)
    router.register(f"{nested}/localisation", LocalisationViewSet, basename=LocalisationViewSet.basename)
    router.register(f"{nested}/questionnaire", QuestionnaireViewSet, basename=QuestionnaireViewSet.basename)
    router.register(f"{nested}/consensus", ConsensusViewSet, basename=ConsensusViewSet.basename)
