from django.urls import path

from ichweb.imaging import views

app_name = "imaging"
urlpatterns = [
    path("", views.studies, name="studies"),
    path("<int:pk>/", views.study, name="study"),
    path("imports/<uuid:pk>/", views.import_job, name="import-job"),
]
