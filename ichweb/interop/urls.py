"""DICOMweb routes under /dicomweb/ (PS3.18): QIDO-RS, WADO-RS and STOW-RS.

The routes with UIDs in their path carry no name: the blinding probe (tests/readerstudy/test_blinding.py)
calls every named route with every combination of row ids, which means nothing for UIDs.
"""

from __future__ import annotations

from django.urls import path

from ichweb.interop.views import Dicomweb

app_name = "dicomweb"

STUDY = "studies/<str:study>"
SERIES = f"{STUDY}/series/<str:series>"
INSTANCE = f"{SERIES}/instances/<str:instance>"

urlpatterns = [
    path("studies", Dicomweb.as_view({"get": "search_studies", "post": "store"}), name="studies"),
    path("series", Dicomweb.as_view({"get": "search_series"}), name="series"),
    path("instances", Dicomweb.as_view({"get": "search_instances"}), name="instances"),
    path(STUDY, Dicomweb.as_view({"get": "retrieve", "post": "store"})),
    path(f"{STUDY}/metadata", Dicomweb.as_view({"get": "metadata"})),
    path(f"{STUDY}/series", Dicomweb.as_view({"get": "search_series"})),
    path(f"{STUDY}/instances", Dicomweb.as_view({"get": "search_instances"})),
    path(SERIES, Dicomweb.as_view({"get": "retrieve"})),
    path(f"{SERIES}/metadata", Dicomweb.as_view({"get": "metadata"})),
    path(f"{SERIES}/instances", Dicomweb.as_view({"get": "search_instances"})),
    path(INSTANCE, Dicomweb.as_view({"get": "retrieve"})),
    path(f"{INSTANCE}/metadata", Dicomweb.as_view({"get": "metadata"})),
    path(f"{INSTANCE}/rendered", Dicomweb.as_view({"get": "rendered"})),
    path(f"{INSTANCE}/frames/<str:frames>", Dicomweb.as_view({"get": "frames"})),
    path(f"{INSTANCE}/frames/<str:frames>/rendered", Dicomweb.as_view({"get": "rendered"})),
]
