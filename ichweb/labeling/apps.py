from django.apps import AppConfig


class LabelingConfig(AppConfig):
    name = "ichweb.labeling"
    label = "labeling"
    verbose_name = "Labeling"
