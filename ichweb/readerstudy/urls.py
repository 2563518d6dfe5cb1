from django.urls import path

from ichweb.readerstudy import views

app_name = "readerstudy"
urlpatterns = [path("", views.studies, name="studies")]
