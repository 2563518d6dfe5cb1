"""Reader studies (docs/science.md, "Reader studies"): blinded case reads, bleeding-point localisation,
consensus reference points and prediction-basis questionnaires.

A study fixes a test cohort (series with ground truth, taken from labeling cases), its participants (users
with the reader role) and the model version whose attention maps and prediction basis provide the
localisation and questionnaire material. A participant works through three tasks in this order, each
opening only when the one before is finished (enforced in ``access``):

1. case reads (ICH present, subtypes, confidence), in a per-participant random order, in the modalities
   of the study's ``design`` (``plan``): unaided only, or also aided by the model's output (sequentially
   per case, or in two crossover sessions with a washout between them);
2. localisation: bleeding points on one model-positive slice per ICH case, blinded to the maps;
3. the prediction-basis questionnaire on the same slices, now with the attention overlay.

Two participants' points of a slice are merged into its reference points (``ReferencePoints``).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from ichweb.imaging.models import Series, Slice
from ichweb.labeling.models import Case as LabelingCase
from ichweb.labeling.models import SubtypeFlags, label_choices
from ichweb.modeling.models import AtlasEntry, ModelVersion
from ml.labels import ANY, SUBTYPES


class Design(models.TextChoices):
    """How a study's cases are read: unaided only, or unaided and aided by the model (``plan``)."""

    UNAIDED = "unaided", "Unaided reads only"
    SEQUENTIAL = "sequential", "Sequential: each case unaided, then at once aided"
    CROSSOVER = "crossover", "Crossover: two sessions, a washout between them"


class Modality(models.TextChoices):
    """The arm of a read: without (``unaided``) or with (``aided``) the study model's output."""

    UNAIDED = "unaided", "Unaided"
    AIDED = "aided", "Aided by the model"


class CohortKind(models.TextChoices):
    RETROSPECTIVE = "retrospective", "Retrospective"
    PROSPECTIVE = "prospective", "Prospective"
    OTHER = "other", "Other"


#: The model output whose probability ranks slices and whose attention map is shown: "any ICH" first (the
#: default), then the subtypes of ``ml.labels``.
MaterialLabel = label_choices("MaterialLabel", (ANY, *SUBTYPES))


class ReaderStudy(models.Model):
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    cohort_name = models.CharField(max_length=200, help_text="e.g. 'Retrospective test set 2024'.")
    cohort_kind = models.CharField(
        max_length=16, choices=CohortKind.choices, default=CohortKind.RETROSPECTIVE
    )
    participants = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="reader_studies", blank=True)
    #: The two participants whose bleeding points are merged into the reference points.
    consensus_first = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    consensus_second = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    model_version = models.ForeignKey(
        ModelVersion,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="reader_studies",
        help_text="Source of the localisation slices, attention maps and prediction basis.",
    )
    material_label = models.CharField(max_length=3, choices=MaterialLabel.choices, default=MaterialLabel(ANY))
    slices_per_case = models.PositiveSmallIntegerField(
        default=1, help_text="Localisation slices per ICH case: the most probable model-positive ones."
    )
    answers_changeable = models.BooleanField(
        default=False, help_text="Participants may change an answer after submitting it."
    )
    merge_radius_px = models.FloatField(
        default=10.0, help_text="Points of the two consensus participants closer than this are merged."
    )
    design = models.CharField(
        max_length=10,
        choices=Design.choices,
        default=Design.UNAIDED,
        help_text="Unaided reads only, or unaided and aided reads (sequential or crossover).",
    )
    washout_days = models.PositiveSmallIntegerField(
        default=28,
        help_text="Crossover only: days between finishing session 1 and opening session 2.",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "reader studies"

    def __str__(self) -> str:
        return self.name


class StudyCase(models.Model):
    """One series of the cohort; its reference is the ground truth of ``source`` (a labeling case)."""

    study = models.ForeignKey(ReaderStudy, on_delete=models.CASCADE, related_name="cases")
    series = models.ForeignKey(Series, on_delete=models.PROTECT, related_name="+")
    source = models.ForeignKey(LabelingCase, on_delete=models.PROTECT, related_name="+")
    position = models.PositiveIntegerField()

    class Meta:
        ordering = ["study", "position"]
        constraints = [models.UniqueConstraint(fields=["study", "series"], name="one_reader_case_per_series")]

    def __str__(self) -> str:
        return f"Case {self.pk} of reader study {self.study_id}"


class CaseRead(SubtypeFlags):
    """A participant's read of one case in one modality. ``ich`` and ``confidence`` are null until submitted.

    ``confidence`` (0-100) is how sure the participant is of the call; ``results`` turns call and confidence
    into one ICH score for ROC curves. ``opened_at`` is when the read's material was first served (for an
    aided read: the model's output), which is what locks the reads before it (``access.read_locked``).
    """

    case = models.ForeignKey(StudyCase, on_delete=models.CASCADE, related_name="reads")
    participant = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    modality = models.CharField(max_length=8, choices=Modality.choices, default=Modality.UNAIDED)
    session = models.PositiveSmallIntegerField(default=1, help_text="Crossover: session 1 or 2.")
    opened_at = models.DateTimeField(null=True, blank=True)
    ich = models.BooleanField(null=True)
    confidence = models.PositiveSmallIntegerField(null=True)
    reading_seconds = models.FloatField(default=0.0)
    last_beat_at = models.DateTimeField(null=True, blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["case", "participant", "modality"], name="one_read_per_participant_and_modality"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_modality_display()} read of case {self.case_id} by {self.participant_id}"


class AidedCase(models.Model):
    """The study model's output on one case, frozen the first time a participant opens its aided read.

    Every later aided read of the case shows the same numbers and images, whatever inference does later.
    ``slice_probabilities`` are the probabilities of the study's ``material_label`` per slice.
    """

    case = models.OneToOneField(StudyCase, on_delete=models.CASCADE, related_name="aided")
    label = models.CharField(max_length=3, help_text="The label of the slice chart and the overlays.")
    labels = models.JSONField(default=list)
    probabilities = models.JSONField(default=dict, help_text="label -> case probability")
    thresholds = models.JSONField(default=dict, help_text="label -> the model's operating threshold")
    calls = models.JSONField(default=dict, help_text="label -> positive at the threshold")
    slice_probabilities = models.JSONField(default=list)
    frozen_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"Aided material of case {self.case_id}"


class AidedSlice(models.Model):
    """A model-positive slice of an aided case: its attention overlay (a frozen copy) and exemplars."""

    aided = models.ForeignKey(AidedCase, on_delete=models.CASCADE, related_name="slices")
    index = models.PositiveIntegerField()
    probability = models.FloatField()
    overlay_file = models.CharField(max_length=255, help_text="relative to MEDIA_ROOT")

    class Meta:
        ordering = ["aided", "index"]
        constraints = [models.UniqueConstraint(fields=["aided", "index"], name="one_aided_slice_per_index")]

    def __str__(self) -> str:
        return f"Aided slice {self.index} of case {self.aided_id}"


class AidedExemplar(models.Model):
    """A prediction-basis exemplar shown with an aided slice; ``number`` (1-based) counts over the case."""

    slice = models.ForeignKey(AidedSlice, on_delete=models.CASCADE, related_name="exemplars")
    aided = models.ForeignKey(AidedCase, on_delete=models.CASCADE, related_name="exemplars")
    number = models.PositiveIntegerField()
    entry = models.ForeignKey(AtlasEntry, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["aided", "number"]
        constraints = [
            models.UniqueConstraint(fields=["aided", "number"], name="one_aided_exemplar_per_number")
        ]

    def __str__(self) -> str:
        return f"Exemplar {self.number} of aided case {self.aided_id}"


class TaskLocks(models.Model):
    """When a participant's earlier answers stopped being changeable because a later task revealed more.

    The localisation slices are model-positive ICH cases, so opening the localisation task locks the case
    reads; the questionnaire shows attention maps and the consensus shows the partner's points, so opening
    either locks the localisation. These locks hold whatever ``answers_changeable`` says, now or later.
    """

    study = models.ForeignKey(ReaderStudy, on_delete=models.CASCADE, related_name="locks")
    participant = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    reads_locked_at = models.DateTimeField(null=True, blank=True)
    localisation_locked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "task locks"
        constraints = [
            models.UniqueConstraint(fields=["study", "participant"], name="one_lock_row_per_participant")
        ]

    def __str__(self) -> str:
        return f"Locks of {self.participant_id} in reader study {self.study_id}"


class LocalisationItem(models.Model):
    """A slice of an ICH case shown for bleeding points, frozen with the study's model output on it.

    The attention map is copied into the study's folder (``map_file``, 8-bit grey at slice size, 255 = the
    map's maximum, and the colour overlay beside it) and the questionnaire candidates into ``Candidate``
    rows, so that re-running inference never changes the material of a running study.
    """

    study = models.ForeignKey(ReaderStudy, on_delete=models.CASCADE, related_name="items")
    case = models.ForeignKey(StudyCase, on_delete=models.CASCADE, related_name="items")
    slice = models.ForeignKey(Slice, on_delete=models.PROTECT, related_name="+")
    label = models.CharField(max_length=3, help_text="The model output the map explains.")
    probability = models.FloatField(help_text="The model's probability of ``label`` on this slice.")
    map_file = models.CharField(
        max_length=255, help_text="relative to MEDIA_ROOT; overlay: overlay.png beside"
    )
    position = models.PositiveIntegerField()

    class Meta:
        ordering = ["study", "position"]
        constraints = [models.UniqueConstraint(fields=["study", "slice"], name="one_item_per_slice")]

    def __str__(self) -> str:
        return f"Localisation item {self.pk} (slice {self.slice_id})"


class Candidate(models.Model):
    """One of an item's four prediction-basis candidates (docs/science.md, "Prediction basis")."""

    item = models.ForeignKey(LocalisationItem, on_delete=models.CASCADE, related_name="candidates")
    rank = models.PositiveIntegerField(help_text="1-based position in the distance ranking")
    distance = models.FloatField()
    entry = models.ForeignKey(AtlasEntry, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["item", "rank"]
        constraints = [models.UniqueConstraint(fields=["item", "rank"], name="one_candidate_per_rank")]

    def __str__(self) -> str:
        return f"Candidate #{self.rank} of item {self.item_id}"


class LocalisationMark(models.Model):
    """A participant's bleeding points on one item: ``[[x, y], ...]`` in slice pixels (x = column)."""

    item = models.ForeignKey(LocalisationItem, on_delete=models.CASCADE, related_name="marks")
    participant = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    points = models.JSONField(default=list)
    submitted_at = models.DateTimeField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["item", "participant"], name="one_mark_per_participant")
        ]

    def __str__(self) -> str:
        return f"{len(self.points)} points on item {self.item_id} by {self.participant_id}"


class ReferencePoints(models.Model):
    """The consensus bleeding points of an item, merged from the study's two consensus participants."""

    item = models.OneToOneField(LocalisationItem, on_delete=models.CASCADE, related_name="reference")
    points = models.JSONField(default=list)
    merged_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    merged_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{len(self.points)} reference points on item {self.item_id}"


class QuestionnaireAnswer(models.Model):
    """The candidate prediction-basis set a participant found most similar, and the letter it had."""

    item = models.ForeignKey(LocalisationItem, on_delete=models.CASCADE, related_name="answers")
    participant = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    choice = models.ForeignKey(Candidate, on_delete=models.CASCADE, related_name="+")
    letter = models.CharField(max_length=1)
    submitted_at = models.DateTimeField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["item", "participant"], name="one_answer_per_participant")
        ]

    def __str__(self) -> str:
        return f"({self.letter}) on item {self.item_id} by {self.participant_id}"
