"""The quick look at an incoming instance that lets a sender hear at once what this site never stores.

STOW-RS and the C-STORE listener answer a failure status for these without waiting for the import; the
import (``ichweb.imaging.ingest``) checks every instance again, fully, and decides for all the rest (no
pixel data, burned-in annotation, not axial, truncated ...). No Django here.
"""

from __future__ import annotations

import pydicom
from pydicom.uid import UID, CTImageStorage


def refusal(ds: pydicom.Dataset) -> str | None:
    """Why ``ds`` is not a CT image this site stores (SOP class, modality, scout), or None."""
    sop_class = ds.get("SOPClassUID") or getattr(
        getattr(ds, "file_meta", None), "MediaStorageSOPClassUID", ""
    )
    if str(sop_class) != str(CTImageStorage):
        name = UID(str(sop_class)).name if sop_class else "(none)"
        return f"SOP class {name} is not CT Image Storage: only axial CT images are stored"
    modality = str(ds.get("Modality", "CT")).upper()
    if modality != "CT":
        return f"modality {modality}: only CT images are stored"
    image_type = [str(v).upper() for v in (ds.get("ImageType") or [])]
    if "LOCALIZER" in image_type or "SCOUT" in image_type:
        return "scout/localizer image: only axial slices are stored"
    return None
