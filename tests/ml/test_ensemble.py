from __future__ import annotations

import numpy as np
import pytest

from ml.ensemble import average, case_probabilities, majority_vote, vote_fraction, weighted_average
from ml.stats import threshold_for_sensitivity, thresholds_for_min_precision, thresholds_for_sensitivity


def test_average_and_weighted_average_hand_numbers() -> None:
    a = np.array([[0.2, 0.4]])
    b = np.array([[0.6, 0.8]])
    np.testing.assert_allclose(average([a, b]), [[0.4, 0.6]])
    np.testing.assert_allclose(weighted_average([a, b], [3, 1]), [[0.75 * 0.2 + 0.25 * 0.6, 0.5]])
    np.testing.assert_allclose(weighted_average([a, b], [[1, 0], [1, 1]]), [[0.4, 0.8]])
    with pytest.raises(ValueError, match="same"):
        average([a, np.zeros((2, 2))])
    with pytest.raises(ValueError, match="non-negative"):
        weighted_average([a, b], [1, -1])


def test_majority_vote_tie_is_positive_and_p_equal_t_votes_yes() -> None:
    # One slice, one class, four models.
    models = [np.array([[p]]) for p in (0.6, 0.7, 0.1, 0.2)]
    assert vote_fraction(models, 0.5).item() == 0.5
    assert majority_vote(models, 0.5).item() == 1  # 2 of 4: a tie counts as positive
    models = [np.array([[p]]) for p in (0.6, 0.1, 0.2, 0.3)]
    assert majority_vote(models, 0.5).item() == 0
    models = [np.array([[p]]) for p in (0.5, 0.5, 0.1)]
    assert majority_vote(models, 0.5).item() == 1  # p == t is a positive vote


def test_majority_vote_per_class_and_per_model_thresholds() -> None:
    models = [np.array([[0.3, 0.3]]), np.array([[0.3, 0.3]]), np.array([[0.9, 0.1]])]
    np.testing.assert_array_equal(majority_vote(models, [0.2, 0.5]), [[1, 0]])
    per_model = np.array([[0.4, 0.1], [0.2, 0.1], [0.95, 0.95]])
    np.testing.assert_allclose(vote_fraction(models, per_model), [[1 / 3, 2 / 3]])


def test_case_probabilities_is_max_over_slices() -> None:
    slices = np.array([[0.1, 0.9], [0.7, 0.2], [0.3, 0.4]])
    np.testing.assert_allclose(case_probabilities(slices), [0.7, 0.9])
    with pytest.raises(ValueError):
        case_probabilities(np.zeros((0, 6)))


def test_threshold_for_sensitivity_hand_numbers() -> None:
    y = [1, 1, 1, 1, 0, 0]
    s = [0.9, 0.8, 0.4, 0.3, 0.5, 0.1]
    assert threshold_for_sensitivity(y, s, 0.75) == 0.4
    assert threshold_for_sensitivity(y, s, 0.95) == 0.3
    assert threshold_for_sensitivity(y, s, 1.0) == 0.3
    assert threshold_for_sensitivity(y, s, 0.5) == 0.8
    # A tied score counts every sample at that score.
    assert threshold_for_sensitivity([1, 0, 1], [0.5, 0.5, 0.2], 0.5) == 0.5
    with pytest.raises(ValueError, match="positive"):
        threshold_for_sensitivity([0, 0], [0.1, 0.2])
    with pytest.raises(ValueError, match="target"):
        threshold_for_sensitivity(y, s, 0.0)


def _brute_sensitivity(y: np.ndarray, s: np.ndarray, target: float) -> float:
    positives = s[y == 1]
    ok = [t for t in np.unique(s) if (positives >= t).mean() >= target - 1e-12]
    return max(ok)


def test_threshold_for_sensitivity_matches_brute_force() -> None:
    rng = np.random.default_rng(3)
    for _ in range(40):
        n = int(rng.integers(5, 60))
        y = (rng.random(n) < 0.4).astype(int)
        y[0] = 1
        s = np.round(rng.random(n), 1)  # ties on purpose
        target = float(rng.choice([0.5, 0.8, 0.9, 0.95, 1.0]))
        assert threshold_for_sensitivity(y, s, target) == _brute_sensitivity(y, s, target)


def test_thresholds_for_sensitivity_per_class() -> None:
    y = np.array([[1, 0], [0, 0], [1, 0]])
    s = np.array([[0.9, 0.2], [0.5, 0.3], [0.6, 0.4]])
    out = thresholds_for_sensitivity(y, s, 1.0)
    assert out[0] == 0.6 and np.isnan(out[1])


def test_min_precision_hand_numbers() -> None:
    # t=0.9: P 1, R 1/3; t=0.8: P 1/2, R 1/3; t=0.7: P 2/3, R 2/3; t=0.3: P 3/4, R 1; t=0.2: P 3/5, R 1.
    y = np.array([1, 0, 1, 1, 0])[:, None]
    s = np.array([0.9, 0.8, 0.7, 0.3, 0.2])[:, None]
    at70 = thresholds_for_min_precision(y, s, 0.7)
    assert (at70.thresholds[0], at70.precision[0], at70.recall[0], at70.reached[0]) == (0.3, 0.75, 1.0, True)
    at80 = thresholds_for_min_precision(y, s, 0.8)
    assert at80.thresholds[0] == 0.9 and at80.recall[0] == pytest.approx(1 / 3)


def test_min_precision_unreachable_and_no_positive() -> None:
    y = np.array([[0, 0], [1, 0]])
    s = np.array([[0.9, 0.3], [0.1, 0.2]])
    out = thresholds_for_min_precision(y, s, 0.6)
    assert out.reached.tolist() == [False, False]
    assert np.isnan(out.thresholds).all() and np.isnan(out.recall).all()


def _brute_min_precision(y: np.ndarray, s: np.ndarray, floor: float) -> float:
    best = (-1.0, -np.inf)  # (recall, threshold)
    for t in np.unique(s):
        predicted = s >= t
        tp = int((predicted & (y == 1)).sum())
        precision = tp / predicted.sum()
        recall = tp / (y == 1).sum()
        if precision >= floor and (recall, t) > best:
            best = (recall, t)
    return best[1] if best[0] >= 0 else np.nan


def test_min_precision_matches_brute_force() -> None:
    rng = np.random.default_rng(11)
    for _ in range(15):
        n, c = int(rng.integers(8, 50)), 4
        y = (rng.random((n, c)) < 0.35).astype(int)
        y[0] = 1
        s = np.round(np.clip(rng.normal(0.35 + 0.3 * y, 0.25), 0, 1), 2)
        floor = float(rng.choice([0.5, 0.7, 0.9]))
        out = thresholds_for_min_precision(y, s, floor)
        expected = np.array([_brute_min_precision(y[:, k], s[:, k], floor) for k in range(c)])
        np.testing.assert_array_equal(out.thresholds, expected)
        assert (out.reached == ~np.isnan(expected)).all()
        assert (out.precision[out.reached] >= floor).all()
