"""Labeling projects, per-reader reads of a case, slice labels, bleeding points, ground truth and audit.

A read belongs to one reader and one case; nothing of one read is ever shown to another reader while they read
(blinding is enforced in the API). Ground truth is derived from the submitted reads by the project's method
(consensus of K readers, or two readers plus blinded third-reader adjudication) and records how it was made.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from django.conf import settings
from django.db import models

from ichweb.imaging.models import Series, Slice, Study
from ml.labels import ANY, RSNA_NAMES, SUBTYPES


def label_name(code: str) -> str:
    """The short name of a label code of ``ml.labels``: its RSNA name capitalised ("Subdural"), and
    "Any ICH" for the any-ICH output."""
    return "Any ICH" if code == ANY else RSNA_NAMES[code].capitalize()


def label_choices(name: str, codes: Iterable[str]) -> type[models.TextChoices]:
    """``TextChoices`` of ``codes`` of ``ml.labels`` (stored as the codes themselves), named by
    ``label_name``: the project's one label vocabulary, in Django's terms."""
    members = [(code, (code, label_name(code))) for code in codes]
    return models.TextChoices(name, members, module=__name__)  # type: ignore[call-overload]  # functional Enum API: stubs type only the one-name form


#: The five subtypes (``ml.labels.SUBTYPES``, in its order: the labeling keys 1-5).
Subtype = label_choices("Subtype", SUBTYPES)


#: Field names of the subtype flags on SliceLabel and GroundTruthSlice, in the project's label order.
SUBTYPE_FIELDS: tuple[str, ...] = tuple(code.lower() for code in Subtype.values)


class ExclusionReason(models.TextChoices):
    SURGERY = "surgery", "Post-surgical changes"
    FRACTURE = "fracture", "Skull fracture"
    TUMOUR = "tumour", "Tumour"
    DEVICE = "device", "Device (shunt, drain, coil)"
    INFARCT = "infarct", "Infarct"
    NON_ACUTE = "non_acute", "Non-acute ICH"
    OTHER = "other", "Other (see note)"


class Project(models.Model):
    class Mode(models.TextChoices):
        CONSENSUS = "consensus", "Consensus of K independent readers"
        ADJUDICATION = "adjudication", "Two readers, blinded third-reader adjudication"

    class Discordance(models.TextChoices):
        CASE_SUBTYPE = "case_subtype", "Case level, any subtype differs"
        CASE_ANY = "case_any", "Case level, ICH present/absent differs"
        SLICE = "slice", "Any slice label differs"

    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    mode = models.CharField(max_length=16, choices=Mode.choices, default=Mode.CONSENSUS)
    readers_per_case = models.PositiveSmallIntegerField(
        default=2, help_text="K independent reads per case (adjudication mode uses 2)."
    )
    discordance = models.CharField(
        max_length=16, choices=Discordance.choices, default=Discordance.CASE_SUBTYPE
    )
    show_reader_identities = models.BooleanField(
        default=False, help_text="Show who read what on the consensus page (never to the adjudicator)."
    )
    readers = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="labeling_projects", blank=True)
    adjudicators = models.ManyToManyField(
        settings.AUTH_USER_MODEL, related_name="adjudicating_projects", blank=True
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name


class Case(models.Model):
    """A study to be read in a project, on one series (the standard one)."""

    class Status(models.TextChoices):
        READING = "reading", "Being read"
        CONSENSUS = "consensus", "Waiting for consensus"
        ADJUDICATION = "adjudication", "Waiting for adjudication"
        DONE = "done", "Ground truth recorded"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="cases")
    study = models.ForeignKey(Study, on_delete=models.PROTECT, related_name="labeling_cases")
    series = models.ForeignKey(Series, on_delete=models.PROTECT, related_name="labeling_cases")
    position = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.READING)

    class Meta:
        ordering = ["project", "position", "id"]
        constraints = [models.UniqueConstraint(fields=["project", "study"], name="one_case_per_study")]

    def __str__(self) -> str:
        return f"Case {self.pk} ({self.project})"


class Read(models.Model):
    """One reader's labels of one case. ``version`` rises with every write (stale writes get 409)."""

    class Kind(models.TextChoices):
        PRIMARY = "primary", "Independent read"
        ADJUDICATION = "adjudication", "Third-reader adjudication"

    class Status(models.TextChoices):
        NOT_STARTED = "not_started", "Not started"
        IN_PROGRESS = "in_progress", "In progress"
        SUBMITTED = "submitted", "Submitted"

    id = models.BigAutoField(primary_key=True)
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="reads")
    reader = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="reads")
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.PRIMARY)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.NOT_STARTED)
    version = models.PositiveIntegerField(default=0)
    excluded = models.BooleanField(default=False)
    exclusion_reason = models.CharField(max_length=16, choices=ExclusionReason.choices, blank=True)
    exclusion_note = models.CharField(max_length=500, blank=True)
    last_slice_index = models.PositiveIntegerField(default=0)
    reading_seconds = models.FloatField(default=0.0)
    #: When the server counted the last reading-time heartbeat (``ichweb.lib.reading_time``).
    last_beat_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["case__project", "case__position", "id"]
        constraints = [models.UniqueConstraint(fields=["case", "reader", "kind"], name="one_read_per_reader")]

    def __str__(self) -> str:
        return f"Read {self.pk} of case {self.case_id} by {self.reader_id}"


class SubtypeFlags(models.Model):
    """One flag per subtype; every flag false is an explicit "no haemorrhage"."""

    iph = models.BooleanField(default=False)
    ivh = models.BooleanField(default=False)
    sdh = models.BooleanField(default=False)
    edh = models.BooleanField(default=False)
    sah = models.BooleanField(default=False)

    class Meta:
        abstract = True

    @property
    def codes(self) -> list[str]:
        return [code for code, f in zip(Subtype.values, SUBTYPE_FIELDS, strict=True) if getattr(self, f)]

    @staticmethod
    def flags(codes: Iterable[str]) -> dict[str, bool]:
        """Field values for a set of subtype codes: ``Model(**SubtypeFlags.flags({"IPH"}))``."""
        chosen = set(codes)
        return {f: code in chosen for code, f in zip(Subtype.values, SUBTYPE_FIELDS, strict=True)}


class SliceLabel(SubtypeFlags):
    """A reader's labels of one slice; a row with every flag false is an explicit "no haemorrhage"."""

    read = models.ForeignKey(Read, on_delete=models.CASCADE, related_name="slice_labels")
    slice = models.ForeignKey(Slice, on_delete=models.CASCADE, related_name="+")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["read", "slice"], name="one_label_per_slice_per_read")]

    def __str__(self) -> str:
        return f"{','.join(self.codes) or 'none'} on slice {self.slice_id} (read {self.read_id})"


class BleedingPoint(models.Model):
    """The centre of a haemorrhagic lesion, in image pixel coordinates (x = column, y = row)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    read = models.ForeignKey(Read, on_delete=models.CASCADE, related_name="points")
    slice = models.ForeignKey(Slice, on_delete=models.CASCADE, related_name="+")
    x = models.FloatField()
    y = models.FloatField()
    subtype = models.CharField(max_length=3, choices=Subtype.choices, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"Point ({self.x:.1f}, {self.y:.1f}) on slice {self.slice_id}"


class GroundTruth(models.Model):
    """The reference labels of a case and how they were obtained."""

    class Method(models.TextChoices):
        CONSENSUS = "consensus", "Consensus"
        ADJUDICATION = "adjudication", "Adjudication"
        SINGLE = "single", "Single reader"
        IMPORTED = "imported", "Imported"

    case = models.OneToOneField(Case, on_delete=models.CASCADE, related_name="ground_truth")
    method = models.CharField(max_length=16, choices=Method.choices)
    contributors = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="+", blank=True)
    excluded = models.BooleanField(default=False)
    exclusion_reason = models.CharField(max_length=16, choices=ExclusionReason.choices, blank=True)
    note = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"Ground truth of case {self.case_id} ({self.method})"


class GroundTruthSlice(SubtypeFlags):
    ground_truth = models.ForeignKey(GroundTruth, on_delete=models.CASCADE, related_name="slices")
    slice = models.ForeignKey(Slice, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["ground_truth", "slice"], name="one_truth_per_slice")]

    def __str__(self) -> str:
        return f"{','.join(self.codes) or 'none'} on slice {self.slice_id}"


class AuditEvent(models.Model):
    """Every change of a label, point or read state: who, when, before and after."""

    read = models.ForeignKey(Read, on_delete=models.CASCADE, related_name="audit")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    action = models.CharField(max_length=24)
    slice_index = models.IntegerField(null=True, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.action} by {self.user_id} at {self.at:%Y-%m-%d %H:%M:%S}"
