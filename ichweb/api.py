"""The one API router: every room registers its viewsets here."""

from rest_framework.routers import DefaultRouter

router = DefaultRouter()
