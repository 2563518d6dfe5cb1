"""Training runs, model versions, inference jobs and what they produce (docs/architecture.md, "Rooms").

Files live under ``MEDIA_ROOT`` (shared between web and workers at scale): a run's working folder
``runs/<run id>/`` (checkpoints, bundle, atlas), a job's maps ``predictions/<job id>/``. They are served only
through permission-checked views, never as public media.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from ichweb.imaging.models import Series, Slice


class Stage(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


FINISHED = (Stage.SUCCEEDED, Stage.FAILED, Stage.CANCELLED)


def pretrained_rows(archs: list[str], recorded: dict) -> list[dict[str, str]]:
    """Per net, how its training started (``ml.weights`` records): "ImageNet (source)", "random init"."""
    rows = []
    for arch in archs:
        entry = recorded.get(arch, "") if isinstance(recorded, dict) else ""
        if isinstance(entry, dict):
            start, digest = f"ImageNet ({entry.get('source')})", entry.get("sha256") or ""
        else:
            start, digest = ("random init" if entry is None else "not recorded"), ""
        rows.append({"arch": arch, "start": start, "sha256": digest})
    return rows


def being_worked_on(row: Dispatched) -> bool:
    """Running with a fresh heartbeat: a worker holds it (a redelivered copy of the message must wait)."""
    if row.status != Stage.RUNNING or row.heartbeat_at is None:
        return False
    return timezone.now() - row.heartbeat_at < timedelta(seconds=settings.ICHWEB_STALE_AFTER_S)


class Dispatched(models.Model):
    """Bookkeeping of work sent to a worker: status, progress, heartbeat and the dispatch token.

    ``attempt`` is bumped by every dispatch; a task carries the attempt it was sent with and gives up when
    the row has moved on, so a message delivered twice (broker redelivery, a recovery sweep) does no harm.
    ``owner`` names the worker that claimed the current attempt (empty while queued); work whose owner is
    no longer alive is sent again (``ichweb.modeling.recovery``).
    """

    status = models.CharField(max_length=12, choices=Stage.choices, default=Stage.QUEUED)
    attempt = models.PositiveIntegerField(default=0)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    owner = models.CharField(
        max_length=255, blank=True, help_text="Celery worker (node name) running the current attempt."
    )
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    def next_attempt(self) -> int:
        """Queue the row again under a new dispatch token (messages of older attempts become no-ops)."""
        self.attempt += 1
        self.status, self.heartbeat_at, self.owner = Stage.QUEUED, timezone.now(), ""
        self.save(update_fields=["attempt", "status", "heartbeat_at", "owner"])
        return self.attempt


class WorkerBeat(models.Model):
    """A Celery worker's liveness: written every ``ICHWEB_LIVENESS_INTERVAL_S`` by the worker itself.

    ``started_at`` is when this process of the worker started: work owned by the same name but last touched
    before that was left by an earlier process of it (killed, then restarted under its old name).
    """

    hostname = models.CharField(max_length=255, unique=True)
    pid = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField()
    seen_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["hostname"]

    def __str__(self) -> str:
        return f"{self.hostname} (pid {self.pid}, seen {self.seen_at:%H:%M:%S})"


class TrainingRun(Dispatched):
    """A recipe trained on a frozen dataset snapshot; one task per net, then assembly; gives a ModelVersion.

    ``snapshot``: ``{"source": ..., "seed": s, "cases": [{"series", "study", "patient", "split",
    "labels": [[0/1 x 6] per slice]}]}``, the ground truth copied at start so later edits do not change it.
    ``progress``: ``{"stage": "train"|"assemble", "archs": {arch: {epoch, max_epochs, step, steps_per_epoch,
    loss, val_loss, val_map, lr, done}}, "message": ...}``.
    """

    name = models.CharField(max_length=120)
    recipe = models.CharField(max_length=32)
    overrides = models.JSONField(default=dict, blank=True, help_text="Recipe fields changed for this run.")
    snapshot = models.JSONField(default=dict)
    snapshot_sha256 = models.CharField(max_length=64)
    progress = models.JSONField(default=dict, blank=True)
    cancel_requested = models.BooleanField(default=False)
    activate_when_done = models.BooleanField(default=True)
    predict_all_when_done = models.BooleanField(
        default=False,
        help_text="Once active, predict every series this model has not seen.",
    )
    device = models.CharField(max_length=32, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Run {self.pk} {self.name} ({self.status})"

    @property
    def folder(self) -> Path:
        """The run's working folder: checkpoints per net, then the assembled bundle and atlas."""
        return Path(settings.MEDIA_ROOT) / "runs" / str(self.pk)

    def counts(self) -> dict[str, int]:
        out = {"train": 0, "val": 0, "test": 0}
        for case in self.snapshot.get("cases", []):
            out[case["split"]] += 1
        return out

    def pretrained_rows(self) -> list[dict[str, str]]:
        """How each trained net started (ImageNet source or random), from its progress row (the run page)."""
        archs = {
            a: r
            for a, r in self.progress.get("archs", {}).items()
            if isinstance(r, dict) and "pretrained" in r
        }
        return pretrained_rows(list(archs), {a: r["pretrained"] for a, r in archs.items()})


class ModelVersionManager(models.Manager["ModelVersion"]):
    def active(self) -> ModelVersion | None:
        """The one active model (new series get its predictions), or None."""
        return self.filter(is_active=True).first()


class ModelVersion(models.Model):
    """A trained bundle (nets, thresholds, label order) with its atlas, metrics and sha256 of every file."""

    run = models.OneToOneField(
        TrainingRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="model_version"
    )
    name = models.CharField(max_length=120)
    recipe = models.JSONField(default=dict)
    archs = models.JSONField(default=list)
    label_order = models.JSONField(default=list)
    thresholds = models.JSONField(default=dict)
    metrics = models.JSONField(default=dict, help_text="validation and test metrics")
    directory = models.CharField(max_length=255, help_text="Relative to MEDIA_ROOT: bundle/ and atlas/.")
    artifacts = models.JSONField(default=dict, help_text="relative path -> sha256")
    explain_arch = models.CharField(max_length=32, blank=True)
    is_active = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ModelVersionManager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_active"], condition=Q(is_active=True), name="one_active_model"
            )
        ]

    def __str__(self) -> str:
        return f"{self.name}{' (active)' if self.is_active else ''}"

    @property
    def folder(self) -> Path:
        """The version's files: ``bundle/`` (what ``ml.bundle.load_bundle`` reads) and ``atlas/``."""
        return Path(settings.MEDIA_ROOT) / self.directory

    @property
    def bundle_folder(self) -> Path:
        return self.folder / "bundle"

    @property
    def atlas_folder(self) -> Path:
        return self.folder / "atlas"

    def pretrained_rows(self) -> list[dict[str, str]]:
        """How each net started, from the bundle manifest's ``pretrained`` (the model page)."""
        try:
            manifest = json.loads((self.bundle_folder / "bundle.json").read_text())
        except (OSError, ValueError):
            manifest = {}
        return pretrained_rows(list(self.archs), manifest.get("pretrained") or {})

    def label_rows(self) -> list[dict[str, object]]:
        """Per label: threshold, validation AUC/AP and test AUC/sensitivity/specificity (the model page)."""
        val, test = self.metrics.get("validation", {}), self.metrics.get("test", {})
        return [
            {
                "label": label,
                "threshold": self.thresholds.get(label),
                "val_auc": val.get("val_auc_case", {}).get(label),
                "val_ap": val.get("val_ap", {}).get(label),
                "test_auc": test.get("auc", {}).get(label),
                "test_sens": test.get("sensitivity", {}).get(label),
                "test_spec": test.get("specificity", {}).get(label),
                "test_pos": test.get("n_positive", {}).get(label),
            }
            for label in self.label_order
        ]


class AtlasEntry(models.Model):
    """One atlas feature (docs/science.md, "Atlas"): a block's filter relevant to a label, its exemplar."""

    model_version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="atlas_entries")
    index = models.PositiveIntegerField(help_text="Position in the atlas file.")
    label = models.CharField(max_length=3)
    block = models.CharField(max_length=64)
    filter = models.PositiveIntegerField()
    relevance = models.PositiveIntegerField()
    peak = models.FloatField()
    source_series = models.ForeignKey(
        Series, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    source_slice_index = models.IntegerField(null=True, blank=True)
    box = models.JSONField(default=list, help_text="x0, y0, x1, y1 of the patch in input-image pixels")

    class Meta:
        ordering = ["model_version", "index"]
        constraints = [models.UniqueConstraint(fields=["model_version", "index"], name="one_entry_per_index")]

    def __str__(self) -> str:
        return f"{self.label} {self.block}#{self.filter} (relevance {self.relevance})"

    def image_path(self, kind: str) -> Path:
        """The entry's ``patch`` or ``map`` thumbnail (written when the atlas is built)."""
        return atlas_image_path(self.model_version.atlas_folder, self.index, kind)


def atlas_image_path(atlas_folder: Path, index: int, kind: str) -> Path:
    """Where the ``patch`` or ``map`` (patch with its activation) thumbnail of atlas entry ``index`` lives."""
    if kind not in ("patch", "map"):
        raise ValueError(f"atlas image kind must be 'patch' or 'map', got {kind!r}")
    return atlas_folder / "images" / f"{index:05d}_{kind}.png"


class InferenceJob(Dispatched):
    """The active (or a chosen) model run on one series; re-running replaces its results."""

    series = models.ForeignKey(Series, on_delete=models.CASCADE, related_name="inference_jobs")
    model_version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="jobs")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    progress = models.FloatField(default=0.0)
    message = models.CharField(max_length=200, blank=True)
    case_probabilities = models.JSONField(default=dict, blank=True, help_text="label -> max over slices")
    positive = models.JSONField(default=dict, blank=True, help_text="label -> true/false/null at threshold")
    thresholds = models.JSONField(default=dict, blank=True)
    timings = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["series", "model_version"], name="one_job_per_series_and_model")
        ]

    def __str__(self) -> str:
        return f"Inference of series {self.series_id} by {self.model_version_id} ({self.status})"

    @property
    def folder(self) -> Path:
        """Where the job's attention maps (PNG) are written."""
        return Path(settings.MEDIA_ROOT) / "predictions" / str(self.pk)


class SlicePrediction(models.Model):
    job = models.ForeignKey(InferenceJob, on_delete=models.CASCADE, related_name="slice_predictions")
    slice = models.ForeignKey(Slice, on_delete=models.CASCADE, related_name="+")
    index = models.PositiveIntegerField()
    probabilities = models.JSONField(help_text="ensemble probability per label, in the model's label order")
    per_net = models.JSONField(default=dict, help_text="arch -> probabilities")

    class Meta:
        ordering = ["job", "index"]
        constraints = [models.UniqueConstraint(fields=["job", "index"], name="one_prediction_per_slice")]

    def __str__(self) -> str:
        return f"Prediction of slice {self.index} (job {self.job_id})"


class AttentionMap(models.Model):
    """The Grad-CAM map (eq. 5) of one label on one slice, stored as an 8-bit PNG at the slice's size."""

    job = models.ForeignKey(InferenceJob, on_delete=models.CASCADE, related_name="attention_maps")
    slice = models.ForeignKey(Slice, on_delete=models.CASCADE, related_name="+")
    index = models.PositiveIntegerField()
    label = models.CharField(max_length=3)
    arch = models.CharField(max_length=32)
    probability = models.FloatField()
    max_value = models.FloatField(help_text="maximum of the raw map before normalisation")
    area_percent = models.FloatField(null=True, blank=True, help_text="segmentation (20 %) as % of the head")
    file = models.CharField(max_length=255, help_text="relative to MEDIA_ROOT")

    class Meta:
        ordering = ["job", "index", "label"]
        constraints = [
            models.UniqueConstraint(fields=["job", "index", "label"], name="one_map_per_slice_and_label")
        ]

    def __str__(self) -> str:
        return f"{self.label} map of slice {self.index} (job {self.job_id})"

    @staticmethod
    def file_name(index: int, label: str) -> str:
        return f"map_{index:04d}_{label}.png"

    @property
    def path(self) -> Path:
        """The raw 8-bit map."""
        return Path(settings.MEDIA_ROOT) / self.file

    @property
    def overlay_path(self) -> Path:
        """The colour overlay (RGBA) written beside the raw map."""
        return self.path.with_name(self.path.name.replace("map_", "overlay_", 1))


class PredictionBasis(models.Model):
    """An atlas entry ranked for a map by the L2 distance of eq. 7 (top-k, and the questionnaire's picks)."""

    class Kind(models.TextChoices):
        TOP = "top", "Closest"
        CANDIDATE = "candidate", "Questionnaire candidate"

    attention_map = models.ForeignKey(AttentionMap, on_delete=models.CASCADE, related_name="basis")
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.TOP)
    rank = models.PositiveIntegerField(help_text="1-based position in the distance ranking")
    entry = models.ForeignKey(AtlasEntry, on_delete=models.CASCADE, related_name="+")
    distance = models.FloatField()

    class Meta:
        ordering = ["attention_map", "kind", "rank"]
        constraints = [
            models.UniqueConstraint(fields=["attention_map", "kind", "rank"], name="one_basis_per_rank")
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.rank}: entry {self.entry_id} at {self.distance:.3f}"
