from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from ichweb.accounts.views import LogoutView, home
from ichweb.api import router
from ichweb.health import healthz

admin.site.site_header = "ICHweb administration"
handler500 = "ichweb.errors.server_error"

urlpatterns = [
    path("", home, name="home"),
    path("healthz", healthz, name="healthz"),
    path("accounts/login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("accounts/logout/", LogoutView.as_view(), name="logout"),
    # The admin's logout too clears the browser cache (ahead of admin.site.urls, which has its own).
    path("admin/logout/", LogoutView.as_view()),
    path("admin/", admin.site.urls),
    path("studies/", include("ichweb.imaging.urls")),
    path("labeling/", include("ichweb.labeling.urls")),
    path("models/", include("ichweb.modeling.urls")),
    path("reader-studies/", include("ichweb.readerstudy.urls")),
    path("dashboards/", include("ichweb.analytics.urls")),
    path("dicomweb/", include("ichweb.interop.urls")),
    path("api/v1/", include(router.urls)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves its script as a file of its own: no inline script under the CSP.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="api-docs"),
]
