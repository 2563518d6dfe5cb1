"""Structured reports (Comprehensive 3D SR, TID 1500 Measurement Report) of ground truth and model findings.

Both reference the stored, de-identified instances of one series (their SOP class and instance UIDs) and go
into a new series of that series' study. Readers appear under pseudonyms ("Reader A"), never by username;
a model appears by its version name and the digest of its files (docs/interop.md, "Export").
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import highdicom as hd
import numpy as np
import pydicom
from highdicom import sr

from ichweb.imaging.models import Series, Slice
from ichweb.interop import codes, sources
from ichweb.labeling.models import BleedingPoint, GroundTruth, Read
from ichweb.modeling.models import InferenceJob, ModelVersion, Stage
from ml.labels import LABELS, SUBTYPES

GROUND_TRUTH_SERIES_NUMBER = 9901
FINDINGS_SERIES_NUMBER = 9902


def pseudonym(position: int) -> str:
    """``Reader A^``, ``Reader B^``, ... ``Reader AA^``: a contributor by position (a DICOM person name)."""
    letters = ""
    n = position
    while True:
        letters = chr(ord("A") + n % 26) + letters
        n = n // 26 - 1
        if n < 0:
            return f"Reader {letters}^"  # one name component: "Reader A" is the whole (family) name


def model_digest(version: ModelVersion) -> str:
    """The SHA-256 of a model version's files: of its one file, or of the sorted ``path sha256`` manifest."""
    artifacts: dict[str, str] = dict(version.artifacts or {})
    if len(artifacts) == 1:
        return next(iter(artifacts.values()))
    manifest = "".join(f"{p} {artifacts[p]}\n" for p in sorted(artifacts))
    return hashlib.sha256(manifest.encode()).hexdigest()


def _observers(names: Sequence[str]) -> sr.ObservationContext:
    """TID 1001 with one person observer (TID 1003) per name; no name leaves the observer unnamed."""
    if not names:
        return sr.ObservationContext()
    context = sr.ObservationContext(
        observer_person_context=sr.ObserverContext(
            observer_type=codes.PERSON,
            observer_identifying_attributes=sr.PersonObserverIdentifyingAttributes(name=names[0]),
        )
    )
    for name in names[1:]:  # TID 1001 repeats the observer context, one per observer.
        context.extend(
            sr.ObserverContext(
                observer_type=codes.PERSON,
                observer_identifying_attributes=sr.PersonObserverIdentifyingAttributes(name=name),
            )
        )
    return context


def _tracking(identifier: str) -> sr.TrackingIdentifier:
    return sr.TrackingIdentifier(uid=hd.UID(), identifier=identifier)


def _slice_group(
    item: Slice, subtypes: list[str], method: hd.sr.CodedConcept, source: pydicom.Dataset
) -> sr.MeasurementsAndQualitativeEvaluations:
    """TID 1501 of one slice: each subtype Present or Absent (qualitative evaluations); the slice is its
    source."""
    return sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=_tracking(f"ground truth of slice {item.index + 1}"),
        finding_type=codes.INTRACRANIAL_HAEMORRHAGE,
        method=method,
        qualitative_evaluations=[
            sr.QualitativeEvaluation(
                name=codes.LABEL_CODES[s], value=codes.PRESENT if s in subtypes else codes.ABSENT
            )
            for s in SUBTYPES
        ],
        source_images=[sources.for_group(source)],
    )


def _case_negative_group(method: hd.sr.CodedConcept) -> sr.MeasurementsAndQualitativeEvaluations:
    """TID 1501 of a case without haemorrhage: every subtype and "any ICH" Absent, for the whole series
    (a report needs at least one group, and "no finding" is the finding)."""
    return sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=_tracking("ground truth of the case: no haemorrhage"),
        finding_type=codes.INTRACRANIAL_HAEMORRHAGE,
        method=method,
        qualitative_evaluations=[
            sr.QualitativeEvaluation(name=codes.LABEL_CODES[s], value=codes.ABSENT) for s in SUBTYPES
        ],
    )


def _point_group(
    point: BleedingPoint, observer: str, method: hd.sr.CodedConcept, source: pydicom.Dataset
) -> sr.PlanarROIMeasurementsAndQualitativeEvaluations:
    """TID 1410 of one bleeding point: a SCOORD POINT (column, row) on the slice's stored instance."""
    finding = codes.LABEL_CODES.get(point.subtype, codes.INTRACRANIAL_HAEMORRHAGE)
    return sr.PlanarROIMeasurementsAndQualitativeEvaluations(
        tracking_identifier=_tracking(f"bleeding point by {observer}"),
        referenced_region=sr.ImageRegion(
            graphic_type=sr.GraphicTypeValues.POINT,
            graphic_data=np.array([[point.x, point.y]], dtype=float),
            source_image=sources.for_region(source),
        ),
        finding_type=finding,
        method=method,
    )


def ground_truth_sr(series: Series) -> pydicom.Dataset:
    """The ground truth of ``series`` as a Comprehensive 3D SR (TID 1500) in a new series of its study.

    Raises ``sources.NotExportable`` when the series has no ground truth (or it excludes the case).
    """
    truth = (
        GroundTruth.objects.filter(case__series=series)
        .select_related("case")
        .prefetch_related("contributors")
        .order_by("-created_at", "-id")
        .first()
    )
    if truth is None:
        raise sources.NotExportable(
            f"series {series.pk} has no ground truth: record it on its labeling project's consensus page"
        )
    if truth.excluded:
        raise sources.NotExportable(
            f"the case of series {series.pk} is excluded from the ground truth "
            f"({truth.get_exclusion_reason_display() or 'no reason given'}): there are no labels to export"
        )
    datasets = sources.headers(series)
    method = codes.METHOD_CODES[truth.method]
    contributors = sorted(truth.contributors.all(), key=lambda u: u.pk)
    names = {user.pk: pseudonym(i) for i, user in enumerate(contributors)}
    groups: list[Any] = []
    for row in truth.slices.select_related("slice").order_by("slice__index"):
        if row.codes:
            groups.append(_slice_group(row.slice, row.codes, method, datasets[row.slice.sop_instance_uid]))
    points = BleedingPoint.objects.filter(
        read__case=truth.case, read__reader__in=contributors, read__status=Read.Status.SUBMITTED
    ).select_related("slice", "read")
    for point in sorted(points, key=lambda p: (p.slice.index, p.created_at)):
        source = datasets[point.slice.sop_instance_uid]
        groups.append(_point_group(point, names[point.read.reader_id], method, source))
    report = sr.MeasurementReport(
        observation_context=_observers([names[u.pk] for u in contributors]),
        procedure_reported=codes.COMPUTED_TOMOGRAPHY,
        imaging_measurements=groups or [_case_negative_group(method)],
    )
    return _document(series, report, "ground-truth", truth.pk, f"{truth.created_at:%Y%m%d%H%M%S%f}")


def _label_group(
    job: InferenceJob, label: str, positives: list[pydicom.Dataset], algorithm: sr.AlgorithmIdentification
) -> sr.MeasurementsAndQualitativeEvaluations:
    """TID 1501 of one label: its case probability and threshold, the call, the slices at or above it."""
    code = codes.LABEL_CODES[label]
    measurements = [
        sr.Measurement(
            name=codes.PROBABILITY,
            value=float(job.case_probabilities[label]),
            unit=codes.NO_UNITS,
            algorithm_id=algorithm,
        )
    ]
    threshold = job.thresholds.get(label)
    if threshold is not None:
        measurements.append(sr.Measurement(name=codes.THRESHOLD, value=float(threshold), unit=codes.NO_UNITS))
    call = job.positive.get(label)
    evaluations = (
        None
        if call is None
        else [sr.QualitativeEvaluation(name=code, value=codes.PRESENT if call else codes.ABSENT)]
    )
    return sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=_tracking(f"model finding: {code.meaning}"),
        finding_type=code,
        algorithm_id=algorithm,
        measurements=measurements,
        qualitative_evaluations=evaluations,
        source_images=[sources.for_group(ds) for ds in positives] or None,
    )


def positive_slices(job: InferenceJob, label: str) -> list[Slice]:
    """The slices whose probability of ``label`` is at or above the job's threshold, in order."""
    threshold = job.thresholds.get(label)
    order = list(job.model_version.label_order or LABELS)
    if threshold is None or label not in order:
        return []
    at = order.index(label)
    return [
        p.slice
        for p in job.slice_predictions.select_related("slice").order_by("index")
        if len(p.probabilities) > at and float(p.probabilities[at]) >= float(threshold)
    ]


def findings_sr(job: InferenceJob) -> pydicom.Dataset:
    """A finished inference job's findings of its series as a Comprehensive 3D SR (TID 1500)."""
    if job.status != Stage.SUCCEEDED or not job.case_probabilities:
        raise sources.NotExportable(
            f"inference job {job.pk} has no case probabilities (status {job.status}): wait until it succeeds"
        )
    version = job.model_version
    algorithm = sr.AlgorithmIdentification(name=version.name[:64], version=model_digest(version))
    datasets = sources.headers(job.series)
    groups = [
        _label_group(
            job, label, [datasets[s.sop_instance_uid] for s in positive_slices(job, label)], algorithm
        )
        for label in LABELS
        if label in job.case_probabilities
    ]
    device = sr.ObserverContext(
        observer_type=codes.DEVICE,
        observer_identifying_attributes=sr.DeviceObserverIdentifyingAttributes(
            uid=sources.uid("model", version.pk), name=version.name[:64], manufacturer_name="ICHweb"
        ),
    )
    report = sr.MeasurementReport(
        observation_context=sr.ObservationContext(observer_device_context=device),
        procedure_reported=codes.COMPUTED_TOMOGRAPHY,
        imaging_measurements=groups,
    )
    stamp = f"{job.finished_at or job.created_at:%Y%m%d%H%M%S%f}"
    return _document(job.series, report, "findings", job.pk, stamp)


def _document(
    series: Series, report: sr.MeasurementReport, kind: str, pk: int, stamp: str
) -> pydicom.Dataset:
    """The SR document of ``report``: every stored instance of ``series`` as evidence, new series and UIDs."""
    evidence = list(sources.headers(series).values())
    number = GROUND_TRUTH_SERIES_NUMBER if kind == "ground-truth" else FINDINGS_SERIES_NUMBER
    document = sr.Comprehensive3DSR(
        evidence=evidence,
        content=report,
        series_instance_uid=sources.uid(kind, series.series_uid, pk),
        series_number=number,
        sop_instance_uid=sources.uid(kind, series.series_uid, pk, stamp),
        instance_number=1,
        manufacturer="ICHweb",
        is_complete=True,
        series_description="ICHweb ground truth" if kind == "ground-truth" else "ICHweb model findings",
    )
    return document
