"""DICOM exports (SR of ground truth and of model findings, SEG of attention): built, re-read, validated."""

from __future__ import annotations

import subprocess
from io import BytesIO

import highdicom as hd
import numpy as np
import pydicom
import pytest
from PIL import Image

from ichweb.interop import codes, export
from ichweb.interop.sr import model_digest
from ichweb.labeling.models import BleedingPoint, Case, GroundTruth, GroundTruthSlice, Project, Read
from tests.accounts.factories import UserFactory
from tests.conftest import require_tool
from tests.modeling.factories import (
    AttentionMapFactory,
    InferenceJobFactory,
    ModelVersionFactory,
    predictions_on,
)

SHA = "ab" * 32


@pytest.fixture
def series(stored):
    return stored.series.get()


@pytest.fixture
def truth(series, alice):
    """A consensus ground truth of the series: IPH+SAH on slice 3, IVH on slice 5, bleeding points by both."""
    barbara = UserFactory(username="barbara", roles=("labeler",))
    bert = UserFactory(username="bert", roles=("labeler",))
    project = Project.objects.create(name="p", created_by=alice)
    case = Case.objects.create(project=project, study=series.study, series=series)
    slices = list(series.slices.order_by("index"))
    truth = GroundTruth.objects.create(case=case, method=GroundTruth.Method.CONSENSUS)
    truth.contributors.set([barbara, bert])
    GroundTruthSlice.objects.create(ground_truth=truth, slice=slices[2], iph=True, sah=True)
    GroundTruthSlice.objects.create(ground_truth=truth, slice=slices[4], ivh=True)
    GroundTruthSlice.objects.create(ground_truth=truth, slice=slices[0])  # an explicit "no haemorrhage"
    for reader, x in ((barbara, 10.5), (bert, 20.0)):
        read = Read.objects.create(case=case, reader=reader, status=Read.Status.SUBMITTED)
        BleedingPoint.objects.create(read=read, slice=slices[2], x=x, y=30.0, subtype="IPH")
    return truth


@pytest.fixture
def job(series, settings):
    """A finished job: IPH positive (0.9 on slices 2-3), the rest below threshold; maps of 2 slices."""
    version = ModelVersionFactory(name="m1", artifacts={"bundle/net.pt": SHA})
    job = InferenceJobFactory(
        series=series,
        model_version=version,
        case_probabilities={"IPH": 0.9, "IVH": 0.1, "SDH": 0.2, "EDH": 0.05, "SAH": 0.3, "ANY": 0.9},
        positive={"IPH": True, "IVH": False, "SDH": False, "EDH": False, "SAH": False, "ANY": True},
        thresholds=dict.fromkeys(["IPH", "IVH", "SDH", "EDH", "SAH", "ANY"], 0.5),
    )
    predictions_on(job, [0.1] * 6)
    for p in job.slice_predictions.filter(index__in=[2, 3]):
        p.probabilities = [0.9, 0.1, 0.2, 0.05, 0.3, 0.9]
        p.save()
    for index in (2, 3):
        sl = series.slices.get(index=index)
        for label in ("IPH", "ANY"):
            amap = AttentionMapFactory(job=job, slice=sl, label=label, probability=0.9)
            amap.path.parent.mkdir(parents=True, exist_ok=True)
            array = np.zeros((series.rows, series.columns), dtype=np.uint8)
            array[10:20, 10:30] = 255
            array[40:50, 40:50] = 40  # below 20 % of 255: outside the segmentation
            Image.fromarray(array).save(amap.path)
    return job


def reread(ds: pydicom.Dataset) -> pydicom.Dataset:
    buffer = BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return pydicom.dcmread(BytesIO(buffer.getvalue()))


def dciodvfy_errors(data: bytes, tmp_path) -> list[str]:
    """The errors ``dciodvfy`` (dicom3tools) finds in a PS3.10 file; skipped where it is not installed."""
    require_tool("dciodvfy", "dicom3tools")
    path = tmp_path / "object.dcm"
    path.write_bytes(data)
    result = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True, timeout=60)
    return [line for line in (result.stdout + result.stderr).splitlines() if line.startswith("Error")]


def dsrdump_errors(data: bytes, tmp_path) -> list[str]:
    """What dcmtk's ``dsrdump`` reports against an SR document (its exit status and E:/W: lines)."""
    require_tool("dsrdump", "dcmtk")
    path = tmp_path / "report.dcm"
    path.write_bytes(data)
    result = subprocess.run(["dsrdump", str(path)], capture_output=True, text=True, timeout=60)
    problems = [line for line in result.stderr.splitlines() if line.startswith(("E:", "F:"))]
    return problems + ([f"exit status {result.returncode}"] if result.returncode else [])


def stored_uids(series) -> set[str]:
    return set(series.slices.values_list("sop_instance_uid", flat=True))


def referenced_uids(ds: pydicom.Dataset) -> set[str]:
    """Every ReferencedSOPInstanceUID anywhere in the content tree."""
    found: set[str] = set()

    def walk(items) -> None:
        for item in items:
            if "ReferencedSOPSequence" in item:
                found.update(str(r.ReferencedSOPInstanceUID) for r in item.ReferencedSOPSequence)
            if "ContentSequence" in item:
                walk(item.ContentSequence)

    walk(ds.ContentSequence)
    return found


def text_values(ds: pydicom.Dataset) -> dict[str, set[str]]:
    """TEXT content items anywhere in the tree: concept name meaning -> values."""
    found: dict[str, set[str]] = {}

    def walk(items) -> None:
        for item in items:
            if item.get("ValueType") == "TEXT":
                found.setdefault(item.ConceptNameCodeSequence[0].CodeMeaning, set()).add(str(item.TextValue))
            if "ContentSequence" in item:
                walk(item.ContentSequence)

    walk(ds.ContentSequence)
    return found


def test_the_ground_truth_sr_is_valid_and_references_the_stored_instances(truth, series, tmp_path):
    built = export.build(export.GROUND_TRUTH, series.pk)
    ds = pydicom.dcmread(BytesIO(built.data))
    assert ds.SOPClassUID == pydicom.uid.Comprehensive3DSRStorage
    assert ds.StudyInstanceUID == series.study.study_uid
    assert ds.SeriesInstanceUID != series.series_uid
    assert ds.CodingSchemeIdentificationSequence[0].CodingSchemeDesignator == codes.SCHEME
    report = hd.sr.srread(BytesIO(built.data))
    assert isinstance(report, hd.sr.Comprehensive3DSR)
    slices = {s.index: s.sop_instance_uid for s in series.slices.all()}
    assert referenced_uids(ds) == {slices[2], slices[4]}
    assert referenced_uids(ds) <= stored_uids(series)
    assert dciodvfy_errors(built.data, tmp_path) == []
    assert dsrdump_errors(built.data, tmp_path) == []


def test_the_ground_truth_sr_has_one_finding_per_subtype_the_method_and_pseudonymous_readers(truth, series):
    report = hd.sr.srread(BytesIO(export.build(export.GROUND_TRUTH, series.pk).data))
    content = report.content
    groups = content.get_image_measurement_groups()
    findings = {
        (g.source_images[0].referenced_sop_instance_uid, ev.name.value)
        for g in groups
        for ev in g.get_qualitative_evaluations()
        if ev.value == codes.PRESENT
    }
    assert all(len(g.get_qualitative_evaluations()) == 5 for g in groups)  # each subtype, present or absent
    slices = {s.index: s.sop_instance_uid for s in series.slices.all()}
    assert findings == {(slices[2], "IPH"), (slices[2], "SAH"), (slices[4], "IVH")}
    assert {g.method.value for g in groups} == {"CONSENSUS"}
    text = str(pydicom.dcmread(BytesIO(export.build(export.GROUND_TRUTH, series.pk).data)))
    assert "Reader A" in text and "Reader B" in text
    assert "barbara" not in text and "bert" not in text
    observers = [str(o.observer_identifying_attributes.name) for o in content.get_observer_contexts()]
    assert observers == ["Reader A^", "Reader B^"]


def test_bleeding_points_are_scoord_points_on_their_source_image(truth, series):
    report = hd.sr.srread(BytesIO(export.build(export.GROUND_TRUTH, series.pk).data))
    rois = report.content.get_planar_roi_measurement_groups()
    assert len(rois) == 2
    slice3 = series.slices.get(index=2).sop_instance_uid
    points = []
    for group in rois:
        region = group.roi
        assert region.graphic_type == hd.sr.GraphicTypeValues.POINT
        assert region.ContentSequence[0].ReferencedSOPSequence[0].ReferencedSOPInstanceUID == slice3
        assert group.finding_type.value == "IPH"
        points.append(tuple(region.value[0]))
    assert sorted(points) == [(10.5, 30.0), (20.0, 30.0)]


def test_the_findings_sr_has_probabilities_calls_thresholds_positive_slices_and_the_algorithm(job, tmp_path):
    built = export.build(export.FINDINGS, job.pk)
    report = hd.sr.srread(BytesIO(built.data))
    groups = {g.finding_type.value: g for g in report.content.get_image_measurement_groups()}
    assert set(groups) == {"IPH", "IVH", "SDH", "EDH", "SAH", "1386000"}
    iph = groups["IPH"]
    assert [m.value for m in iph.get_measurements(name=codes.PROBABILITY)] == [pytest.approx(0.9)]
    assert [m.value for m in iph.get_measurements(name=codes.THRESHOLD)] == [pytest.approx(0.5)]
    assert [e.value.value for e in iph.get_qualitative_evaluations()] == [codes.PRESENT.value]
    assert [e.value.value for e in groups["SDH"].get_qualitative_evaluations()] == [codes.ABSENT.value]
    positives = {s.referenced_sop_instance_uid for s in iph.source_images}
    assert positives == {s.sop_instance_uid for s in job.series.slices.filter(index__in=[2, 3])}
    assert groups["SDH"].source_images == []
    ds = pydicom.dcmread(BytesIO(built.data))
    assert model_digest(job.model_version) == SHA
    texts = text_values(ds)
    assert texts["Algorithm Name"] == {"m1"} and texts["Algorithm Version"] == {SHA}
    assert referenced_uids(ds) <= stored_uids(job.series)
    assert dciodvfy_errors(built.data, tmp_path) == []
    assert dsrdump_errors(built.data, tmp_path) == []


def test_the_seg_holds_the_20_percent_segmentation_of_each_map_on_its_source_frame(job, tmp_path):
    built = export.build(export.SEG, job.pk)
    segmentation = hd.seg.segread(BytesIO(built.data))
    assert segmentation.segmentation_type == hd.seg.SegmentationTypeValues.BINARY
    assert [d.segment_label for d in segmentation.SegmentSequence] == ["attention IPH", "attention ANY"]
    sources = {s.index: s.sop_instance_uid for s in job.series.slices.filter(index__in=[2, 3])}
    referenced = {uids[2] for uids in segmentation.get_source_image_uids()}
    assert referenced == set(sources.values())
    mask = segmentation.get_pixels_by_source_instance(
        source_sop_instance_uids=[sources[2]], segment_numbers=[1]
    )[0, :, :, 0]
    expected = np.zeros(mask.shape, dtype=bool)
    expected[10:20, 10:30] = True  # the 40/255 patch is below 20 % of the maximum
    assert np.array_equal(mask.astype(bool), expected)
    assert dciodvfy_errors(built.data, tmp_path) == []


def test_the_same_export_gets_the_same_uids_on_every_download(truth, series):
    first = pydicom.dcmread(BytesIO(export.build(export.GROUND_TRUTH, series.pk).data))
    again = pydicom.dcmread(BytesIO(export.build(export.GROUND_TRUTH, series.pk).data))
    assert (first.SeriesInstanceUID, first.SOPInstanceUID) == (again.SeriesInstanceUID, again.SOPInstanceUID)


def test_a_series_without_ground_truth_is_not_exportable(series):
    with pytest.raises(export.NotExportable, match="has no ground truth"):
        export.build(export.GROUND_TRUTH, series.pk)


# -- downloads -------------------------------------------------------------------------------------------


def urls(series, job) -> list[str]:
    return [
        f"/api/v1/interop/export/series/{series.pk}/ground-truth.dcm",
        f"/api/v1/interop/export/jobs/{job.pk}/findings.dcm",
        f"/api/v1/interop/export/jobs/{job.pk}/seg.dcm",
    ]


def test_leads_admins_and_service_accounts_download_the_exports(client, truth, job, series, alice, dan, sam):
    from tests.interop.conftest import bearer

    for url in urls(series, job):
        for user in (alice, dan):
            client.force_login(user)
            response = client.get(url)
            assert response.status_code == 200, (url, response.content[:200])
            assert response["Content-Type"] == "application/dicom"
            assert "attachment" in response["Content-Disposition"]
            pydicom.dcmread(BytesIO(response.content))
        client.logout()
        assert client.get(url, **bearer(sam)).status_code == 200


def test_labelers_readers_and_strangers_are_refused_the_exports(
    client, truth, job, series, bob, carol, mallory
):
    for url in urls(series, job):
        for user in (bob, carol, mallory):
            client.force_login(user)
            response = client.get(url)
            assert response.status_code == 403, (url, user)
            assert b"ground truth and model output" in response.content
        client.logout()
        assert client.get(url).status_code in (401, 403)


def test_a_download_of_nothing_says_why(client, series, alice):
    client.force_login(alice)
    response = client.get(f"/api/v1/interop/export/series/{series.pk}/ground-truth.dcm")
    assert response.status_code == 409
    assert "has no ground truth" in response.json()["detail"]
    assert client.get("/api/v1/interop/export/jobs/999999/seg.dcm").status_code == 404


def test_the_review_page_links_the_downloads_for_leads_only(client, truth, job, series, alice, bob):
    from django.urls import reverse

    client.force_login(alice)
    doc = client.get(reverse("review-detail", args=[series.pk])).json()
    assert [e["label"] for e in doc["exports"]] == [
        "Ground truth (SR)",
        "Model findings (SR)",
        "Attention segmentation (SEG)",
    ]
    for link in doc["exports"]:
        assert client.get(link["url"]).status_code == 200
    page = client.get(reverse("modeling:review", args=[series.pk])).content.decode()
    assert 'data-role="exports"' in page
    client.force_login(bob)
    answer = client.get(reverse("review-detail", args=[series.pk]))
    assert answer.status_code in (403, 404) or "exports" not in answer.json()


def test_an_excluded_case_or_an_unfinished_job_is_not_exportable(truth, job, series):
    truth.excluded, truth.exclusion_reason = True, "surgery"
    truth.save()
    with pytest.raises(export.NotExportable, match=r"excluded from the ground truth \(Post-surgical changes"):
        export.build(export.GROUND_TRUTH, series.pk)
    job.status = "running"
    job.save()
    for kind in (export.FINDINGS, export.SEG):
        with pytest.raises(export.NotExportable, match="wait until it succeeds"):
            export.build(kind, job.pk)


def test_an_imported_ground_truth_has_no_person_observer_and_is_valid(truth, series, tmp_path):
    truth.method = GroundTruth.Method.IMPORTED
    truth.save()
    truth.contributors.clear()
    built = export.build(export.GROUND_TRUTH, series.pk)
    report = hd.sr.srread(BytesIO(built.data))
    assert report.content.get_observer_contexts() == []
    assert report.content.get_planar_roi_measurement_groups() == []  # points belong to contributors' reads
    assert {g.method.value for g in report.content.get_image_measurement_groups()} == {"IMPORTED"}
    assert dciodvfy_errors(built.data, tmp_path) == []


def test_a_ground_truth_without_haemorrhage_is_one_case_level_group_of_absent_findings(
    truth, series, tmp_path
):
    truth.slices.all().delete()  # no slice with a finding
    truth.contributors.clear()  # and so no bleeding points either
    built = export.build(export.GROUND_TRUTH, series.pk)
    report = hd.sr.srread(BytesIO(built.data))
    (group,) = report.content.get_image_measurement_groups()
    values = {e.name.value: e.value.value for e in group.get_qualitative_evaluations()}
    assert values == {code: "272519000" for code in ("IPH", "IVH", "SDH", "EDH", "SAH")}  # SCT Absent
    assert dciodvfy_errors(built.data, tmp_path) == []
