from django.urls import path

from ichweb.imaging import views

app_name = "imaging"
urlpatterns = [path("", views.studies, name="studies")]
