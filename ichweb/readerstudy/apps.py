from django.apps import AppConfig


class ReaderstudyConfig(AppConfig):
    name = "ichweb.readerstudy"
    label = "readerstudy"
    verbose_name = "Reader studies"
