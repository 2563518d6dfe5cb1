from django.apps import AppConfig


class ModelingConfig(AppConfig):
    name = "ichweb.modeling"
    label = "modeling"
    verbose_name = "Models and jobs"

    def ready(self) -> None:
        from ichweb.imaging.signals import series_imported
        from ichweb.modeling.inference import on_series_imported

        series_imported.connect(on_series_imported, dispatch_uid="modeling-predict-new-series")
