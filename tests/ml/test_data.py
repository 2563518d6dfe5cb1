from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from ml.data import CaseData, DatasetError, load_phantom_dataset, patient_split, slice_labels
from ml.labels import LABELS
from ml.phantom import PhantomConfig, generate_case, generate_dataset
from ml.preprocess import prepare_volume
from ml.recipes import STEPS, StepConfig
from ml.slices import SliceBatchSampler, SliceDataset, SliceKey, make_loader

pytestmark = pytest.mark.usefixtures("one_torch_thread")

ANY = LABELS.index("ANY")


def _case(case_id: str, patient: str, positive: bool, n_slices: int = 3) -> CaseData:
    labels = np.zeros((n_slices, len(LABELS)), np.float32)
    if positive:
        labels[1, [0, ANY]] = 1
    return CaseData(case_id, patient, np.zeros((n_slices, 4, 4), np.int16), labels)


def _cohort() -> list[CaseData]:
    """40 patients, 14 of them positive; every fourth patient has a second case."""
    cases = []
    for p in range(40):
        cases.append(_case(f"c{p:02d}a", f"P{p:02d}", positive=p % 3 == 0))
        if p % 4 == 0:
            cases.append(_case(f"c{p:02d}b", f"P{p:02d}", positive=False))
    return cases


def _phantoms(n: int = 4, size: int = 64, seed: int = 3) -> list[CaseData]:
    cfg = PhantomConfig(seed=seed, size=size, slices_min=6, slices_max=6, negative_fraction=0.3)
    out = []
    for i in range(n):
        c = generate_case(cfg, i)
        out.append(CaseData(c.case_id, c.patient.patient_id, c.hu, c.labels, c.denoised))
    return out


def test_case_data_checks_shapes() -> None:
    with pytest.raises(ValueError, match="labels must be"):
        CaseData("c", "p", np.zeros((2, 4, 4), np.int16), np.zeros((2, 5)))
    with pytest.raises(ValueError, match="hu must be"):
        CaseData("c", "p", np.zeros((3, 4, 4), np.int16), np.zeros((2, 6)))
    case = _case("c", "p", positive=True)
    assert case.is_positive and case.n_slices == 3 and case.labels.dtype == np.float32
    assert slice_labels([case, case], 5).shape == (6, 5)


def test_patient_split_keeps_patients_together_and_stratifies() -> None:
    cases = _cohort()
    train, val, test = patient_split(cases, val_fraction=0.2, test_fraction=0.2, seed=1)
    sets = [{c.patient_id for c in s} for s in (train, val, test)]
    assert not (sets[0] & sets[1] or sets[0] & sets[2] or sets[1] & sets[2])
    assert sorted(c.case_id for s in (train, val, test) for c in s) == sorted(c.case_id for c in cases)
    for part in (train, val, test):
        assert any(c.is_positive for c in part) and not all(c.is_positive for c in part)
    # 14 positive and 26 negative patients: round(0.2 x n) of each stratum.
    assert len(sets[1]) == 3 + 5 and len(sets[2]) == 3 + 5
    again = patient_split(cases, 0.2, 0.2, seed=1)
    assert [c.case_id for c in again[1]] == [c.case_id for c in val]
    assert [c.case_id for c in patient_split(cases, 0.2, 0.2, seed=2)[1]] != [c.case_id for c in val]


def test_small_strata_still_give_validation_a_positive() -> None:
    cases = [_case(f"c{i}", f"P{i}", positive=i < 2) for i in range(6)]
    train, val, test = patient_split(cases, 0.2, 0.2, seed=0)
    assert sum(c.is_positive for c in val) == 1 and sum(c.is_positive for c in train) == 1
    assert len(train) + len(val) + len(test) == 6


def test_balanced_validation_has_equal_ich_and_non_ich_cases() -> None:
    cases = _cohort()
    train, val, test = patient_split(cases, test_fraction=0.2, seed=0, balanced_val_cases=8)
    assert sum(c.is_positive for c in val) == 4 and len(val) == 8
    assert not {c.patient_id for c in val} & {c.patient_id for c in train + test}
    with pytest.raises(ValueError, match="balanced"):
        patient_split(cases, test_fraction=0.2, balanced_val_cases=60)


def test_m1_dataset_gives_five_subtype_labels_and_the_preprocessed_slice() -> None:
    cases = _phantoms(2)
    data = SliceDataset(cases, STEPS["M1"], windowing="brain", size=32, train=True)
    assert len(data) == 12  # M1: no interpolated items
    image, label = data[7]
    assert image.shape == (3, 32, 32) and image.dtype == torch.float32
    assert label.shape == (5,) and torch.equal(label, torch.from_numpy(cases[1].labels[1, :5]))
    expected = prepare_volume(cases[1].hu, "brain", 32)[1]
    assert torch.allclose(image, expected, atol=1e-6)


def test_m4_items_and_soft_labels_between_neighbours() -> None:
    cases = _phantoms(3)
    no_aug = StepConfig("M4-no-aug", augmentation=False)
    data = SliceDataset(cases, no_aug, windowing="paper", size=32, native_size=128, train=True)
    assert len(data) == 3 * 18  # each slice plus its two interpolations
    sampler = SliceBatchSampler(data, batch_size=16, seed=0)
    batches = list(sampler)
    assert len({keys[0].betas for keys in batches}) == len(batches)  # a new b per batch
    volumes = {id(c): prepare_volume(c.hu, "paper", 32) for c in cases}
    soft = 0
    for keys in batches:
        (b1, b2) = keys[0].betas
        assert 0.5 < b1 < 1.0 and 0.5 < b2 < 1.0 and b1 != b2
        for key in keys:
            assert key.betas == (b1, b2)
            ci, s, t, bi = data.items[key.item]
            image, label = data[key]
            if t < 0:
                assert torch.equal(label, torch.from_numpy(cases[ci].labels[s]))
                continue
            b = (b1, b2)[bi]
            y_s, y_t = cases[ci].labels[s], cases[ci].labels[t]
            assert np.allclose(label.numpy(), b * y_s + (1 - b) * y_t, atol=1e-6)
            assert (label.numpy() >= np.minimum(y_s, y_t) - 1e-6).all()
            assert (label.numpy() <= np.maximum(y_s, y_t) + 1e-6).all()
            soft += bool(((label > 0) & (label < 1)).any())
            x = volumes[id(cases[ci])]
            assert torch.allclose(image, b * x[s] + (1 - b) * x[t], atol=1e-5)
    assert soft > 0
    interpolated = next(i for i in range(len(data)) if data.is_interpolated(i))
    with pytest.raises(ValueError, match="SliceBatchSampler"):
        data[interpolated]


def test_m4_augmented_batches_are_deterministic_per_seed_and_epoch() -> None:
    cases = _phantoms(2)
    data = SliceDataset(cases, STEPS["M4"], windowing="paper", size=32, native_size=128, train=True)
    sampler = SliceBatchSampler(data, batch_size=8, seed=5, max_batches=2)
    first = [(x.clone(), y.clone()) for x, y in make_loader(data, sampler)]
    assert len(first) == 2 and first[0][0].shape == (8, 3, 32, 32) and first[0][1].shape == (8, 6)
    again = list(make_loader(data, sampler))
    assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(first, again, strict=True))
    sampler.set_epoch(1)
    assert not torch.equal(next(iter(make_loader(data, sampler)))[0], first[0][0])
    # An original slice read with a seed is augmented; without one it is the plain slice.
    key = SliceKey(0, seed=123)
    assert not torch.equal(data[key][0], data[0][0])
    assert torch.equal(data[key][0], data[key][0])


def test_validation_dataset_has_originals_only_in_order() -> None:
    cases = _phantoms(2)
    data = SliceDataset(cases, STEPS["M4"], windowing="paper", size=32, train=False)
    assert len(data) == 12 and not data.interpolating and not data.augmenting
    keys = [k for batch in SliceBatchSampler(data, 5, shuffle=False) for k in batch]
    assert [k.item for k in keys] == list(range(12)) and all(k.betas is None and k.seed is None for k in keys)


def test_load_phantom_dataset_reads_dicom_labels_and_caches(tmp_path: Path) -> None:
    cfg = PhantomConfig(seed=4, size=48, slices_min=5, slices_max=6, negative_fraction=0.0, denoised=True)
    generate_dataset(cfg, tmp_path / "ds", n_cases=2, progress=False)
    cases = load_phantom_dataset(tmp_path / "ds", cache_dir=tmp_path / "cache")
    assert [c.case_id for c in cases] == ["case0001", "case0002"]
    for i, case in enumerate(cases):
        truth = generate_case(cfg, i)
        assert isinstance(case.hu, Path) and case.hu.parent == tmp_path / "cache"
        assert np.array_equal(case.volume(), truth.hu)
        assert np.array_equal(case.denoised_volume(), truth.denoised)
        assert np.array_equal(case.labels, truth.labels.astype(np.float32))
        assert case.patient_id == truth.patient.patient_id
    cached = load_phantom_dataset(tmp_path / "ds", cache_dir=tmp_path / "cache")
    assert np.array_equal(cached[1].volume(), cases[1].volume())
    in_memory = load_phantom_dataset(tmp_path / "ds")
    assert isinstance(in_memory[0].hu, np.ndarray)


def test_load_phantom_dataset_names_the_bad_path(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"nowhere: no such folder.*manifest\.json"):
        load_phantom_dataset(tmp_path / "nowhere")
    with pytest.raises(DatasetError, match=r"not a dataset \(no manifest\.json\)"):
        load_phantom_dataset(tmp_path)
