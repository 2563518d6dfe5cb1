"""The one API router: every room registers its viewsets here."""

from rest_framework.routers import DefaultRouter

from ichweb.analytics import api as analytics_api
from ichweb.imaging import api as imaging_api
from ichweb.labeling import api as labeling_api
from ichweb.modeling import api as modeling_api
from ichweb.readerstudy import api as readerstudy_api

# No ".json" suffix routes: formats are chosen by Accept or ``?format=`` (e.g. the dashboards' CSV).
router = DefaultRouter()
router.include_format_suffixes = False
# Both /api/v1/slices/1/hu and .../hu/ resolve (pixel URLs read better without the slash).
router.trailing_slash = "/?"
imaging_api.register(router)
labeling_api.register(router)
modeling_api.register(router)
readerstudy_api.register(router)
analytics_api.register(router)
