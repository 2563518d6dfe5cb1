from django.apps import AppConfig


class AnalyticsConfig(AppConfig):
    name = "ichweb.analytics"
    label = "analytics"
    verbose_name = "Analytics"
