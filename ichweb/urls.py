from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from ichweb.accounts.views import home
from ichweb.api import router
from ichweb.health import healthz

admin.site.site_header = "ICHweb administration"

urlpatterns = [
    path("", home, name="home"),
    path("healthz", healthz, name="healthz"),
    path("accounts/login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("studies/", include("ichweb.imaging.urls")),
    path("labeling/", include("ichweb.labeling.urls")),
    path("models/", include("ichweb.modeling.urls")),
    path("reader-studies/", include("ichweb.readerstudy.urls")),
    path("dashboards/", include("ichweb.analytics.urls")),
    path("api/v1/", include(router.urls)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
]
