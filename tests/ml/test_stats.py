from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from ml.stats import average_precision, mean_average_precision, per_class_average_precision, roc_auc


def _random_case(seed: int, n: int, ties: bool) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < rng.uniform(0.05, 0.6)).astype(int)
    y[rng.integers(n)] = 1
    y[rng.integers(n)] = 0
    # Rounded scores give many ties, as probabilities stored at a few decimals do.
    s = rng.random(n).round(1) if ties else rng.random(n)
    return y, s


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("seed", range(8))
def test_average_precision_and_auc_match_sklearn(seed: int, ties: bool) -> None:
    y, s = _random_case(seed, n=50 + 37 * seed, ties=ties)
    assert average_precision(y, s) == pytest.approx(average_precision_score(y, s), abs=1e-12)
    assert roc_auc(y, s) == pytest.approx(roc_auc_score(y, s), abs=1e-12)


def test_all_scores_tied() -> None:
    y = np.array([1, 0, 0, 1, 0])
    s = np.full(5, 0.3)
    assert average_precision(y, s) == pytest.approx(average_precision_score(y, s), abs=1e-12)
    assert roc_auc(y, s) == 0.5


def test_docstring_values_and_perfect_ranking() -> None:
    assert average_precision([0, 1, 1, 0], [0.1, 0.8, 0.4, 0.4]) == pytest.approx(5 / 6)
    assert roc_auc([0, 1, 1, 0], [0.1, 0.8, 0.4, 0.4]) == 0.875
    assert average_precision([0, 0, 1], [0.1, 0.2, 0.9]) == 1.0
    assert roc_auc([1, 1, 0], [0.1, 0.2, 0.9]) == 0.0


def test_mean_average_precision_skips_classes_without_positives() -> None:
    rng = np.random.default_rng(3)
    y = (rng.random((200, 6)) < 0.3).astype(int)
    y[:, 3] = 0
    s = rng.random((200, 6))
    expected = np.mean([average_precision_score(y[:, c], s[:, c]) for c in (0, 1, 2, 4, 5)])
    assert mean_average_precision(y, s) == pytest.approx(expected, abs=1e-12)
    assert np.isnan(per_class_average_precision(y, s)[3])
    assert np.isnan(mean_average_precision(np.zeros((4, 2)), s[:4, :2]))


def test_undefined_and_invalid_input() -> None:
    assert np.isnan(average_precision([0, 0], [0.1, 0.2]))
    assert np.isnan(roc_auc([1, 1], [0.1, 0.2]))
    with pytest.raises(ValueError, match="binary"):
        average_precision([0, 0.5], [0.1, 0.2])
    with pytest.raises(ValueError, match="one length"):
        roc_auc([0, 1, 1], [0.1, 0.2])
    with pytest.raises(ValueError, match="finite"):
        roc_auc([0, 1], [0.1, np.nan])
