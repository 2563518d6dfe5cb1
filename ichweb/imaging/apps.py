from django.apps import AppConfig


class ImagingConfig(AppConfig):
    name = "ichweb.imaging"
    label = "imaging"
    verbose_name = "Imaging"
