"""Studies, series and slices of de-identified head CT, and the import jobs that bring them in.

Pixels live on disk: one int16 HU volume per series (``volume.npy``, memory-mappable, shape (Z, rows, cols),
slices sorted along the slice normal) and the de-identified original DICOM files beside it. The database
holds metadata and paths relative to MEDIA_ROOT.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.db import models


class ImportJob(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for a worker"
        RUNNING = "running", "Importing"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    class Source(models.TextChoices):
        BROWSER = "browser", "Browser upload"
        API = "api", "API"
        CLI = "cli", "Command line"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    source = models.CharField(max_length=8, choices=Source.choices)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    progress = models.FloatField(default=0.0)
    message = models.CharField(max_length=500, blank=True)
    #: One row per input file: {"file": name as given, "status": "accepted"|"skipped", "reason": "..."}.
    report = models.JSONField(default=list, blank=True)
    n_files = models.PositiveIntegerField(default=0)
    n_bytes = models.BigIntegerField(default=0)
    #: Where the uploaded files wait for the worker (relative to MEDIA_ROOT); removed after the import.
    upload_dir = models.CharField(max_length=255, blank=True)
    #: The studies this import created or found already imported.
    studies: models.ManyToManyField[Study, Any] = models.ManyToManyField(
        "Study", related_name="import_jobs", blank=True
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Import {self.id} ({self.status})"

    @property
    def n_accepted(self) -> int:
        return sum(1 for row in self.report if row.get("status") == "accepted")

    @property
    def n_skipped(self) -> int:
        return sum(1 for row in self.report if row.get("status") == "skipped")


class Study(models.Model):
    #: De-identified StudyInstanceUID (the pseudonymiser maps each original UID to one new UID, always).
    study_uid = models.CharField(max_length=64, unique=True)
    #: Pseudonymous patient ID: the same patient always gets the same one on this site (patient-level splits).
    patient_pseudo_id = models.CharField(max_length=64, db_index=True)
    study_date = models.DateField(null=True, blank=True, help_text="Shifted by the pseudonymiser.")
    description = models.CharField(max_length=200, blank=True)
    accession_pseudo = models.CharField(max_length=64, blank=True)
    imported_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "studies"

    def __str__(self) -> str:
        return f"Study {self.pk} ({self.patient_pseudo_id})"


class Series(models.Model):
    class Kind(models.TextChoices):
        STANDARD = "standard", "Standard"
        DENOISED = "denoised", "Scanner-denoised"

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="series")
    series_uid = models.CharField(max_length=64, unique=True)
    number = models.IntegerField(null=True, blank=True)
    description = models.CharField(max_length=200, blank=True)
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.STANDARD)
    manufacturer = models.CharField(max_length=100, blank=True)
    rows = models.PositiveIntegerField()
    columns = models.PositiveIntegerField()
    n_slices = models.PositiveIntegerField()
    pixel_spacing_row = models.FloatField(help_text="mm between rows (PixelSpacing[0]).")
    pixel_spacing_col = models.FloatField(help_text="mm between columns (PixelSpacing[1]).")
    slice_spacing = models.FloatField(help_text="Median mm between slice centres along the normal.")
    slice_thickness = models.FloatField(null=True, blank=True)
    transfer_syntax = models.CharField(max_length=64, blank=True)
    #: Problems found but accepted, e.g. missing slices or uneven spacing: [{"code": ..., "message": ...}].
    warnings = models.JSONField(default=list, blank=True)
    #: Directory of the series under MEDIA_ROOT: volume.npy and dicom/<n>.dcm.
    storage_dir = models.CharField(max_length=255)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["study", "-kind", "number", "id"]  # the standard series before the denoised one
        verbose_name_plural = "series"

    def __str__(self) -> str:
        return f"Series {self.pk} of study {self.study_id}"

    @property
    def path(self) -> Path:
        return Path(settings.MEDIA_ROOT) / self.storage_dir

    def volume(self) -> np.ndarray:
        """The HU volume, memory-mapped read-only: (n_slices, rows, columns) int16."""
        return np.load(self.path / "volume.npy", mmap_mode="r")


class Slice(models.Model):
    series = models.ForeignKey(Series, on_delete=models.CASCADE, related_name="slices")
    index = models.PositiveIntegerField(help_text="0-based position in the sorted volume.")
    sop_instance_uid = models.CharField(max_length=64, unique=True)
    instance_number = models.IntegerField(null=True, blank=True)
    position = models.FloatField(help_text="mm along the slice normal (sorting key).")
    z = models.FloatField(help_text="ImagePositionPatient z, mm.")

    class Meta:
        ordering = ["series", "index"]
        constraints = [models.UniqueConstraint(fields=["series", "index"], name="unique_slice_index")]

    def __str__(self) -> str:
        return f"Slice {self.index} of series {self.series_id}"

    def hu(self) -> np.ndarray:
        return np.asarray(self.series.volume()[self.index])
