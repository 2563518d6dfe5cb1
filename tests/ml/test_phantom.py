from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest
from scipy import ndimage

from ml.labels import LABELS, RSNA_NAMES, RSNA_ORDER, SUBTYPES
from ml.phantom import (
    LESION_HU,
    PhantomCase,
    PhantomConfig,
    generate_case,
    generate_dataset,
    parse_prevalence,
    read_ground_truth,
    read_manifest,
    write_case,
)
from ml.phantom.__main__ import main
from ml.phantom.case import median3x3, plan_case

SMALL = {"size": 128, "slices_min": 24, "slices_max": 26}


def forced(subtype: str, seed: int = 11) -> PhantomConfig:
    return PhantomConfig(
        seed=seed, prevalence={subtype: 1.0}, negative_fraction=0.0, multi_fraction=0.0, **SMALL
    )


@pytest.fixture(scope="module")
def mixed_case() -> PhantomCase:
    config = PhantomConfig(seed=5, negative_fraction=0.0, multi_fraction=1.0, denoised=True, **SMALL)
    return generate_case(config, 0)


@pytest.fixture(scope="module")
def forced_cases() -> dict[str, list[PhantomCase]]:
    return {s: [generate_case(forced(s), i) for i in range(2)] for s in SUBTYPES}


def test_same_seed_same_case_other_seed_differs() -> None:
    config = PhantomConfig(seed=3, negative_fraction=0.0, **SMALL)
    a, b = generate_case(config, 1), generate_case(config, 1)
    assert np.array_equal(a.hu, b.hu)
    assert np.array_equal(a.labels, b.labels)
    assert a.lesions == b.lesions and a.points == b.points and a.uids == b.uids and a.patient == b.patient
    assert a.masks.keys() == b.masks.keys() and all(np.array_equal(a.masks[k], b.masks[k]) for k in a.masks)
    other = generate_case(PhantomConfig(seed=4, negative_fraction=0.0, **SMALL), 1)
    assert other.hu.shape != a.hu.shape or not np.array_equal(other.hu, a.hu)
    assert other.uids.study != a.uids.study


def test_case_shapes_and_label_rules(mixed_case: PhantomCase) -> None:
    case = mixed_case
    z = case.n_slices
    assert 24 <= z <= 26
    assert case.hu.dtype == np.int16 and case.hu.shape == (z, 128, 128)
    assert case.labels.dtype == np.uint8 and case.labels.shape == (z, len(LABELS))
    assert np.array_equal(case.labels[:, -1], case.labels[:, :5].max(axis=1))
    assert len(case.subtypes) >= 2
    assert case.spacing == (5.0, 230 / 128, 230 / 128)
    assert np.allclose(np.diff(case.z_positions), 5.0)
    for i, subtype in enumerate(SUBTYPES):
        from_masks = np.zeros(z, dtype=bool)
        for lesion in case.lesions:
            if lesion.subtype == subtype:
                from_masks |= case.masks[lesion.id].any(axis=(1, 2))
        assert np.array_equal(case.labels[:, i].astype(bool), from_masks), subtype


def test_negatives_have_no_labels() -> None:
    config = PhantomConfig(seed=2, negative_fraction=1.0, **SMALL)
    for index in range(2):
        case = generate_case(config, index)
        assert not case.labels.any() and not case.lesions and not case.points and not case.masks


@pytest.mark.parametrize("subtype", SUBTYPES)
def test_forced_subtype_lesions(subtype: str, forced_cases: dict[str, list[PhantomCase]]) -> None:
    mean, sd = LESION_HU[subtype]
    column = SUBTYPES.index(subtype)
    for case in forced_cases[subtype]:
        assert case.subtypes == (subtype,)
        assert case.labels[:, column].any()
        for lesion in case.lesions:
            assert lesion.subtype == subtype
            assert abs(lesion.mean_hu - mean) <= 3 * sd
            slices = list(lesion.slices)
            assert slices == list(range(slices[0], slices[-1] + 1)), "lesion slices must be contiguous"
            assert all(case.labels[k, column] and case.labels[k, -1] for k in slices)
            mask = case.masks[lesion.id]
            others = np.zeros_like(mask)
            for other in case.lesions:
                if other.id > lesion.id:
                    others |= case.masks[other.id]
            own = mask & ~others
            k = max(slices, key=lambda s: int(own[s].sum()))
            measured = float(np.median(case.hu[k][own[k]]))
            low, high = (lesion.mean_hu - 20, lesion.mean_hu + 8) if subtype == "SAH" else (-15, 15)
            if subtype != "SAH":
                low, high = lesion.mean_hu + low, lesion.mean_hu + high
            assert low <= measured <= high, (lesion.kind, lesion.mean_hu, measured)
        for point in case.points:
            assert case.masks[point.lesion][point.slice, point.y, point.x], point
            assert point.subtype == subtype
        assert {p.slice for p in case.points} == set(np.flatnonzero(case.labels[:, column]))


def test_tissue_hounsfield_units() -> None:
    config = PhantomConfig(seed=11, negative_fraction=1.0, **SMALL)
    head, _ = plan_case(config, 0)
    case = generate_case(config, 0)

    def lateral_ventricles(k: int) -> np.ndarray:
        vent = head.render(k).ventricles
        return sum(((vent[s] > 0.99) for s in ("left", "right") if s in vent), np.zeros((128, 128), bool))

    k = max(range(case.n_slices), key=lambda s: int(lateral_ventricles(s).sum()))
    sl = head.render(k)
    hu = case.hu[k].astype(float)
    csf = lateral_ventricles(k)
    assert csf.sum() > 30
    assert 0 <= np.median(hu[csf]) <= 20
    white = (sl.e_csf > 4) & (sl.cavity > 0.99) & ~ndimage.binary_dilation(csf, iterations=2)
    assert 20 <= np.median(hu[white]) <= 50
    bone = (sl.db < -0.5) & (sl.db > -head.skull)
    assert hu[bone].max() > 800 and np.percentile(hu[bone], 25) > 300
    assert -1010 <= np.median(hu[:8, :8]) <= -990
    assert case.hu.min() >= -1024 and case.hu.max() <= 3071


def test_dicom_round_trip(mixed_case: PhantomCase, tmp_path: Path) -> None:
    case = mixed_case
    case_dir = write_case(case, tmp_path)
    files = sorted((case_dir / "series").glob("IM*.dcm"))
    assert len(files) == case.n_slices
    positions = []
    for k, path in enumerate(files):
        ds = pydicom.dcmread(path)
        assert ds.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
        assert ds.file_meta.MediaStorageSOPClassUID == pydicom.uid.CTImageStorage
        assert ds.SOPClassUID == pydicom.uid.CTImageStorage and ds.Modality == "CT"
        assert ds.SOPInstanceUID == case.uids.sop[k] and ds.InstanceNumber == k + 1
        assert ds.SeriesInstanceUID == case.uids.series and ds.StudyInstanceUID == case.uids.study
        assert list(ds.ImageType) == ["ORIGINAL", "PRIMARY", "AXIAL"]
        assert (ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation) == (16, 16, 15, 1)
        assert (float(ds.RescaleSlope), float(ds.RescaleIntercept)) == (1.0, -1024.0)
        assert float(ds.SliceThickness) == 5.0
        assert [float(v) for v in ds.ImageOrientationPatient] == [1, 0, 0, 0, 1, 0]
        assert abs(float(ds.PixelSpacing[0]) - 230 / 128) < 1e-6
        assert str(ds.PatientName) == case.patient.name and "^" in str(ds.PatientName)
        assert ds.PatientID.startswith("PH-5-") and ds.PatientBirthDate and ds.InstitutionName
        assert ds.AccessionNumber and ds.ReferringPhysicianName and ds.Manufacturer == "ICHweb phantom"
        pixels = ds.pixel_array
        assert pixels.dtype == np.int16 and pixels.shape == (128, 128)
        hu = pixels.astype(np.int32) * int(ds.RescaleSlope) + int(ds.RescaleIntercept)
        assert np.array_equal(hu, case.hu[k])
        positions.append([float(v) for v in ds.ImagePositionPatient])
    assert np.allclose(np.diff(np.array(positions)[:, 2]), 5.0)
    assert np.allclose(np.array(positions)[:, :2], positions[0][:2])

    denoised = sorted((case_dir / "denoised").glob("IM*.dcm"))
    assert len(denoised) == case.n_slices
    ds = pydicom.dcmread(denoised[3])
    assert ds.SeriesDescription == "denoised" and ds.StudyInstanceUID == case.uids.study
    assert ds.SeriesInstanceUID == case.uids.denoised_series != case.uids.series
    assert np.array_equal(ds.pixel_array.astype(np.int32) - 1024, case.denoised[3])


def test_denoised_is_3x3_median(mixed_case: PhantomCase) -> None:
    assert mixed_case.denoised is not None
    expected = ndimage.median_filter(mixed_case.hu, size=(1, 3, 3))
    assert np.array_equal(mixed_case.denoised, expected)
    assert np.array_equal(
        median3x3(mixed_case.hu[:2, :9, :7]), ndimage.median_filter(mixed_case.hu[:2, :9, :7], (1, 3, 3))
    )


def test_ground_truth_round_trip(mixed_case: PhantomCase, tmp_path: Path) -> None:
    truth = read_ground_truth(write_case(mixed_case, tmp_path))
    assert truth.case_id == mixed_case.case_id
    assert np.array_equal(truth.labels, mixed_case.labels)
    assert truth.points == mixed_case.points
    assert truth.sop_instance_uids == mixed_case.uids.sop
    assert truth.masks.keys() == mixed_case.masks.keys()
    assert all(np.array_equal(truth.masks[k], mixed_case.masks[k]) for k in truth.masks)
    assert truth.data["labels_order"] == list(LABELS)
    assert [lesion["id"] for lesion in truth.lesions] == [lesion.id for lesion in mixed_case.lesions]


def test_mix_is_respected() -> None:
    tiny = {"size": 64, "slices_min": 24, "slices_max": 24}
    config = PhantomConfig(seed=9, negative_fraction=0.5, multi_fraction=0.0, **tiny)
    cases = [generate_case(config, i) for i in range(40)]
    negatives = sum(not c.subtypes for c in cases)
    assert 10 <= negatives <= 30
    assert all(len(c.subtypes) <= 1 for c in cases)
    config = PhantomConfig(
        seed=9, negative_fraction=0.0, multi_fraction=1.0, prevalence={"SDH": 1.0, "IPH": 1.0}, **tiny
    )
    for i in range(6):
        assert generate_case(config, i).subtypes == ("IPH", "SDH")


def test_prevalence_parsing_and_validation() -> None:
    assert parse_prevalence("IPH=0.3, sdh=0.2") == {
        "IPH": 0.3,
        "IVH": 0.0,
        "SDH": 0.2,
        "EDH": 0.0,
        "SAH": 0.0,
    }
    for bad in ("XYZ=1", "IPH", "IPH=-1", "IPH=0"):
        with pytest.raises(ValueError):
            parse_prevalence(bad)
    with pytest.raises(ValueError):
        PhantomConfig(negative_fraction=1.5)
    with pytest.raises(ValueError):
        PhantomConfig(slices_min=30, slices_max=20)


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_cli_layout_csv_and_byte_determinism(tmp_path: Path) -> None:
    args = ["--cases", "2", "--seed", "3", "--size", "64", "--slices-min", "24", "--slices-max", "25"]
    args += ["--negative-fraction", "0", "--denoised", "--quiet"]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    assert main([*args, "--out", str(tmp_path / "b")]) == 0
    a = _tree(tmp_path / "a")
    assert a == _tree(tmp_path / "b")

    manifest = read_manifest(tmp_path / "a")
    assert manifest["seed"] == 3 and manifest["n_cases"] == 2 and manifest["options"]["size"] == 64
    assert [c["case_id"] for c in manifest["cases"]] == ["case0001", "case0002"]
    total = 0
    for record in manifest["cases"]:
        case_dir = tmp_path / "a" / record["case_id"]
        n = record["n_slices"]
        total += n
        assert len(list((case_dir / "series").glob("*.dcm"))) == n
        assert len(list((case_dir / "denoised").glob("*.dcm"))) == n
        truth = json.loads((case_dir / "ground_truth.json").read_text())
        assert truth["study_uid"] == record["study_uid"] and truth["series_uid"] == record["series_uid"]
        assert record["subtypes"] and (case_dir / "masks.npz").is_file()

    with open(tmp_path / "a" / "labels_rsna.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["ID", "Label"]
    assert len(rows) == 1 + 6 * total
    first = [r[0].rsplit("_", 1)[1] for r in rows[1:7]]
    assert first == [RSNA_NAMES[c] for c in RSNA_ORDER]
    assert first == ["any", "epidural", "intraparenchymal", "intraventricular", "subarachnoid", "subdural"]
    truth = read_ground_truth(tmp_path / "a" / "case0001")
    expected = generate_case(
        PhantomConfig(seed=3, size=64, slices_min=24, slices_max=25, negative_fraction=0, denoised=True), 0
    )
    assert np.array_equal(truth.labels, expected.labels)
    by_id = {r[0]: int(r[1]) for r in rows[1:]}
    for k, sop in enumerate(truth.sop_instance_uids):
        for code in RSNA_ORDER:
            assert by_id[f"ID_{sop}_{RSNA_NAMES[code]}"] == truth.labels[k, LABELS.index(code)]


def test_generate_dataset_case_independent_of_count(tmp_path: Path) -> None:
    config = PhantomConfig(seed=8, size=64, slices_min=24, slices_max=24)
    generate_dataset(config, tmp_path / "one", 1, progress=False)
    generate_dataset(config, tmp_path / "two", 2, progress=False)
    assert _tree(tmp_path / "one" / "case0001") == _tree(tmp_path / "two" / "case0001")


def test_module_entry_point(tmp_path: Path) -> None:
    out = tmp_path / "cli"
    cmd = [sys.executable, "-m", "ml.phantom", "--cases", "1", "--size", "32", "--out", str(out), "--quiet"]
    subprocess.run(cmd, check=True, capture_output=True, cwd=Path(__file__).resolve().parents[2])
    assert (out / "manifest.json").is_file() and (out / "case0001" / "series" / "IM0001.dcm").is_file()
