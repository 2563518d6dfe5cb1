from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ml.labels import LABELS
from ml.losses import (
    bce_loss,
    class_weighted_bce_loss,
    class_weights_from_counts,
    lewicki_class_weights,
    weighted_bce_loss,
)

LN2 = math.log(2)


def test_class_weights_eq3_hand_numbers() -> None:
    # Class 0: |P| = 1, |N| = 3; class 1: |P| = 3, |N| = 1.
    labels = np.array([[1, 0], [0, 1], [0, 1], [0, 1]])
    a_pos, a_neg = class_weights_from_counts(labels)
    np.testing.assert_allclose(a_pos, [4 / 2, 4 / 6])
    np.testing.assert_allclose(a_neg, [4 / 6, 4 / 2])


def test_class_weights_balance_positive_and_negative_mass() -> None:
    labels = (np.random.default_rng(0).random((50, 6)) < 0.3).astype(np.uint8)
    a_pos, a_neg = class_weights_from_counts(labels)
    positives = labels.sum(axis=0)
    np.testing.assert_allclose(a_pos * positives, a_neg * (50 - positives))
    np.testing.assert_allclose(a_pos * positives, 25.0)


def test_class_weights_refuse_a_class_without_positives_or_negatives() -> None:
    labels = np.zeros((4, 6), dtype=int)
    labels[:2] = 1
    labels[:, 3] = 0
    with pytest.raises(ValueError, match=r"class EDH has no positive training slice"):
        class_weights_from_counts(labels)
    labels[:, 3] = 1
    with pytest.raises(ValueError, match=r"class EDH has no negative"):
        class_weights_from_counts(labels)
    with pytest.raises(ValueError, match="binary"):
        class_weights_from_counts(np.full((3, 6), 0.5))


def test_weighted_bce_eq2_hand_numbers() -> None:
    a_pos, a_neg = [2.0, 2 / 3], [2 / 3, 2.0]
    logits = torch.tensor([[0.0, math.log(3)], [math.log(3), 0.0]], dtype=torch.float64)
    targets = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    # Row 1: p = (1/2, 3/4): -(2 ln 1/2 + 2 ln 1/4) = 6 ln 2.
    # Row 2: p = (3/4, 1/2): -(2/3 ln 1/4 + 2/3 ln 1/2) = 2 ln 2.  Mean over the batch: 4 ln 2.
    loss = weighted_bce_loss(logits, targets, a_pos, a_neg)
    assert loss.item() == pytest.approx(4 * LN2, rel=1e-12)


def test_weighted_bce_soft_targets() -> None:
    # y = 0.5 at z = 0: -(2 * 0.5 ln 1/2 + 2/3 * 0.5 ln 1/2) = 4/3 ln 2.
    loss = weighted_bce_loss(torch.zeros(1, 1), torch.full((1, 1), 0.5), [2.0], [2 / 3])
    assert loss.item() == pytest.approx(4 / 3 * LN2, rel=1e-6)


def test_plain_bce_sums_classes_and_averages_batch() -> None:
    torch.manual_seed(0)
    logits = torch.randn(4, 6, dtype=torch.float64)
    targets = torch.rand(4, 6, dtype=torch.float64)
    expected = F.binary_cross_entropy_with_logits(logits, targets, reduction="sum") / 4
    torch.testing.assert_close(bce_loss(logits, targets), expected)
    ones = np.ones(6)
    torch.testing.assert_close(weighted_bce_loss(logits, targets, ones, ones), expected)
    # Two classes at z = 0: 2 ln 2 per slice, whatever the target.
    assert bce_loss(torch.zeros(3, 2), torch.tensor([[1.0, 0.0]] * 3)).item() == pytest.approx(2 * LN2)


def test_weighted_bce_matches_torch_weight_and_pos_weight() -> None:
    # -[aP y ln p + aN (1-y) ln(1-p)] = -aN [(aP/aN) y ln p + (1-y) ln(1-p)]: weight aN, pos_weight aP/aN.
    torch.manual_seed(1)
    logits = torch.randn(8, 6, dtype=torch.float64) * 3
    targets = torch.rand(8, 6, dtype=torch.float64)
    a_pos = torch.rand(6, dtype=torch.float64) * 3 + 0.1
    a_neg = torch.rand(6, dtype=torch.float64) * 3 + 0.1
    reference = F.binary_cross_entropy_with_logits(
        logits, targets, weight=a_neg, pos_weight=a_pos / a_neg, reduction="none"
    )
    torch.testing.assert_close(weighted_bce_loss(logits, targets, a_pos, a_neg), reference.sum(1).mean())


def test_stable_at_extreme_logits() -> None:
    logits = torch.tensor([[100.0, -100.0, 100.0, -100.0]], requires_grad=True)
    targets = torch.tensor([[0.0, 1.0, 1.0, 0.0]])
    loss = weighted_bce_loss(logits, targets, [1.0, 2.0, 1.0, 1.0], [3.0, 1.0, 1.0, 1.0])
    assert torch.isfinite(loss)
    assert loss.item() == pytest.approx(3 * 100 + 2 * 100, rel=1e-6)
    loss.backward()
    assert torch.isfinite(logits.grad).all()


def test_shape_checks() -> None:
    with pytest.raises(ValueError, match="batch, classes"):
        bce_loss(torch.zeros(2, 6), torch.zeros(2, 5))
    with pytest.raises(ValueError, match="a_pos must have one value per class"):
        weighted_bce_loss(torch.zeros(2, 6), torch.zeros(2, 6), [1.0] * 5, [1.0] * 6)


def test_lewicki_weights_in_our_label_order() -> None:
    weights = lewicki_class_weights()
    assert weights.tolist() == [1, 1, 1, 2, 1, 1]
    assert weights[LABELS.index("EDH")] == 2


def test_class_weighted_bce_matches_torch_weight() -> None:
    torch.manual_seed(2)
    logits = torch.randn(5, 6, dtype=torch.float64)
    targets = (torch.rand(5, 6) < 0.4).double()
    w = torch.as_tensor(lewicki_class_weights())
    expected = F.binary_cross_entropy_with_logits(logits, targets, weight=w, reduction="sum") / 5
    torch.testing.assert_close(class_weighted_bce_loss(logits, targets, lewicki_class_weights()), expected)


def test_a_training_set_without_positive_slices_for_a_label_is_named_in_a_warning(caplog) -> None:
    from ml.data import CaseData
    from ml.recipes import RECIPES
    from ml.trainer import loss_function

    labels = np.zeros((4, len(LABELS)), np.float32)
    labels[1, LABELS.index("IPH")] = labels[1, LABELS.index("ANY")] = 1  # IPH and ANY only
    case = CaseData("c1", "p1", np.zeros((4, 8, 8), np.int16), labels)
    recipe = RECIPES["lite"].with_(sampling="shuffle")
    with caplog.at_level("WARNING", logger="ml.trainer"):
        loss = loss_function(recipe, [case], torch.device("cpu"))
    assert "eq. 3 weights undefined for IVH, SDH, EDH, SAH" in caplog.text
    z, y = torch.zeros(2, len(LABELS)), torch.zeros(2, len(LABELS))
    assert torch.isfinite(loss(z, y))  # still trains, the undefined labels at weight 1
