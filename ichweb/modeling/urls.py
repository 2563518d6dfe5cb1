from django.urls import path

from ichweb.modeling import views

app_name = "modeling"
urlpatterns = [
    path("", views.index, name="index"),
    path("runs/<int:pk>/", views.run, name="run"),
    path("versions/<int:pk>/", views.version, name="version"),
    path("review/<int:series_id>/", views.review, name="review"),
]
