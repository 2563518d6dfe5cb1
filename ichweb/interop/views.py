"""The DICOMweb routes (PS3.18): each validates its input, calls one service and answers.

One DRF viewset, its actions mapped to methods in ``urls.py``. ``DicomwebMiddleware`` has already
authenticated the caller (bearer token or session) and checked the role; the viewset checks the role again
and lets DRF's one exception handler answer errors, always as JSON. It stays out of the OpenAPI schema
(``/api/schema/`` describes the JSON API; DICOMweb is described by PS3.18 and docs/interop.md).
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.http import HttpResponse, StreamingHttpResponse
from django.urls import reverse
from rest_framework.authentication import BaseAuthentication, SessionAuthentication
from rest_framework.exceptions import AuthenticationFailed, NotAcceptable
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.parsers import BaseParser
from rest_framework.permissions import BasePermission
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.throttling import UserRateThrottle
from rest_framework.viewsets import ViewSet

from ichweb.interop import multipart, qido, stow, tokens, wado
from ichweb.interop.access import DENIED, may_use_dicomweb
from ichweb.interop.middleware import CHALLENGE, note_instances
from ichweb.lib.uploads import UploadRule

DICOM_JSON = "application/dicom+json"
NO_STORE = "no-store"
PIXEL_CACHE = "private, max-age=86400"


class BearerTokenAuthentication(BaseAuthentication):
    """The token the middleware checked (or, without it, checks one itself); no CSRF for tokens."""

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        django_request = request._request
        token = getattr(django_request, "dicomweb_token", None)
        if token is None:
            scheme, _, secret = django_request.headers.get("Authorization", "").partition(" ")
            if scheme.lower() != "bearer":
                return None
            try:
                token = tokens.authenticate(secret)
            except tokens.TokenRefused as refused:
                raise AuthenticationFailed(str(refused)) from None
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        return CHALLENGE


class DicomwebThrottle(UserRateThrottle):
    """Requests per user and ``ICHWEB_DICOMWEB_RATE`` (a viewer fetches every frame of a study)."""

    scope = "dicomweb"

    def get_rate(self) -> str:
        return str(settings.ICHWEB_DICOMWEB_RATE)


class DicomwebUsers(BasePermission):
    message = DENIED

    def has_permission(self, request: Request, view: Any) -> bool:
        return may_use_dicomweb(request.user)


class JsonAnswers(BaseContentNegotiation):
    """DRF's own answers (errors) are JSON whatever the Accept header; the actions negotiate their bodies."""

    def select_parser(self, request: Request, parsers: Iterable[BaseParser]) -> BaseParser | None:
        return next(iter(parsers), None)

    def select_renderer(
        self, request: Request, renderers: Iterable[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        return JSONRenderer(), "application/json"


def _params(request: Request) -> dict[str, list[str]]:
    return {name: request.query_params.getlist(name) for name in request.query_params}


def _dicom_json(data: Any, status: int = 200, warnings: list[str] | None = None) -> HttpResponse:
    response = HttpResponse(json.dumps(data), status=status, content_type=DICOM_JSON)
    if warnings:
        response["Warning"] = ", ".join(f'299 - "{w}"'.replace("\n", " ") for w in warnings)
    response["Cache-Control"] = NO_STORE
    return response


def _require_json(request: Request) -> None:
    accepted = ("*/*", "application/*", DICOM_JSON, "application/json")
    if not any(m.type in accepted for m in multipart.parse_accept(request.headers.get("Accept", ""))):
        raise NotAcceptable("search results are offered as application/dicom+json")


def _multipart(parts: Any, part_type: str, *, stream: bool) -> HttpResponse | StreamingHttpResponse:
    boundary = multipart.new_boundary()
    content_type = f'multipart/related; type="{part_type}"; boundary={boundary}'
    body = multipart.write_parts(parts, boundary)
    response: HttpResponse | StreamingHttpResponse
    response = (
        StreamingHttpResponse(body, content_type=content_type)
        if stream
        else HttpResponse(b"".join(body), content_type=content_type)
    )
    response["Cache-Control"] = PIXEL_CACHE
    return response


class Dicomweb(ViewSet):
    """QIDO-RS, WADO-RS and STOW-RS over the stored, de-identified studies (docs/interop.md)."""

    authentication_classes = [BearerTokenAuthentication, SessionAuthentication]
    permission_classes = [DicomwebUsers]
    throttle_classes = [DicomwebThrottle]
    renderer_classes = [JSONRenderer]
    content_negotiation_class = JsonAnswers
    parser_classes: list[Any] = []  # STOW-RS reads its body as a stream
    schema = None
    upload_rules = {
        "store": UploadRule(
            allowed=may_use_dicomweb,
            denied=DENIED,
            limit_setting="ICHWEB_STOW_MAX_BYTES",
            advice="send the instances in several requests",
        )
    }

    def base(self, request: Request) -> str:
        """The absolute URL of /dicomweb (behind a proxy: as the client sees it), for RetrieveURLs."""
        return request.build_absolute_uri(reverse("dicomweb:studies")).removesuffix("/studies")

    # --- QIDO-RS ----------------------------------------------------------------------------------------

    def _search(self, request: Request, level: str, **uids: str | None) -> HttpResponse:
        _require_json(request)
        found = qido.search(level, _params(request), base=self.base(request), **uids)
        if level == "instance":
            note_instances(request, len(found.results))
        return _dicom_json(found.results, warnings=found.warnings)

    def search_studies(self, request: Request) -> HttpResponse:
        return self._search(request, "study")

    def search_series(self, request: Request, study: str | None = None) -> HttpResponse:
        return self._search(request, "series", study_uid=study)

    def search_instances(
        self, request: Request, study: str | None = None, series: str | None = None
    ) -> HttpResponse:
        return self._search(request, "instance", study_uid=study, series_uid=series)

    # --- WADO-RS ----------------------------------------------------------------------------------------

    def retrieve(
        self, request: Request, study: str, series: str | None = None, instance: str | None = None
    ) -> StreamingHttpResponse | HttpResponse:
        """The instances, streamed as multipart/related application/dicom."""
        syntax = wado.dicom_syntax(request.headers.get("Accept", ""))
        items = wado.instances(study, series, instance)
        wado.check_syntax(items, syntax)
        note_instances(request, len(items))
        return _multipart(
            wado.retrieve_parts(items, syntax, self.base(request)), "application/dicom", stream=True
        )

    def metadata(
        self, request: Request, study: str, series: str | None = None, instance: str | None = None
    ) -> HttpResponse:
        items = wado.instances(study, series, instance)
        data = wado.metadata(items, self.base(request), request.headers.get("Accept", ""))
        note_instances(request, len(items))
        return _dicom_json(data)

    def frames(
        self, request: Request, study: str, series: str, instance: str, frames: str
    ) -> HttpResponse | StreamingHttpResponse:
        (item,) = wado.instances(study, series, instance)
        parts = wado.frame_parts(item, frames, request.headers.get("Accept", ""), self.base(request))
        note_instances(request, 1)
        return _multipart(parts, "application/octet-stream", stream=False)

    def rendered(
        self, request: Request, study: str, series: str, instance: str, frames: str | None = None
    ) -> HttpResponse:
        (item,) = wado.instances(study, series, instance)
        if frames is not None:
            wado.frame_numbers(frames, 1, item.sop_instance_uid)
        image, media_type = wado.rendered(
            item, request.headers.get("Accept", ""), request.query_params.get("window")
        )
        note_instances(request, 1)
        response = HttpResponse(image, content_type=media_type)
        response["Cache-Control"] = PIXEL_CACHE
        return response

    # --- STOW-RS ----------------------------------------------------------------------------------------

    def store(self, request: Request, study: str | None = None) -> HttpResponse:
        """Store the instances of a multipart/related body through ingest (200, 202 or 409)."""
        body = request.stream or io.BytesIO()
        outcome = stow.store(
            body,
            request.META.get("CONTENT_TYPE", ""),
            user=request.user,
            base=self.base(request),
            study_uid=study,
        )
        note_instances(request, outcome.n_stored)
        return _dicom_json(outcome.body, status=outcome.status)
