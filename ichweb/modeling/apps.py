from django.apps import AppConfig


class ModelingConfig(AppConfig):
    name = "ichweb.modeling"
    label = "modeling"
    verbose_name = "Models and jobs"
