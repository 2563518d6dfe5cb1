"""ICHweb: explainable intracranial-haemorrhage detection on head CT (Django project)."""

from ichweb.celery import app as celery_app

__all__ = ["celery_app"]
