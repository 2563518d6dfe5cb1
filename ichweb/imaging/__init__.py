"""Studies, series and slices: DICOM ingest, de-identification, HU volumes, pixel delivery."""
