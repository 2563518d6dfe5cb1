from django.urls import path

from ichweb.readerstudy import views

app_name = "readerstudy"
urlpatterns = [
    path("", views.studies, name="studies"),
    path("new/", views.study_new, name="study-new"),
    path("<int:pk>/", views.study, name="study"),
    path("<int:pk>/results/", views.results_page, name="results"),
    path("<int:pk>/<slug:task>/", views.task, name="task"),
]
