"""Results of a reader study as JSON-ready dicts (no NaN: undefined values are ``None``), for the results page
and the analytics dashboards.

* ``reader_performance``: per participant, from their unaided reads, case-level sensitivity and specificity
  against ground truth with Wald and Wilson intervals, the (1 - specificity, sensitivity) point, and ICH
  scores for ROC curves; and the study model's case-level ROC on the same cohort (``model_roc``), on which
  the paper draws readers. The aided reads and the comparison of the arms are ``mrmc_results``'s.
* ``questionnaire_agreement``: prediction-basis choices, participant vs model and participant vs participant,
  as percent agreement and Cohen's kappa.
* ``localisation_overlap``: reference (consensus) bleeding points inside the model's segmentation.
* ``participant_progress`` and ``study_results`` (all of the above).

Scores for ROC: a read's ICH score is ``50 + confidence / 2`` when ICH was called present and
``50 - confidence / 2`` when absent, a 0-100 scale from "certainly no ICH" to "certainly ICH".

Kappa participant vs model follows the paper's design: the categories are the letters a-d the participant
saw, the model's answer being the letter of the lowest-distance set. As each participant sees the sets in
an order of their own, participants are compared on the set chosen (its place in the distance ranking).
"""

from __future__ import annotations

import math
from collections import defaultdict
from statistics import median
from typing import Any

import numpy as np
from django.db.models import QuerySet
from PIL import Image

from ichweb.labeling.models import Subtype
from ichweb.modeling.models import InferenceJob, Stage
from ichweb.readerstudy import access, material, services
from ichweb.readerstudy.models import (
    CaseRead,
    LocalisationItem,
    LocalisationMark,
    Modality,
    QuestionnaireAnswer,
    ReaderStudy,
    ReferencePoints,
)
from ichweb.readerstudy.truth import Truth, case_truths
from ml import stats

#: Segmentation of a map: pixels at or above this fraction of its maximum (docs/science.md, "Localisation").
SEGMENT_FRACTION = 0.2


def _num(value: float | None, digits: int = 6) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return round(float(value), digits)


def proportion(k: int, n: int) -> dict[str, Any]:
    """``{"k", "n", "p", "wald": [lo, hi], "wilson": [lo, hi]}``; ``p`` and intervals ``None`` at n = 0."""
    p, wald_lo, wald_hi = stats.proportion_ci(k, n, "wald")
    _, wilson_lo, wilson_hi = stats.proportion_ci(k, n, "wilson")
    return {
        "k": k,
        "n": n,
        "p": _num(p),
        "wald": [_num(wald_lo), _num(wald_hi)],
        "wilson": [_num(wilson_lo), _num(wilson_hi)],
    }


def kappa_dict(a: list[Any], b: list[Any], labels: list[Any] | None = None) -> dict[str, Any]:
    """Cohen's kappa of two raters as ``{"kappa", "se", "lo", "hi", "p_observed", "p_expected", "n"}``."""
    if not a:
        return {
            "kappa": None,
            "se": None,
            "lo": None,
            "hi": None,
            "p_observed": None,
            "p_expected": None,
            "n": 0,
        }
    k = stats.cohen_kappa(a, b, labels)
    return {
        "kappa": _num(k.kappa),
        "se": _num(k.se),
        "lo": _num(k.lo),
        "hi": _num(k.hi),
        "p_observed": _num(k.p_observed),
        "p_expected": _num(k.p_expected),
        "n": k.n,
    }


def ich_score(read: CaseRead) -> float:
    """The read's 0-100 ICH score: the call, graded by the participant's confidence in it."""
    half = (read.confidence or 0) / 2
    return 50 + half if read.ich else 50 - half


def _counts(truth: list[bool], called: list[bool]) -> dict[str, Any]:
    tp = sum(t and c for t, c in zip(truth, called, strict=True))
    tn = sum(not t and not c for t, c in zip(truth, called, strict=True))
    positives = sum(truth)
    return {"sensitivity": proportion(tp, positives), "specificity": proportion(tn, len(truth) - positives)}


def _roc(truth: list[bool], scores: list[float]) -> dict[str, Any] | None:
    if not truth or all(truth) or not any(truth):
        return None
    fpr, tpr, _ = stats.roc_curve(truth, scores)
    return {
        "auc": _num(stats.roc_auc(truth, scores)),
        "fpr": [_num(v) for v in fpr],
        "tpr": [_num(v) for v in tpr],
    }


def model_roc(study: ReaderStudy, truths: dict[int, Truth]) -> dict[str, Any] | None:
    """The study's model on the cohort: its case-level "any ICH" ROC, the curve readers are drawn on.

    Returns:
        ``{"n", "auc", "fpr", "tpr"}`` over the cases the model has predicted, or ``None`` (no model, or
        the predicted cases lack a class).
    """
    if study.model_version_id is None:
        return None
    jobs = InferenceJob.objects.filter(
        model_version_id=study.model_version_id,
        status=Stage.SUCCEEDED,
        series__in=study.cases.values("series"),
    )
    scores = {job.series_id: job.case_probabilities.get("ANY") for job in jobs}
    pairs = [
        (truths[case.pk].ich, scores[case.series_id])
        for case in study.cases.all()
        if scores.get(case.series_id) is not None
    ]
    roc = _roc([t for t, _ in pairs], [s for _, s in pairs])
    return None if roc is None else {"n": len(pairs), **roc}


def _reads_row(reads: list[CaseRead], truths: dict[int, Truth]) -> dict[str, Any]:
    """One participant's row of ``reader_performance`` (without name and completeness)."""
    truth = [truths[r.case_id].ich for r in reads]
    scores = [ich_score(r) for r in reads]
    ich = _counts(truth, [bool(r.ich) for r in reads])
    sens, spec = ich["sensitivity"]["p"], ich["specificity"]["p"]
    ich["point"] = {"fpr": None if spec is None else _num(1 - spec), "tpr": sens}
    seconds = [r.reading_seconds for r in reads]
    return {
        "n_read": len(reads),
        "ich": ich,
        "subtypes": {
            code: _counts(
                [code in truths[r.case_id].subtypes for r in reads], [code in r.codes for r in reads]
            )
            for code in Subtype.values
        },
        "roc": _roc(truth, scores),
        "scores": [
            {"case": r.case_id, "truth": int(t), "score": s}
            for r, t, s in zip(reads, truth, scores, strict=True)
        ],
        "reading_seconds": {
            "total": _num(sum(seconds), 1),
            "mean": _num(sum(seconds) / len(seconds), 1) if seconds else None,
            "median": _num(median(seconds), 1) if seconds else None,
        },
    }


def unaided_reads(study: ReaderStudy) -> QuerySet[CaseRead]:
    """The submitted unaided reads: the reads these results describe (aided reads: ``mrmc_results``)."""
    return CaseRead.objects.filter(case__study=study, modality=Modality.UNAIDED, submitted_at__isnull=False)


def reader_performance(study: ReaderStudy) -> dict[str, Any]:
    """Per participant, submitted unaided case reads against the ground truth; the model's ROC on the cohort.

    Returns:
        ``{"n_cases", "n_ich", "model": model_roc(...), "participants": [{"participant", "n_read", "complete",
        "ich": {"sensitivity": P, "specificity": P, "point": {"fpr", "tpr"}},
        "subtypes": {code: {"sensitivity": P, "specificity": P}}, "roc": {"auc", "fpr", "tpr"} | None,
        "scores": [{"case", "truth", "score"}], "reading_seconds": {"total", "mean", "median"}}]}``,
        ``P`` a ``proportion`` dict. ``roc`` is ``None`` until the reads hold both classes.
    """
    cases = list(study.cases.all())
    truths = case_truths(cases)
    reads_by: dict[int, list[CaseRead]] = defaultdict(list)
    for read in unaided_reads(study).order_by("case_id"):
        reads_by[read.participant_id].append(read)
    rows = [
        {
            "participant": user.get_username(),
            "complete": len(reads_by[user.pk]) == len(cases),
            **_reads_row(reads_by[user.pk], truths),
        }
        for user in study.participants.order_by("username")
    ]
    return {
        "n_cases": len(cases),
        "n_ich": sum(t.ich for t in truths.values()),
        "model": model_roc(study, truths),
        "participants": rows,
    }


def _pair(
    answers: dict[int, dict[int, QuestionnaireAnswer]], first, second, slot: dict[int, int]
) -> dict[str, Any]:
    """Two participants on the items both answered, compared on the set chosen (its ranking slot 0-3)."""
    a, b = answers.get(first.pk, {}), answers.get(second.pk, {})
    common = sorted(set(a) & set(b))
    slots_a = [slot[a[item].choice_id] for item in common]
    slots_b = [slot[b[item].choice_id] for item in common]
    agree = sum(x == y for x, y in zip(slots_a, slots_b, strict=True))
    return {
        "n": len(common),
        "agreement": proportion(agree, len(common)),
        "kappa": kappa_dict(slots_a, slots_b, list(range(len(access.LETTERS)))),
    }


def questionnaire_agreement(study: ReaderStudy) -> dict[str, Any]:
    """Prediction-basis choices against the model (lowest distance) and between participants.

    Returns:
        ``{"n_items", "model": [{"participant", "n", "agreement": P, "kappa": K}],
        "pairs": [{"first", "second", "n", "agreement": P, "kappa": K}]}``, ``P`` a ``proportion`` dict
        (agreement ``p`` with its intervals), ``K`` a ``kappa_dict``.
    """
    items = list(access.questionnaire_items(study).prefetch_related("candidates"))
    ranked = {item.pk: sorted(item.candidates.all(), key=lambda c: c.rank) for item in items}
    slot = {c.pk: i for candidates in ranked.values() for i, c in enumerate(candidates)}
    best = {item_id: candidates[0].pk for item_id, candidates in ranked.items()}
    by_item = {item.pk: item for item in items}
    answers: dict[int, dict[int, QuestionnaireAnswer]] = defaultdict(dict)
    for answer in QuestionnaireAnswer.objects.filter(item__in=items):
        answers[answer.participant_id][answer.item_id] = answer
    people = list(study.participants.order_by("username"))
    model_rows = []
    for user in people:
        mine = answers.get(user.pk, {})
        letters = [a.letter for a in mine.values()]
        model_letters = [
            next(
                letter
                for letter, c in services.options(study, user, by_item[item_id], ranked[item_id])
                if c.pk == best[item_id]
            )
            for item_id in mine
        ]
        agree = sum(a.choice_id == best[a.item_id] for a in mine.values())
        model_rows.append(
            {
                "participant": user.get_username(),
                "n": len(mine),
                "agreement": proportion(agree, len(mine)),
                "kappa": kappa_dict(letters, model_letters, list(access.LETTERS)),
            }
        )
    pairs = [
        {
            "first": first.get_username(),
            "second": second.get_username(),
            **_pair(answers, first, second, slot),
        }
        for i, first in enumerate(people)
        for second in people[i + 1 :]
    ]
    return {"n_items": len(items), "model": model_rows, "pairs": pairs}


def segmentation(item: LocalisationItem) -> np.ndarray:
    """The model's segmentation on the item's slice: map pixels at >= 20 % of the map's maximum (255)."""
    with Image.open(material.map_path(item)) as image:
        values = np.asarray(image.convert("L"))
    return values >= SEGMENT_FRACTION * 255


def _overlap(points_by_item: dict[int, list[list[float]]], masks: dict[int, np.ndarray]) -> dict[str, Any]:
    from ml.cam import localisation_overlap, points_in_segmentation

    inside = [
        points_in_segmentation(masks[item_id], points).tolist() if points else []
        for item_id, points in points_by_item.items()
    ]
    return localisation_overlap(inside).to_dict()


def localisation_overlap(study: ReaderStudy) -> dict[str, Any]:
    """Bleeding points inside the model's segmentation (``ml.cam.localisation_overlap``).

    Returns:
        ``{"n_items", "n_with_reference", "reference": O, "participants": [{"participant", **O}]}``, ``O`` =
        ``{"overall", "slices_1_2_points", "slices_3plus_points": {"inside", "total", "percent"},
        "n_slices"}``: the consensus reference points, and each participant's own points for comparison.
    """
    items = list(study.items.all())
    masks = {item.pk: segmentation(item) for item in items}
    reference = {
        r.item_id: r.points for r in ReferencePoints.objects.filter(item__in=items).order_by("item__position")
    }
    marks: dict[int, dict[int, list[list[float]]]] = defaultdict(dict)
    for mark in LocalisationMark.objects.filter(item__in=items).order_by("item__position"):
        marks[mark.participant_id][mark.item_id] = mark.points
    return {
        "n_items": len(items),
        "n_with_reference": len(reference),
        "reference": _overlap(reference, masks),
        "participants": [
            {"participant": user.get_username(), **_overlap(marks.get(user.pk, {}), masks)}
            for user in study.participants.order_by("username")
        ],
    }


def participant_progress(study: ReaderStudy) -> list[dict[str, Any]]:
    """``[{"participant", "reads", "localisation", "questionnaire": {"done", "total", "open"},
    "finished"}]``."""
    return [
        {"participant": user.get_username(), **access.progress(study, user).to_dict()}
        for user in study.participants.order_by("username")
    ]


def study_results(study: ReaderStudy) -> dict[str, Any]:
    """All of the above: ``{"study", "progress", "reads", "questionnaire", "localisation"}``."""
    return {
        "study": {
            "id": study.pk,
            "name": study.name,
            "cohort_name": study.cohort_name,
            "cohort_kind": study.cohort_kind,
            "model_version": study.model_version_id,
        },
        "progress": participant_progress(study),
        "reads": reader_performance(study),
        "questionnaire": questionnaire_agreement(study),
        "localisation": localisation_overlap(study),
    }
