"""The atlas (relevance counts, streaming build, storage), eq. 7 retrieval and the questionnaire picks."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from ml.atlas import (
    Atlas,
    AtlasError,
    build_atlas,
    load_atlas,
    patch_box,
    relevance_counts,
    relevance_counts_many,
)
from ml.bundle import BundleMeta, load_bundle, save_bundle
from ml.cam import TARGET_LAYERS, feature_maps, gradcam
from ml.data import CaseData
from ml.explain import build_bundle_atlas
from ml.labels import LABELS
from ml.models import build_architecture
from ml.phantom import PhantomConfig, generate_case
from ml.preprocess import prepare_volume
from ml.retrieval import (
    Ranking,
    questionnaire_candidates,
    questionnaire_positions,
    rank_by_distance,
    rank_entries,
    retrieve,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SIZE = 64
PHANTOM = PhantomConfig(seed=5, size=64, slices_min=6, slices_max=6, negative_fraction=0.0)


# ------------------------------------------------------------------------------------- relevance counts


def test_relevance_count_worked_example() -> None:
    """Top SAH+IPH, second SAH, third SDH -> SAH 2, IPH 1, others 0 (docs/science.md, "Atlas")."""
    rows = [{"SAH", "IPH"}, {"SAH"}, {"SDH"}, {"SAH", "IPH", "SDH"}]
    order = np.array([[label in row for label in LABELS] for row in rows])
    counts = dict(zip(LABELS, relevance_counts(order).tolist(), strict=True))
    assert counts == {"IPH": 1, "IVH": 0, "SDH": 0, "EDH": 0, "SAH": 2, "ANY": 0}


def test_vectorised_counts_equal_the_pure_count() -> None:
    rng = np.random.default_rng(0)
    labels = rng.random((40, 12, 6)) < 0.7
    many = relevance_counts_many(labels)
    assert many.shape == (40, 6)
    for f in range(40):
        np.testing.assert_array_equal(many[f], relevance_counts(labels[f]))
    valid = np.arange(12)[None, :] < rng.integers(0, 13, size=(40, 1))
    stopped = relevance_counts_many(labels, valid)
    for f in range(40):
        np.testing.assert_array_equal(stopped[f], relevance_counts(labels[f, : valid[f].sum()]))


class Probe(nn.Module):
    """Block ``feat`` has two filters that copy the first two input channels; GAP -> FC gives the logits."""

    def __init__(self, n_outputs: int = 2) -> None:
        super().__init__()
        self.feat = nn.Conv2d(3, 2, kernel_size=1, bias=False)
        with torch.no_grad():
            self.feat.weight.zero_()
            self.feat.weight[0, 0] = 1
            self.feat.weight[1, 1] = 1
        self.fc = nn.Linear(2, n_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.feat(x).mean(dim=(2, 3)))


def _probe_images(peaks: list[tuple[float, float]], size: int = 32) -> torch.Tensor:
    """Images that are zero but for one pixel per image: (row 10, col 20) holds the two filters' peaks."""
    images = torch.zeros(len(peaks), 3, size, size)
    for i, (a, b) in enumerate(peaks):
        images[i, 0, 10, 20] = a
        images[i, 1, 10, 20] = b
    return images


def _batches(images: torch.Tensor, labels: np.ndarray, size: int) -> list:
    out = []
    for start in range(0, len(images), size):
        stop = min(start + size, len(images))
        out.append((images[start:stop], labels[start:stop], [("c", k) for k in range(start, stop)]))
    return out


def _probe_atlas(top_m: int, batch: int = 3, top_fraction: float = 1.0, peaks=None, labels=None) -> Atlas:
    # Filter 0 fires on image i with 10 - i, shuffled; filter 1 is silent (<= 0) everywhere.
    order = [3, 0, 7, 9, 1, 5, 2, 8, 4, 6]
    peaks = peaks or [(10.0 - i, -1.0) for i in order]
    if labels is None:  # label A on all images, label B on the two with the highest activation only
        labels = np.array([[True, i < 2] for i in order])
    return build_atlas(
        Probe(), "probe", _batches(_probe_images(peaks), labels, batch), ("A", "B"), blocks=["feat"],
        top_fraction=top_fraction, top_m=top_m, patch_pixels=8,
    )  # fmt: skip


def test_build_counts_and_documented_cap() -> None:
    capped = _probe_atlas(top_m=4)
    assert [(e.label, e.filter, e.relevance, e.capped) for e in capped.entries] == [
        ("A", 0, 4, True),  # all 4 kept images carry A: the true count (10) is >= 4
        ("B", 0, 2, False),  # ends inside the kept list: exact
    ]
    exact = _probe_atlas(top_m=16)
    assert [(e.label, e.relevance, e.capped) for e in exact.entries] == [("A", 10, False), ("B", 2, False)]
    assert exact.n_filters == {"feat": 2} and exact.n_images == 10
    top = exact.entries[0]
    assert (top.case_id, top.slice_index) == ("c", 1) and top.activation == pytest.approx(10.0)


def test_build_is_independent_of_batching() -> None:
    a, b = _probe_atlas(top_m=5, batch=1), _probe_atlas(top_m=5, batch=10)
    assert a.entries == b.entries
    np.testing.assert_array_equal(a.patches, b.patches)
    np.testing.assert_array_equal(a.maps, b.maps)


def test_patch_and_map_are_cut_around_the_peak() -> None:
    atlas = _probe_atlas(top_m=4)
    x0, y0, x1, y1 = atlas.entries[0].box
    assert x0 <= 20 < x1 and y0 <= 10 < y1 and x1 - x0 == 4  # 32 px input: side max(32 // 8, 4 cells)
    patch, amap = atlas.patches[0], atlas.maps[0]
    assert patch.shape == (8, 8, 3) and patch.dtype == np.uint8 and amap.dtype == np.float16
    row, col = np.unravel_index(np.argmax(patch[..., 0]), (8, 8))
    assert (x0 + (col + 0.5) / 2, y0 + (row + 0.5) / 2) == pytest.approx((20.5, 10.5), abs=0.5)
    assert 0.2 < float(amap.max()) <= 1.0 and float(amap.min()) == 0.0
    # Channel 2 is a ramp over the columns: the patch samples it at the box's pixels, normalisation undone.
    images = _probe_images([(1.0, -1.0)])
    images[0, 2] = torch.arange(32.0) / 32
    one = build_atlas(
        Probe(), "probe", [(images, np.ones((1, 2), bool), [("c", 0)])], ("A", "B"), ["feat"], 1.0,
        top_m=2, patch_pixels=8,
    )  # fmt: skip
    x0 = one.entries[0].box[0]
    centres = x0 + (np.arange(8) + 0.5) / 2 - 0.5  # pixel k's value sits at k + 0.5
    expected = np.round(255 * (centres / 32 * 0.225 + 0.406))
    np.testing.assert_allclose(one.patches[0, 3, :, 2], expected, atol=1)


def test_per_label_selection_top_fraction_and_ties() -> None:
    order = list(range(10))
    # Both filters rank the images alike (A on the top 3); filter 1's top activation is the higher.
    peaks = [(10.0 - i, 20.0 - i) for i in order]
    labels = np.array([[i < 3, False] for i in order])
    atlas = _probe_atlas(top_m=8, top_fraction=0.5, peaks=peaks, labels=labels)
    assert [(e.label, e.filter, e.relevance, e.rank) for e in atlas.entries] == [("A", 1, 3, 1)]
    assert atlas.counts() == {"A": 1, "B": 0}
    both = _probe_atlas(top_m=8, top_fraction=1.0, peaks=peaks, labels=labels)
    assert [e.filter for e in both.entries] == [1, 0]
    assert both.filters("A") == {"feat": [1, 0]} and both.filters("B") == {}


def test_build_checks_its_inputs() -> None:
    images = _probe_images([(1.0, 1.0)] * 2)
    with pytest.raises(ValueError, match="labels"):
        build_atlas(
            Probe(), "probe", [(images, np.ones((2, 3), bool), [("c", 0), ("c", 1)])], ("A", "B"), ["feat"]
        )
    with pytest.raises(ValueError, match="no images"):
        build_atlas(Probe(), "probe", [], ("A", "B"), ["feat"])
    with pytest.raises(ValueError, match="pass blocks"):
        build_atlas(Probe(), "probe", [], ("A", "B"))


def test_patch_box_sides_and_edges() -> None:
    sides = [patch_box(0, 0, (h, h), 224)[2] - patch_box(0, 0, (h, h), 224)[0] for h in (56, 28, 14, 7)]
    assert sides == [28, 32, 64, 128]  # ResNet-50 layer1..layer4 at 224 px
    assert patch_box(0, 0, (7, 7), 224)[:2] == (0, 0)
    assert patch_box(6, 6, (7, 7), 224)[2:] == (224, 224)
    assert patch_box(3, 3, (7, 7), 224) == (48, 48, 176, 176)


# --------------------------------------------------------------------------------- atlas of a real net


@pytest.fixture(scope="module")
def tiny_bundle(tmp_path_factory: pytest.TempPathFactory):
    torch.manual_seed(0)
    model = build_architecture("tiny", 6)
    model.train()
    with torch.no_grad():
        model(torch.randn(8, 3, SIZE, SIZE) * 2)
    folder = tmp_path_factory.mktemp("bundle")
    save_bundle(folder, {"tiny": model.eval()}, BundleMeta(input_size={"tiny": SIZE}))
    return load_bundle(folder)


@pytest.fixture(scope="module")
def cases() -> list[CaseData]:
    out = []
    for i in range(2):
        case = generate_case(PHANTOM, i)
        out.append(CaseData(case.case_id, case.case_id, case.hu, case.labels))
    return out


@pytest.fixture(scope="module")
def atlas(tiny_bundle, cases: list[CaseData]) -> Atlas:
    torch.set_num_threads(1)
    return build_bundle_atlas(tiny_bundle, cases, batch_size=4, top_m=6, top_fraction=0.1)


def test_bundle_atlas_on_phantom_slices(atlas: Atlas, cases: list[CaseData]) -> None:
    n_filters = 16 + 32 + 64 + 128
    assert atlas.n_filters == dict(zip(atlas.blocks, (16, 32, 64, 128), strict=True))
    assert atlas.n_images == sum(c.n_slices for c in cases) and atlas.input_size == SIZE
    labels_of = {c.case_id: c.labels for c in cases}
    for label, n in atlas.counts().items():
        assert n <= math.ceil(0.1 * n_filters)
        ranks = [atlas.entries[i].rank for i in atlas.indices(label)]
        assert ranks == list(range(1, n + 1))
    for entry in atlas.entries:
        assert labels_of[entry.case_id][entry.slice_index, LABELS.index(entry.label)] == 1  # top image has it
        assert 1 <= entry.relevance <= 6 and entry.activation > 0
    assert atlas.maps.shape == (len(atlas.entries), 64, 64) and atlas.patches.shape[-1] == 3
    assert float(atlas.maps.max()) <= 1.0 and float(atlas.maps.min()) >= 0.0
    assert atlas.source["weights_sha256"] and atlas.source["arch"] == "tiny"


def test_save_load_round_trip_without_pickle(atlas: Atlas, tmp_path: Path) -> None:
    atlas.save(tmp_path)
    with np.load(tmp_path / "arrays.npz", allow_pickle=False) as npz:
        assert sorted(npz.files) == ["maps", "patches"]
    loaded = load_atlas(tmp_path)
    assert loaded.entries == atlas.entries
    for name in ("arch", "label_order", "blocks", "n_filters", "input_size", "n_images", "top_m", "source"):
        assert getattr(loaded, name) == getattr(atlas, name)
    np.testing.assert_array_equal(loaded.maps, atlas.maps)
    np.testing.assert_array_equal(loaded.patches, atlas.patches)
    doc = json.loads((tmp_path / "atlas.json").read_text())
    assert doc["counts"] == atlas.counts() and doc["version"] == 1


def test_load_refuses_what_is_not_an_atlas(atlas: Atlas, tmp_path: Path) -> None:
    with pytest.raises(AtlasError, match=r"atlas\.json not found"):
        load_atlas(tmp_path)
    atlas.save(tmp_path)
    doc = json.loads((tmp_path / "atlas.json").read_text())
    (tmp_path / "atlas.json").write_text(json.dumps(doc | {"version": 99}))
    with pytest.raises(AtlasError, match="version 99"):
        load_atlas(tmp_path)
    (tmp_path / "atlas.json").write_text(json.dumps(doc | {"entries": doc["entries"][1:]}))
    with pytest.raises(AtlasError, match="entries need maps"):
        load_atlas(tmp_path)


# ------------------------------------------------------------------------------------------- retrieval


def test_rank_by_distance_on_hand_made_maps() -> None:
    target = np.zeros((4, 4))
    target[1, 1] = 1.0
    other = np.zeros((4, 4))
    other[2, 3] = 5.0
    mixed = target + other / 5
    maps = np.stack([other, 3 * target, np.zeros((4, 4)), target, mixed])
    order, d = rank_by_distance(maps, target)
    assert order.tolist() == [1, 3, 4, 2, 0]  # ties keep the lower index first
    np.testing.assert_allclose(d, [0, 0, math.sqrt(2 - math.sqrt(2)), 1, math.sqrt(2)], atol=1e-12)
    _, both_zero = rank_by_distance(np.zeros((1, 4, 4)), np.zeros((4, 4)))
    assert both_zero.tolist() == [0.0]
    with pytest.raises(ValueError, match="one \\(h, w\\) map"):
        rank_by_distance(maps, np.zeros((3, 3)))


def test_questionnaire_positions_and_picks() -> None:
    assert questionnaire_positions(787) == (1, 393, 394, 787)
    assert questionnaire_positions(4) == (1, 2, 3, 4)
    ranking = Ranking("SAH", np.arange(787)[::-1].copy(), np.linspace(0, 2, 787))
    picks = questionnaire_candidates(ranking)
    assert [(c.role, c.position, c.entry) for c in picks] == [
        ("lowest", 1, 786),
        ("middle", 393, 394),
        ("middle", 394, 393),
        ("highest", 787, 0),
    ]
    assert picks[0].distance == 0.0 and picks[-1].distance == 2.0
    with pytest.raises(ValueError, match="at least 4"):
        questionnaire_candidates(Ranking("SAH", np.arange(3), np.zeros(3)))


def test_retrieve_ranks_the_labels_entries(tiny_bundle, atlas: Atlas, cases: list[CaseData]) -> None:
    label = max(atlas.label_order, key=lambda x: atlas.counts()[x])
    model = tiny_bundle.models["tiny"]
    image = prepare_volume(cases[0].hu[2:3], tiny_bundle.windowing, SIZE)
    c = LABELS.index(label)
    ranking = retrieve(model, atlas, image, c, label)
    assert sorted(ranking.entries.tolist()) == atlas.indices(label).tolist()
    assert np.all(np.diff(ranking.distances) >= 0) and ranking.distances.max() <= 2 + 1e-9
    # The same ranking from the separately computed eq. 6 and eq. 5 maps.
    wanted = atlas.filters(label)
    features = feature_maps(model, image, list(wanted), c, wanted)
    cam = gradcam(model, image, TARGET_LAYERS["tiny"], c)
    again = rank_entries(atlas, label, {b: m[0] for b, m in features.items()}, cam[0])
    np.testing.assert_array_equal(again.entries, ranking.entries)
    np.testing.assert_allclose(again.distances, ranking.distances, atol=1e-6)
    assert [r.position for r in ranking.top(3)] == [1, 2, 3]
    with pytest.raises(ValueError, match="image must be"):
        retrieve(model, atlas, image[:, :, :32, :32], c, label)
