"""Tokens of service accounts, the audit of DICOMweb calls, an index of study headers and received studies.

Nothing here holds pixels or identifying data: tokens are stored as SHA-256 digests, the study index and the
received studies carry the de-identified UIDs and names that ingest gives (docs/interop.md).
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from ichweb.imaging.models import ImportJob, Study


class ApiToken(models.Model):
    """A bearer token for DICOMweb (``Authorization: Bearer <token>``), shown once when it is made.

    Only its SHA-256 digest is kept; ``prefix`` (the first characters) lets an admin tell tokens apart.
    A token stops working when it expires, is revoked or its user is deactivated.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, help_text="What the token is for, e.g. 'PACS gateway'.")
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    prefix = models.CharField(max_length=16, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.name}, {self.user})"

    @property
    def expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None


class DicomwebCall(models.Model):
    """One DICOMweb request, allowed or refused: who, what, the answer and how many instances it carried.

    ``duration_ms`` runs until the answer starts; a streamed retrieve keeps sending after that.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    token = models.ForeignKey(
        ApiToken, null=True, blank=True, on_delete=models.SET_NULL, related_name="calls"
    )
    method = models.CharField(max_length=8)
    path = models.CharField(max_length=500)
    query = models.CharField(max_length=1000, blank=True)
    status = models.PositiveSmallIntegerField()
    n_instances = models.PositiveIntegerField(default=0)
    duration_ms = models.PositiveIntegerField(default=0)
    remote_addr = models.GenericIPAddressField(null=True, blank=True)
    at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = "DICOMweb call"

    def __str__(self) -> str:
        return f"{self.method} {self.path} -> {self.status}"


class StudyHeader(models.Model):
    """The patient and study attributes of a study's first stored instance, so QIDO-RS matches them in SQL.

    Filled in by the first search that finds a study without one (``ichweb.interop.qido``); the values are
    those of the de-identified files.
    """

    study = models.OneToOneField(
        Study, on_delete=models.CASCADE, primary_key=True, related_name="dicom_header"
    )
    patient_name = models.CharField(max_length=200, blank=True)
    referring_physician = models.CharField(max_length=200, blank=True)
    #: StudyID (0020,0010), the scanner's own short study number.
    study_number = models.CharField(max_length=64, blank=True)
    #: StudyTime as HHMMSS (shorter times padded with zeros), so that time ranges compare as strings.
    study_time = models.CharField(max_length=6, blank=True)
    #: PS3.18 JSON (tag -> {"vr", "Value"}) of the patient and study attributes of the first instance.
    attributes = models.JSONField(default=dict, blank=True)

    def __str__(self) -> str:
        return f"Header of study {self.pk}"


class ReceivedStudy(models.Model):
    """Instances of one study received over DICOM C-STORE, from arrival to import on a worker.

    One row per batch: instances arrive (``receiving``) until the study has been idle for
    ``ICHWEB_DICOM_IDLE_S``; the listener then hands them to an import job (``pending``) and a worker imports
    them (``importing``, then ``imported`` or ``failed``). Instances arriving later open a new batch, which
    completes the imported series. ``study_uid`` is the de-identified UID that ingest gives the study.
    """

    class Status(models.TextChoices):
        RECEIVING = "receiving", "Receiving"
        PENDING = "pending", "Waiting for a worker"
        IMPORTING = "importing", "Importing"
        IMPORTED = "imported", "Imported"
        FAILED = "failed", "Failed"

    study_uid = models.CharField(max_length=64, db_index=True)
    calling_ae = models.CharField(max_length=16)
    n_instances = models.PositiveIntegerField(default=0, help_text="Instances accepted by the listener.")
    n_refused = models.PositiveIntegerField(
        default=0, help_text="Instances refused by the listener or by the import."
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RECEIVING)
    #: Dispatch token: a message of an older attempt does nothing.
    attempt = models.PositiveIntegerField(default=0)
    aborted = models.BooleanField(default=False, help_text="An association sending it was aborted.")
    #: Why instances were refused or what went wrong: [{"instance": name or UID, "reason": text}].
    reasons = models.JSONField(default=list, blank=True)
    import_job = models.ForeignKey(
        ImportJob, null=True, blank=True, on_delete=models.SET_NULL, related_name="received_studies"
    )
    first_received_at = models.DateTimeField(default=timezone.now)
    last_received_at = models.DateTimeField(default=timezone.now)
    queued_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-last_received_at", "-id"]
        verbose_name_plural = "received studies"
        constraints = [
            models.UniqueConstraint(
                fields=["study_uid"], condition=Q(status="receiving"), name="one_receiving_batch_per_study"
            )
        ]

    def __str__(self) -> str:
        return f"Received study {self.study_uid} ({self.status})"

    @property
    def spool_dir(self) -> Path:
        """Where the listener keeps this batch's instances until the import job takes them."""
        return Path(settings.ICHWEB_DICOM_SPOOL_DIR) / str(self.pk)

    def next_attempt(self) -> int:
        """A new dispatch token (messages of older attempts become no-ops)."""
        self.attempt += 1
        self.save(update_fields=["attempt"])
        return self.attempt


class ExportDestination(models.Model):
    """Where DICOM exports (SR, SEG) are sent: a DICOMweb STOW-RS endpoint or a DICOM C-STORE peer.

    ``stow``: ``url`` is the STOW-RS studies URL (``https://pacs.example.org/dicomweb/studies``), ``token`` an
    optional bearer token. ``cstore``: ``host``, ``port``, ``called_ae`` (the peer's AE title) and
    ``calling_ae`` (ours). ``clean`` checks that the kind's fields are there.
    """

    class Kind(models.TextChoices):
        STOW = "stow", "DICOMweb STOW-RS"
        CSTORE = "cstore", "DICOM C-STORE"

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    url = models.CharField(
        max_length=500, blank=True, help_text="stow: the STOW-RS studies URL (http:// or https://)."
    )
    token = models.CharField(
        max_length=500, blank=True, help_text="stow: a bearer token, sent as 'Authorization: Bearer ...'."
    )
    host = models.CharField(max_length=255, blank=True, help_text="cstore: the peer's host name or address.")
    port = models.PositiveIntegerField(null=True, blank=True, help_text="cstore: the peer's port.")
    called_ae = models.CharField(max_length=16, blank=True, help_text="cstore: the peer's AE title.")
    calling_ae = models.CharField(max_length=16, default="ICHWEB", help_text="cstore: ICHweb's AE title.")
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "export destination"

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        errors: dict[str, str] = {}
        if self.kind == self.Kind.STOW and not self.url:
            errors["url"] = "A STOW-RS destination needs the URL of its studies resource."
        elif self.url and not self.url.lower().startswith(("http://", "https://")):
            errors["url"] = (
                "The URL must begin with http:// or https://, e.g. https://pacs.example.org/dicomweb/studies."
            )
        if self.kind == self.Kind.CSTORE:
            for field in ("host", "port", "called_ae"):
                if not getattr(self, field):
                    errors[field] = f"A C-STORE destination needs its {field.replace('_', ' ')}."
            for field in ("called_ae", "calling_ae"):
                value = getattr(self, field) or ""
                if value and (not value.isascii() or "\\" in value or not value.strip()):
                    errors[field] = "An AE title is 1 to 16 ASCII characters without a backslash."
        if errors:
            raise ValidationError(errors)


class SendJob(models.Model):
    """One export (``what`` of series or job ``object_id``) sent to one destination by a worker.

    ``queued`` until a default-queue worker takes it, ``sending`` while it tries (at most
    ``ICHWEB_EXPORT_SEND_ATTEMPTS`` times, waiting longer after each failure), then ``sent`` or ``failed``
    with the last error. ``dispatch`` is the dispatch token: a message of an older dispatch does nothing.
    """

    class What(models.TextChoices):
        GROUND_TRUTH = "ground-truth", "Ground truth (SR)"
        FINDINGS = "findings", "Model findings (SR)"
        SEG = "seg", "Attention segmentation (SEG)"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    what = models.CharField(max_length=16, choices=What.choices)
    object_id = models.PositiveIntegerField(
        help_text="The series (ground truth) or inference job (findings, seg)."
    )
    destination = models.ForeignKey(ExportDestination, on_delete=models.PROTECT, related_name="send_jobs")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveIntegerField(default=0, help_text="Tries made to send it.")
    last_error = models.TextField(blank=True)
    #: Dispatch token: a message of an older dispatch does nothing.
    dispatch = models.PositiveIntegerField(default=0)
    sop_instance_uid = models.CharField(max_length=64, blank=True, help_text="The UID of the object sent.")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "DICOM send job"

    def __str__(self) -> str:
        return f"Send {self.what} {self.object_id} to {self.destination_id} ({self.status})"

    def next_attempt(self) -> int:
        """A new dispatch token (messages of older dispatches become no-ops); the job is queued again."""
        self.dispatch += 1
        self.status = self.Status.QUEUED
        self.save(update_fields=["dispatch", "status"])
        return self.dispatch
