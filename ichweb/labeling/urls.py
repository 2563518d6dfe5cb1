from django.urls import path

from ichweb.labeling import views

app_name = "labeling"
urlpatterns = [
    path("", views.queue, name="queue"),
    path("reads/<int:pk>/", views.read, name="read"),
    path("projects/new/", views.project_new, name="project-new"),
    path("projects/<int:pk>/", views.project, name="project"),
    path("projects/<int:pk>/cases/<int:case_id>/consensus/", views.consensus, name="consensus"),
]
