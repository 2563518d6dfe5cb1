from django.urls import path

from ichweb.labeling import views

app_name = "labeling"
urlpatterns = [path("", views.queue, name="queue")]
