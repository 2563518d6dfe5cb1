from django.apps import AppConfig


class InteropConfig(AppConfig):
    """DICOM networking: the DICOMweb server at /dicomweb/ and the C-STORE listener (docs/interop.md)."""

    name = "ichweb.interop"
    label = "interop"
    verbose_name = "DICOM networking"
