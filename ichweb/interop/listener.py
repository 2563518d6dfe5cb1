"""The DICOM C-STORE listener (a pynetdicom application entity): receive, spool, hand over to workers.

One process serves many associations at once, each on a thread of its own. It answers C-ECHO and C-STORE
for every storage SOP class (so that a PACS pushing a whole study with its dose report or an MR does not
fail the association), in the usual uncompressed and lossless transfer syntaxes:

* a calling AE title not in ``ICHWEB_DICOM_ALLOWED_AES`` (``*``: any) is rejected at association time, and
  so is a called AE title other than ``ICHWEB_DICOM_AE_TITLE``;
* an instance that is not a CT image this site stores (another SOP class or modality, a scout) gets the
  failure status 0xA900 with the reason in ErrorComment, and the reason is kept on the received study;
  an instance that cannot be decoded gets 0xC000; the rest of the study is stored on;
* a sweeper thread hands studies idle for ``ICHWEB_DICOM_IDLE_S`` to the workers (``receiver``).
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import close_old_connections, connection
from pydicom import Dataset
from pydicom.uid import (
    JPEG2000,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGLossless,
    JPEGLosslessSV1,
    JPEGLSLossless,
    RLELossless,
)
from pynetdicom import AE, AllStoragePresentationContexts, evt
from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]  # made at import time

from ichweb.interop import receiver, screen

log = logging.getLogger(__name__)

TRANSFER_SYNTAXES = [
    str(uid)
    for uid in (
        ExplicitVRLittleEndian,
        ImplicitVRLittleEndian,
        DeflatedExplicitVRLittleEndian,
        JPEGLosslessSV1,
        JPEGLossless,
        JPEGLSLossless,
        JPEG2000Lossless,
        JPEG2000,
        RLELossless,
    )
]
SUCCESS, OUT_OF_RESOURCES, NOT_STORED_HERE, CANNOT_UNDERSTAND = 0x0000, 0xA700, 0xA900, 0xC000


@dataclass(frozen=True)
class ListenerConfig:
    """Where and as whom the listener listens, whom it hears, and when a study counts as complete."""

    ae_title: str
    host: str
    port: int
    allowed_aes: tuple[str, ...]
    idle_s: float

    @classmethod
    def from_settings(cls, **overrides: Any) -> ListenerConfig:
        """The settings' values (``overrides`` win), checked.

        Raises:
            ImproperlyConfigured: naming the setting at fault and what to set.
        """

        def pick(name: str, setting: str) -> Any:
            value = overrides.get(name)
            return getattr(settings, setting) if value is None else value

        config = cls(
            ae_title=str(pick("ae_title", "ICHWEB_DICOM_AE_TITLE")),
            host=str(pick("host", "ICHWEB_DICOM_HOST")),
            port=int(pick("port", "ICHWEB_DICOM_PORT")),
            allowed_aes=tuple(pick("allowed_aes", "ICHWEB_DICOM_ALLOWED_AES")),
            idle_s=float(pick("idle_s", "ICHWEB_DICOM_IDLE_S")),
        )
        title = config.ae_title.strip()
        if not 0 < len(title) <= 16 or not title.isascii() or "\\" in title:
            raise ImproperlyConfigured(
                f"ICHWEB_DICOM_AE_TITLE={config.ae_title!r} is not valid: expected 1 to 16 ASCII characters."
            )
        if not 0 <= config.port <= 65535:
            raise ImproperlyConfigured(f"ICHWEB_DICOM_PORT={config.port} is not valid: expected 1 to 65535.")
        if not config.allowed_aes:
            raise ImproperlyConfigured(
                "ICHWEB_DICOM_ALLOWED_AES is empty, so no sender would be heard: set it to the calling AE "
                "titles of your PACS or modalities (comma-separated), or * to hear any."
            )
        return cls(
            title, config.host, config.port, tuple(a.strip() for a in config.allowed_aes), config.idle_s
        )


def _status(code: int, comment: str) -> Dataset:
    status = Dataset()
    status.Status = code
    status.ErrorComment = comment[:64]
    return status


class Listener:
    """The application entity, its server and its sweeper; ``start`` returns, ``stop`` ends both."""

    def __init__(self, config: ListenerConfig) -> None:
        self.config = config
        self.ae = AE(ae_title=config.ae_title)
        self.ae.require_called_aet = True
        self.ae.require_calling_aet = [] if "*" in config.allowed_aes else list(config.allowed_aes)
        self.ae.add_supported_context(Verification)
        for context in AllStoragePresentationContexts:
            if context.abstract_syntax is not None:
                self.ae.add_supported_context(context.abstract_syntax, TRANSFER_SYNTAXES)
        self.server: Any = None
        self._stop = threading.Event()
        self._sweeper: threading.Thread | None = None
        self._lock = threading.Lock()
        #: Per association: the batches it sent to and how many instances it stored.
        self._sent: dict[int, set[int]] = defaultdict(set)
        self._counts: dict[int, int] = defaultdict(int)

    @property
    def port(self) -> int:
        """The port listened on (the one the system chose, when the configuration says 0)."""
        return int(self.server.server_address[1]) if self.server is not None else self.config.port

    def start(self) -> None:
        removed = receiver.purge_spool()
        if removed:
            log.info("removed %d spool folder(s) left by an earlier listener", removed)
        handlers: list[Any] = [
            (evt.EVT_C_ECHO, self.on_echo),
            (evt.EVT_C_STORE, self.on_store),
            (evt.EVT_ABORTED, self.on_aborted),
            (evt.EVT_RELEASED, self.on_released),
            (evt.EVT_CONN_CLOSE, self.on_closed),
        ]
        address = (self.config.host, self.config.port)
        self.server = self.ae.start_server(address, block=False, evt_handlers=handlers)
        self._sweeper = threading.Thread(target=self.sweep_forever, name="dicom-idle-sweeper", daemon=True)
        self._sweeper.start()
        log.info(
            "DICOM listener %s on %s:%d; hears %s; hands studies over after %g s idle",
            self.config.ae_title,
            self.config.host,
            self.port,
            ", ".join(self.config.allowed_aes),
            self.config.idle_s,
        )

    def stop(self) -> None:
        self._stop.set()
        if self.server is not None:
            self.server.shutdown()
        if self._sweeper is not None:
            self._sweeper.join(timeout=10)

    def wait(self) -> None:
        """Block until ``stop`` (or Ctrl-C in the caller)."""
        while not self._stop.wait(1.0):
            pass

    # --- events (each on its association's thread) --------------------------------------------------------

    def on_echo(self, event: Any) -> int:
        return SUCCESS

    def on_store(self, event: Any) -> int | Dataset:
        """Spool the instance, or refuse it with a failure status and its reason."""
        calling = str(event.assoc.requestor.ae_title).strip()
        try:
            ds = event.dataset
            ds.file_meta = event.file_meta
            study, sop = str(ds.get("StudyInstanceUID", "")), str(ds.get("SOPInstanceUID", ""))
        except Exception:
            log.warning("an instance from %s cannot be decoded", calling, exc_info=True)
            return _status(CANNOT_UNDERSTAND, "the data set cannot be decoded")
        if not study or not sop:
            return _status(CANNOT_UNDERSTAND, "no StudyInstanceUID or SOPInstanceUID")
        refusal = screen.refusal(ds)
        try:
            if refusal is not None:
                batch = receiver.record_refusal(study, sop, calling, refusal)
                log.info("refused an instance from %s: %s", calling, refusal)
                return _status(NOT_STORED_HERE, refusal)
            batch = receiver.record_instance(study, sop, calling, event.encoded_dataset())
        except Exception:  # a full disk, a locked database: the sender may try again later
            log.exception("an instance from %s could not be spooled", calling)
            return _status(OUT_OF_RESOURCES, "the instance could not be stored now: try again later")
        with self._lock:
            self._sent[id(event.assoc)].add(batch)
            self._counts[id(event.assoc)] += refusal is None
        return SUCCESS

    def _forget(self, event: Any) -> tuple[set[int], int]:
        with self._lock:
            return self._sent.pop(id(event.assoc), set()), self._counts.pop(id(event.assoc), 0)

    def on_aborted(self, event: Any) -> None:
        """Keep what arrived (imported once idle) and note the abort on the studies it was sending."""
        batches, count = self._forget(event)
        if batches:
            receiver.note_aborted(batches, str(event.assoc.requestor.ae_title).strip(), count)
        connection.close()

    def on_released(self, event: Any) -> None:
        self._forget(event)
        connection.close()

    def on_closed(self, event: Any) -> None:
        """The connection is gone: close this thread's database connection (pynetdicom may report the
        close before the abort, so the association is forgotten on release or abort)."""
        connection.close()

    # --- the sweeper ----------------------------------------------------------------------------------------

    def sweep_forever(self) -> None:
        interval = max(0.1, min(1.0, self.config.idle_s / 4))
        while not self._stop.wait(interval):
            self.sweep()
        connection.close()

    def sweep(self) -> list[int]:
        """Hand over the idle studies now (and send again those no worker took for
        ``ICHWEB_STALE_AFTER_S``); errors are logged and tried again at the next sweep."""
        close_old_connections()
        try:
            receiver.resend_stale(settings.ICHWEB_STALE_AFTER_S)
            return receiver.hand_over_idle(self.config.idle_s)
        except Exception:
            log.exception("handing idle received studies to the workers failed; trying again")
            return []
