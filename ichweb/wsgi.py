"""WSGI entry point (gunicorn ichweb.wsgi)."""

from django.core.wsgi import get_wsgi_application

from ichweb.startup import configure

configure()
application = get_wsgi_application()
