"""Entry-point helper: load settings once, turning a configuration error into one clear line."""

from __future__ import annotations

import os
import sys


def configure() -> None:
    """Point Django at our settings and load them; exit with one line on a bad environment variable."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ichweb.settings")
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured

    try:
        settings.INSTALLED_APPS  # noqa: B018 -- forces the lazy settings to load here
    except ImproperlyConfigured as exc:
        sys.exit(f"ichweb: configuration error: {exc}")
