"""``manage.py dicom_listener``: the DICOM C-STORE receiver, until Ctrl-C or SIGTERM (docs/interop.md)."""

from __future__ import annotations

import signal
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from ichweb.interop.listener import Listener, ListenerConfig


class Command(BaseCommand):
    help = (
        "Receive DICOM studies over C-STORE (C-ECHO too) and hand each, once idle, to a worker for import. "
        "Settings: ICHWEB_DICOM_AE_TITLE, ICHWEB_DICOM_HOST, ICHWEB_DICOM_PORT, ICHWEB_DICOM_ALLOWED_AES, "
        "ICHWEB_DICOM_IDLE_S."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--host", help="address to listen on (ICHWEB_DICOM_HOST)")
        parser.add_argument("--port", type=int, help="TCP port (ICHWEB_DICOM_PORT)")
        parser.add_argument("--ae-title", help="this listener's AE title (ICHWEB_DICOM_AE_TITLE)")
        parser.add_argument("--idle", type=float, help="seconds without an instance before import")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            config = ListenerConfig.from_settings(
                host=options["host"],
                port=options["port"],
                ae_title=options["ae_title"],
                idle_s=options["idle"],
            )
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from None
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        listener = Listener(config)
        try:
            listener.start()
        except OSError as exc:
            raise CommandError(f"cannot listen on {config.host}:{config.port}: {exc.strerror}") from None
        self.stdout.write(
            self.style.SUCCESS(
                f"DICOM listener {config.ae_title} on {config.host}:{listener.port}; Ctrl-C stops."
            )
        )
        try:
            listener.wait()
        except KeyboardInterrupt:
            pass
        finally:
            listener.stop()
