"""The one API router: every room registers its viewsets here."""

from rest_framework.routers import DefaultRouter

from ichweb.analytics import api as analytics_api
from ichweb.errors import ID_REGEX
from ichweb.imaging import api as imaging_api
from ichweb.interop import api as interop_api
from ichweb.labeling import api as labeling_api
from ichweb.modeling import api as modeling_api
from ichweb.readerstudy import api as readerstudy_api


class Router(DefaultRouter):
    """DRF's router; a viewset that names no lookup pattern looks rows up by ``ID_REGEX``."""

    def get_lookup_regex(self, viewset, lookup_prefix: str = "") -> str:
        if not hasattr(viewset, "lookup_value_regex"):
            viewset.lookup_value_regex = ID_REGEX
        return super().get_lookup_regex(viewset, lookup_prefix)


# No ".json" suffix routes: formats are chosen by Accept or ``?format=`` (e.g. the dashboards' CSV).
router = Router()
router.include_format_suffixes = False
# Both /api/v1/slices/1/hu and .../hu/ resolve (pixel URLs read better without the slash).
router.trailing_slash = "/?"
imaging_api.register(router)
labeling_api.register(router)
modeling_api.register(router)
readerstudy_api.register(router)
analytics_api.register(router)
interop_api.register(router)
