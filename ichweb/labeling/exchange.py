"""RSNA-format CSV and JSON export of labels and points; RSNA-format CSV import as ground truth.

RSNA 2019 rows are ``ID_<SOPInstanceUID>_<subtype>,Label`` with subtypes any, epidural, intraparenchymal,
intraventricular, subarachnoid, subdural. Exported IDs are the de-identified UIDs stored here; imported IDs
may be those or the original UIDs, which are pseudonymised with the site secret exactly as ingest does.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from typing import Any

from django.conf import settings
from django.db import transaction

from ichweb.imaging.dicom import make_pseudonymiser, pseudonymise_uid
from ichweb.imaging.models import Slice
from ichweb.labeling.models import GroundTruth, GroundTruthSlice, Project, Subtype, SubtypeFlags
from ichweb.labeling.services import LabelingError, labels_of, point_json
from ml.labels import ANY, RSNA_NAMES, RSNA_ORDER

RSNA_TO_CODE = {RSNA_NAMES[code]: code for code in RSNA_ORDER}


def rsna_csv(project: Project) -> str:
    """Ground truth of every case with one (excluded cases left out) as RSNA-format CSV."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["ID", "Label"])
    truths = GroundTruth.objects.filter(case__project=project, excluded=False).prefetch_related(
        "slices__slice"
    )
    for truth in truths:
        for row in sorted(truth.slices.all(), key=lambda r: r.slice.index):
            codes = set(row.codes)
            for code in RSNA_ORDER:
                present = bool(codes) if code == ANY else code in codes
                writer.writerow([f"ID_{row.slice.sop_instance_uid}_{RSNA_NAMES[code]}", int(present)])
    return out.getvalue()


def project_json(project: Project) -> dict[str, Any]:
    """Every case with its ground truth and every read's labels, points, exclusion and reading time."""
    cases = []
    for case in project.cases.select_related("study", "series").prefetch_related("reads__reader"):
        truth = (
            GroundTruth.objects.filter(case=case).prefetch_related("slices__slice", "contributors").first()
        )
        cases.append(
            {
                "case": case.pk,
                "study_uid": case.study.study_uid,
                "series_uid": case.series.series_uid,
                "status": case.status,
                "ground_truth": None
                if truth is None
                else {
                    "method": truth.method,
                    "contributors": [u.get_username() for u in truth.contributors.all()],
                    "excluded": truth.excluded,
                    "exclusion_reason": truth.exclusion_reason,
                    "slices": {str(r.slice.index): r.codes for r in truth.slices.all()},
                },
                "reads": [
                    {
                        "reader": read.reader.get_username(),
                        "kind": read.kind,
                        "status": read.status,
                        "excluded": read.excluded,
                        "exclusion_reason": read.exclusion_reason,
                        "reading_seconds": round(read.reading_seconds, 1),
                        "labels": {str(i): sorted(c) for i, c in labels_of(read).items()},
                        "points": [point_json(p, p.slice.index) for p in read.points.select_related("slice")],
                    }
                    for read in case.reads.all()
                ],
            }
        )
    return {"project": {"id": project.pk, "name": project.name, "mode": project.mode}, "cases": cases}


def _parse_rsna(text: str) -> dict[str, dict[str, bool]]:
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if header is None or [h.strip() for h in header[:2]] != ["ID", "Label"]:
        raise LabelingError("the CSV must start with the header ID,Label (RSNA format)", field="file")
    rows: dict[str, dict[str, bool]] = defaultdict(dict)
    for line, row in enumerate(reader, start=2):
        if not row:
            continue
        if len(row) < 2:
            raise LabelingError(f"line {line}: expected ID,Label", field="file")
        ident, label = row[0].strip(), row[1].strip()
        prefix, _, rest = ident.partition("_")
        uid, _, name = rest.rpartition("_")
        if prefix != "ID" or not uid or name not in RSNA_TO_CODE:
            raise LabelingError(
                f"line {line}: {ident!r} is not ID_<SOPInstanceUID>_<subtype> with subtype one of "
                f"{', '.join(RSNA_TO_CODE)}",
                field="file",
            )
        if label not in ("0", "1"):
            raise LabelingError(f"line {line}: Label {label!r} must be 0 or 1", field="file")
        rows[uid][RSNA_TO_CODE[name]] = label == "1"
    return rows


@transaction.atomic
def import_rsna_csv(project: Project, text: str, user) -> dict[str, Any]:
    """Record imported ground truth for the project's cases found in the CSV; all or nothing."""
    rows = _parse_rsna(text)
    cases = {c.series_id: c for c in project.cases.select_related("series")}
    slices = {s.sop_instance_uid: s for s in Slice.objects.filter(series_id__in=cases)}
    pseudonymiser = make_pseudonymiser(settings.DEID_SECRET)
    found: dict[int, dict[int, set[str]]] = defaultdict(dict)
    unknown = []
    for uid, flags in rows.items():
        sl = slices.get(uid) or slices.get(pseudonymise_uid(uid, pseudonymiser))
        if sl is None:
            unknown.append(uid)
            continue
        found[sl.series_id][sl.index] = {code for code, on in flags.items() if on and code in Subtype.values}
    if not found:
        raise LabelingError("no row of the CSV matches an image of this project", field="file")
    for series_id, labels in found.items():
        case = cases[series_id]
        GroundTruth.objects.filter(case=case).delete()
        truth = GroundTruth.objects.create(
            case=case, method=GroundTruth.Method.IMPORTED, note=f"imported by {user.get_username()}"
        )
        GroundTruthSlice.objects.bulk_create(
            GroundTruthSlice(
                ground_truth=truth,
                slice=s,
                **SubtypeFlags.flags(labels.get(s.index, ())),
            )
            for s in case.series.slices.all()
        )
        case.status = case.Status.DONE
        case.save(update_fields=["status"])
    return {
        "cases": len(found),
        "images": sum(len(v) for v in found.values()),
        "unknown_images": len(unknown),
    }


__all__ = ["import_rsna_csv", "project_json", "rsna_csv"]
