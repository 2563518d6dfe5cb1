"""The UIDs that ingest will give incoming instances, known before they are imported.

The pseudonymiser is seeded by ``DEID_SECRET``, so an original UID always maps to the same new one
(``ichweb.imaging.dicom.pseudonymise_uid``): STOW-RS answers with the stored UIDs, and the listener keys
received studies by the UID the imported study will have, never by the identifying original.
"""

from __future__ import annotations

import threading
from functools import lru_cache

from dicognito.anonymizer import Anonymizer
from django.conf import settings

from ichweb.imaging.dicom import make_pseudonymiser, pseudonymise_uid

_lock = threading.Lock()


@lru_cache(maxsize=2)
def _pseudonymiser(secret: str) -> Anonymizer:
    return make_pseudonymiser(secret)


def uid(original: str) -> str:
    """The de-identified UID of ``original`` on this site (thread-safe: the listener runs many threads)."""
    with _lock:
        return pseudonymise_uid(original, _pseudonymiser(settings.DEID_SECRET))
