from __future__ import annotations

import warnings
from statistics import NormalDist

import numpy as np
import pytest
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import (
    average_precision_score,
    cohen_kappa_score,
    precision_recall_curve,
    roc_auc_score,
)
from sklearn.metrics import roc_curve as sk_roc_curve
from statsmodels.stats.inter_rater import aggregate_raters, cohens_kappa
from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss_kappa
from statsmodels.stats.proportion import proportion_confint

from ml import stats
from ml.stats import (
    UndefinedKappaWarning,
    agreement_table,
    auc_intervals,
    average_precision,
    bootstrap_auc_ci,
    bootstrap_aucs,
    bootstrap_indices,
    cohen_kappa,
    cohen_kappa_from_table,
    confusion,
    delong_ci,
    delong_test,
    fleiss_kappa,
    mean_average_precision,
    mean_pairwise_agreement,
    operating_point,
    pairwise_agreement_matrix,
    pairwise_kappa_matrix,
    per_class_average_precision,
    percent_agreement,
    pr_curve,
    precision_threshold_table,
    precision_threshold_tables,
    proportion_ci,
    ratings_to_counts,
    roc_auc,
    roc_curve,
    sensitivity_specificity,
)

# Tolerances: 1e-12 where the algorithm is the reference's own (same sums in another order); the hand numbers
# are exact fractions or stated to the digits shown.


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


# --- Curves -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("seed", range(6))
def test_curves_match_sklearn_point_for_point(seed: int, ties: bool) -> None:
    y, s = _random_case(seed, n=40 + 29 * seed, ties=ties)
    for ours, theirs in zip(roc_curve(y, s), sk_roc_curve(y, s, drop_intermediate=False), strict=True):
        np.testing.assert_array_equal(ours, theirs)
    for ours, theirs in zip(pr_curve(y, s), precision_recall_curve(y, s), strict=True):
        np.testing.assert_array_equal(ours, theirs)
    fpr, tpr, _ = roc_curve(y, s)
    assert np.trapezoid(tpr, fpr) == pytest.approx(roc_auc(y, s), abs=1e-12)


def test_curves_hand_numbers_and_undefined() -> None:
    fpr, tpr, thresholds = roc_curve([0, 1, 1, 0, 1], [0.1, 0.4, 0.4, 0.35, 0.8])
    np.testing.assert_array_equal(thresholds, [np.inf, 0.8, 0.4, 0.35, 0.1])
    np.testing.assert_allclose(tpr, [0, 1 / 3, 1, 1, 1])
    np.testing.assert_allclose(fpr, [0, 0, 0, 0.5, 1])
    precision, recall, thresholds = pr_curve([0, 1, 1, 0, 1], [0.1, 0.4, 0.4, 0.35, 0.8])
    np.testing.assert_allclose(precision, [0.6, 0.75, 1, 1, 1])
    np.testing.assert_allclose(recall, [1, 1, 1, 1 / 3, 0])
    np.testing.assert_array_equal(thresholds, [0.1, 0.35, 0.4, 0.8])
    with pytest.raises(ValueError, match="both"):
        roc_curve([1, 1], [0.1, 0.2])
    with pytest.raises(ValueError, match="positive"):
        pr_curve([0, 0], [0.1, 0.2])
    np.testing.assert_array_equal(pr_curve([1, 1], [0.1, 0.2])[0], [1, 1, 1])  # no negative: fine


# --- Bootstrap --------------------------------------------------------------------------------------------


def _loop_aucs(y: np.ndarray, s: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """The plain definition: the AUC of each resample, one at a time."""
    return np.array([roc_auc(y[rows], s[rows]) for rows in indices])


@pytest.mark.parametrize("stratified", [False, True])
@pytest.mark.parametrize(("seed", "n", "ties"), [(0, 60, False), (1, 60, True), (2, 9, True), (3, 150, True)])
def test_vectorised_bootstrap_equals_loop_on_same_indices(
    seed: int, n: int, ties: bool, stratified: bool
) -> None:
    y, s = _random_case(seed, n=n, ties=ties)
    indices = bootstrap_indices(y, 300, seed=seed, stratified=stratified)
    expected = _loop_aucs(y, s, indices)
    aucs = bootstrap_aucs(y, s, indices)
    np.testing.assert_allclose(aucs, expected, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(np.isnan(aucs), np.isnan(expected))
    if n == 9 and not stratified:
        assert np.isnan(aucs).any()  # a resample of 9 cases can miss a class: left out, as pROC
    defined = expected[~np.isnan(expected)]
    auc, lo, hi = bootstrap_auc_ci(y, s, n_resamples=300, seed=seed, stratified=stratified)
    assert auc == roc_auc(y, s)
    assert (lo, hi) == pytest.approx(tuple(np.quantile(defined, [0.025, 0.975])), abs=1e-12)


def test_bootstrap_matches_sklearn_loop_and_is_deterministic() -> None:
    y, s = _random_case(5, n=120, ties=True)
    indices = bootstrap_indices(y, 200, seed=7)
    sk = np.array([roc_auc_score(y[rows], s[rows]) for rows in indices])
    np.testing.assert_allclose(bootstrap_aucs(y, s, indices), sk, rtol=0, atol=1e-12)
    first = bootstrap_auc_ci(y, s, seed=7)
    assert bootstrap_auc_ci(y, s, seed=7) == first
    assert bootstrap_auc_ci(y, s, seed=8) != first
    assert first.lo < first.auc < first.hi


@pytest.mark.parametrize("stratified", [False, True])
def test_bootstrap_chunks_do_not_change_the_resamples(
    monkeypatch: pytest.MonkeyPatch, stratified: bool
) -> None:
    y, s = _random_case(4, n=50, ties=True)
    whole = bootstrap_auc_ci(y, s, n_resamples=500, seed=3, stratified=stratified)
    monkeypatch.setattr(auc_intervals, "BOOTSTRAP_CHUNK_CELLS", 37 * 50)  # 14 chunks, the last one short
    assert bootstrap_auc_ci(y, s, n_resamples=500, seed=3, stratified=stratified) == whole


def test_stratified_resamples_keep_the_class_counts() -> None:
    y = np.array([1, 0, 0, 1, 0, 0, 0, 1])
    indices = bootstrap_indices(y, 100, seed=1, stratified=True)
    assert (y[indices].sum(axis=1) == 3).all()
    assert set(np.unique(indices[:, y == 1])) == {0, 3, 7}


def test_bootstrap_undefined_and_invalid() -> None:
    assert all(np.isnan(bootstrap_auc_ci([1, 1, 1], [0.1, 0.2, 0.3])))
    with pytest.raises(ValueError, match="n_resamples"):
        bootstrap_auc_ci([0, 1], [0.1, 0.2], n_resamples=0)
    with pytest.raises(ValueError, match="level"):
        bootstrap_auc_ci([0, 1], [0.1, 0.2], level=95)
    with pytest.raises(ValueError, match="indices"):
        bootstrap_aucs([0, 1], [0.1, 0.2], [[0, 2]])


# --- DeLong -----------------------------------------------------------------------------------------------


def _delong_brute(y: np.ndarray, s1: np.ndarray, s2: np.ndarray) -> tuple[float, float, float]:
    """DeLong 1988 from the kernel psi(x, y) = [x > y] + [x == y] / 2 over every (positive, negative) pair."""

    def components(s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        psi = (s[y == 1][:, None] > s[y == 0][None, :]) + 0.5 * (s[y == 1][:, None] == s[y == 0][None, :])
        return psi.mean(axis=1), psi.mean(axis=0)

    (a10, a01), (b10, b01) = components(s1), components(s2)
    s10, s01 = np.cov(np.stack([a10, b10])), np.cov(np.stack([a01, b01]))
    cov = s10 / a10.size + s01 / a01.size
    return (
        float(np.sqrt(cov[0, 0])),
        float(np.sqrt(cov[1, 1])),
        float(np.sqrt(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])),
    )


def test_delong_hand_numbers() -> None:
    # V10 = (1, 1/2), V01 = (1/2, 1): AUC 3/4, Var = (1/8) / 2 + (1/8) / 2.
    auc, lo, hi, se = delong_ci([1, 1, 0, 0], [0.9, 0.4, 0.6, 0.1])
    assert (auc, se) == (0.75, pytest.approx(np.sqrt(0.125), abs=1e-15))
    assert lo == pytest.approx(0.75 - 1.959963984540054 * np.sqrt(0.125), abs=1e-12)
    assert hi == 1.0  # clipped, as pROC


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("seed", range(4))
def test_delong_matches_the_pairwise_definition(seed: int, ties: bool) -> None:
    y, s1 = _random_case(seed, n=80 + 20 * seed, ties=ties)
    s2 = np.round(s1 + np.random.default_rng(seed).normal(0, 0.3, s1.size), 1 if ties else 6)
    se1, se2, se_diff = _delong_brute(y, s1, s2)
    assert delong_ci(y, s1).se == pytest.approx(se1, rel=1e-12)
    assert delong_ci(y, s2).se == pytest.approx(se2, rel=1e-12)
    z, p, auc1, auc2 = delong_test(y, s1, s2)
    assert (auc1, auc2) == (roc_auc(y, s1), roc_auc(y, s2))
    assert z == pytest.approx((auc1 - auc2) / se_diff, rel=1e-9)
    assert p == pytest.approx(2 * NormalDist().cdf(-abs(z)), rel=1e-12)


def test_delong_degenerate_cases() -> None:
    y, s = _random_case(1, n=50, ties=True)
    assert delong_test(y, s, 2 * s + 1)[:2] == (0.0, 1.0)  # the same ranking: equal AUCs, zero variance
    auc, lo, hi, se = delong_ci([1, 0, 0], [0.9, 0.1, 0.2])
    assert auc == 1.0 and np.isnan([lo, hi, se]).all()  # one positive: no variance (pROC gives NA)
    assert np.isnan(delong_ci([0, 0], [0.1, 0.2]).auc)
    assert np.isnan(delong_test([1, 0], [0.2, 0.1], [0.1, 0.2]).p)


# --- Proportions and operating points ----------------------------------------------------------------------


def test_proportion_ci_hand_numbers_and_paper_table() -> None:
    # The paper's retrospective table: sensitivity 98.0 % (95.3-100), specificity 95.0 % (90.7-99.3), Wald.
    p, lo, hi = proportion_ci(98, 100)
    assert (p, round(lo, 3), hi) == (0.98, 0.953, 1.0)
    assert tuple(round(v, 3) for v in proportion_ci(95, 100)) == (0.95, 0.907, 0.993)
    # Wilson 98/100: (0.98 + z^2/200 -/+ z sqrt(0.98 * 0.02 / 100 + z^2 / 40000)) / (1 + z^2 / 100).
    assert proportion_ci(98, 100, "wilson") == pytest.approx(
        (0.98, 0.929988209271, 0.994498032450), abs=1e-12
    )
    assert proportion_ci(0, 10, "wald") == (0.0, 0.0, 0.0)
    assert proportion_ci(0, 10, "wilson")[1] == 0.0
    p, lo, hi = proportion_ci(np.array([1, 0]), np.array([2, 0]))
    assert p[0] == 0.5 and np.isnan([p[1], lo[1], hi[1]]).all()
    for bad in [(3, 2), (-1, 2), (0.5, 2)]:
        with pytest.raises(ValueError, match="count"):
            proportion_ci(*bad)
    with pytest.raises(ValueError, match="method"):
        proportion_ci(1, 2, "exact")  # type: ignore[call-overload]


@pytest.mark.parametrize("method", ["wald", "wilson"])
@pytest.mark.parametrize("level", [0.9, 0.95, 0.99])
def test_proportion_ci_matches_statsmodels(method: str, level: float) -> None:
    n = np.array([1, 2, 5, 10, 37, 100, 100, 100, 237, 1000])
    k = np.array([0, 1, 5, 3, 20, 98, 95, 100, 219, 1])
    p, lo, hi = proportion_ci(k, n, method, level)  # type: ignore[call-overload]
    sm_lo, sm_hi = proportion_confint(k, n, alpha=1 - level, method="normal" if method == "wald" else method)
    np.testing.assert_allclose(p, k / n, rtol=0, atol=1e-15)
    np.testing.assert_allclose(lo, sm_lo, rtol=0, atol=1e-12)
    np.testing.assert_allclose(hi, sm_hi, rtol=0, atol=1e-12)


def test_confusion_sensitivity_specificity_and_operating_point() -> None:
    y = [1, 1, 1, 0, 0, 0, 0]
    s = [0.9, 0.6, 0.2, 0.7, 0.3, 0.1, 0.6]
    assert confusion(y, [1, 1, 0, 1, 0, 0, 1]) == (2, 2, 2, 1)
    assert sensitivity_specificity(y, [1, 1, 0, 1, 0, 0, 1]) == (2 / 3, 0.5)
    assert np.isnan(sensitivity_specificity([0, 0], [1, 0])[0])
    point = operating_point(y, s, threshold=0.6)  # p == t is positive: TP 2, FP 2, TN 2, FN 1
    assert [(e.k, e.n) for e in point.values()] == [(2, 3), (2, 4), (2, 4), (2, 3), (4, 7)]
    assert list(point) == ["sensitivity", "specificity", "ppv", "npv", "accuracy"]
    sens = point["sensitivity"]
    assert (sens.p, sens.wald_lo, sens.wald_hi) == proportion_ci(2, 3)
    assert (sens.wilson_lo, sens.wilson_hi) == proportion_ci(2, 3, "wilson")[1:]
    assert np.isnan(operating_point(y, s, threshold=2.0)["ppv"].p)  # nothing called positive
    with pytest.raises(ValueError, match="binary"):
        confusion(y, s)


def test_threshold_for_sensitivity_without_negatives() -> None:
    # A validation set without negatives still has a sensitivity threshold.
    assert stats.threshold_for_sensitivity([1, 1, 1, 1], [0.9, 0.8, 0.4, 0.3], 0.75) == 0.4


def test_precision_threshold_table_hand_numbers() -> None:
    # (precision, recall, accuracy) at t=0.2: 3/5, 1, 3/5; t=0.3: 3/4, 1, 4/5; t=0.7: 2/3, 2/3, 3/5;
    # t=0.8: 1/2, 1/3, 2/5; t=0.9: 1, 1/3, 3/5.
    table = precision_threshold_table([1, 0, 1, 1, 0], [0.9, 0.8, 0.7, 0.3, 0.2], min_precision=0.7)
    np.testing.assert_array_equal(table.thresholds, [0.2, 0.3, 0.7, 0.8, 0.9])
    np.testing.assert_allclose(table.precision, [3 / 5, 3 / 4, 2 / 3, 1 / 2, 1])
    np.testing.assert_allclose(table.recall, [1, 1, 2 / 3, 1 / 3, 1 / 3])
    np.testing.assert_allclose(table.accuracy, [3 / 5, 4 / 5, 3 / 5, 2 / 5, 3 / 5])
    assert (table.chosen, table.threshold) == (1, 0.3)
    assert table.rows()[1] == {"threshold": 0.3, "precision": 0.75, "recall": 1.0, "accuracy": 0.8}
    strict = precision_threshold_table([1, 0, 1, 1, 0], [0.9, 0.8, 0.7, 0.3, 0.2], min_precision=0.8)
    assert strict.threshold == 0.9
    grid = precision_threshold_table(
        [1, 0, 1, 1, 0], [0.9, 0.8, 0.7, 0.3, 0.2], 0.7, thresholds=[0.5, 0, 0.95]
    )
    np.testing.assert_array_equal(grid.thresholds, [0, 0.5, 0.95])
    np.testing.assert_allclose(grid.precision, [3 / 5, 2 / 3, np.nan])  # nothing positive above 0.9
    assert grid.chosen is None and np.isnan(grid.threshold)


def test_precision_threshold_tables_per_class_agree_with_min_precision_points() -> None:
    rng = np.random.default_rng(2)
    y = (rng.random((300, 6)) < 0.3).astype(int)
    y[:, 4] = 0
    s = np.round(np.clip(rng.normal(0.35 + 0.3 * y, 0.2), 0, 1), 3)
    tables = precision_threshold_tables(y, s, 0.7)
    points = stats.thresholds_for_min_precision(y, s, 0.7)
    np.testing.assert_array_equal([t.threshold for t in tables], points.thresholds)
    assert tables[4].chosen is None and np.isnan(tables[4].recall).all()
    for c in (0, 1, 2, 3, 5):
        precision, recall, thresholds = precision_recall_curve(y[:, c], s[:, c])
        np.testing.assert_array_equal(tables[c].thresholds, thresholds)
        np.testing.assert_allclose(tables[c].precision, precision[:-1], rtol=0, atol=1e-15)
        np.testing.assert_allclose(tables[c].recall, recall[:-1], rtol=0, atol=1e-15)


# --- Agreement --------------------------------------------------------------------------------------------

# Wikipedia's "Fleiss' kappa" worked example: 10 subjects, 14 raters, 5 categories; kappa 0.210.
FLEISS_TABLE = np.array(
    [
        [0, 0, 0, 0, 14],
        [0, 2, 6, 4, 2],
        [0, 0, 3, 5, 6],
        [0, 3, 9, 2, 0],
        [2, 2, 8, 1, 1],
        [7, 7, 0, 0, 0],
        [3, 2, 6, 3, 0],
        [2, 5, 3, 2, 2],
        [6, 5, 2, 1, 0],
        [0, 2, 2, 3, 7],
    ]
)


def test_cohen_kappa_textbook_table() -> None:
    # 50 subjects: yes/yes 20, yes/no 5, no/yes 10, no/no 15. p_o 0.7, p_e 0.5 * 0.6 + 0.5 * 0.4 = 0.5.
    result = cohen_kappa_from_table([[20, 5], [10, 15]])
    assert (result.p_observed, result.p_expected, result.n) == (0.7, 0.5, 50)
    assert result.kappa == pytest.approx(0.4, abs=1e-15)
    # FCE 1969 by hand: (0.10972 + 0.36 * 0.283 - 0.01) / (50 * 0.25) = 0.016128.
    assert result.se == pytest.approx(np.sqrt(0.016128), abs=1e-15)
    assert (result.lo, result.hi) == pytest.approx(
        (0.4 - 1.959963984540054 * result.se, 0.4 + 1.959963984540054 * result.se)
    )
    a = ["yes"] * 25 + ["no"] * 25
    b = ["yes"] * 20 + ["no"] * 5 + ["yes"] * 10 + ["no"] * 15
    assert cohen_kappa(a, b) == result._replace(lo=pytest.approx(result.lo), hi=pytest.approx(result.hi))
    assert cohen_kappa(a, b, labels=["yes", "no", "maybe"]).kappa == pytest.approx(0.4, abs=1e-15)


@pytest.mark.parametrize("seed", range(5))
def test_cohen_kappa_matches_sklearn_and_statsmodels(seed: int) -> None:
    rng = np.random.default_rng(seed)
    k = int(rng.integers(2, 6))
    a = rng.integers(0, k, 120)
    b = np.where(rng.random(120) < 0.6, a, rng.integers(0, k, 120))
    ours = cohen_kappa(a, b, labels=range(k))
    sm = cohens_kappa(agreement_table(a, b, labels=range(k)))
    assert ours.kappa == pytest.approx(cohen_kappa_score(a, b), abs=1e-12)
    assert (ours.kappa, ours.se, ours.lo, ours.hi) == pytest.approx(
        (sm.kappa, sm.std_kappa, sm.kappa_low, sm.kappa_upp), abs=1e-12
    )


def test_cohen_kappa_edge_cases() -> None:
    with pytest.warns(UndefinedKappaWarning):
        assert cohen_kappa([1, 1, 1], [1, 1, 1]).p_expected == 1.0
    perfect = cohen_kappa([0, 1, 2, 1], [0, 1, 2, 1])
    assert (perfect.kappa, perfect.se) == (1.0, 0.0)
    with pytest.raises(ValueError, match="one of labels"):
        cohen_kappa([0, 1, 2], [0, 1, 1], labels=[0, 1])
    with pytest.raises(ValueError, match="one length"):
        cohen_kappa([0, 1], [0])
    with pytest.raises(ValueError, match="NaN"):
        cohen_kappa([0.0, np.nan], [0.0, 1.0])


def test_fleiss_kappa_wikipedia_example_and_statsmodels() -> None:
    assert round(fleiss_kappa(FLEISS_TABLE), 3) == 0.210
    assert fleiss_kappa(FLEISS_TABLE) == pytest.approx(sm_fleiss_kappa(FLEISS_TABLE), abs=1e-12)
    rng = np.random.default_rng(0)
    ratings = np.where(rng.random((60, 4)) < 0.5, rng.integers(0, 3, (60, 1)), rng.integers(0, 3, (60, 4)))
    counts, _ = aggregate_raters(ratings)
    np.testing.assert_array_equal(ratings_to_counts(ratings), counts)
    assert fleiss_kappa(ratings, layout="ratings") == pytest.approx(sm_fleiss_kappa(counts), abs=1e-12)


def test_fleiss_kappa_edge_cases() -> None:
    # Two raters: Fleiss' kappa is Scott's pi, p_e from the pooled margins.
    assert fleiss_kappa([["a", "a"], ["b", "b"], ["a", "b"], ["b", "b"]], layout="ratings") == pytest.approx(
        (3 / 4 - (3 / 8) ** 2 - (5 / 8) ** 2) / (1 - (3 / 8) ** 2 - (5 / 8) ** 2)
    )
    with pytest.raises(ValueError, match="same number of raters"):
        fleiss_kappa([[2, 1], [1, 1]])
    with pytest.raises(ValueError, match="layout"):
        fleiss_kappa(FLEISS_TABLE, layout="table")  # type: ignore[arg-type]


ONE_CATEGORY = "only one category was used by all raters, for every subject, so chance agreement p_e is 1"


@pytest.mark.parametrize("labels", [None, [0, 1]])
def test_cohen_kappa_of_one_category_is_nan_with_a_warning_as_sklearn(labels) -> None:
    a = b = [0, 0, 0, 0]
    with pytest.warns(UndefinedKappaWarning, match=f"Cohen's kappa is undefined .*{ONE_CATEGORY}") as ours:
        result = cohen_kappa(a, b, labels)
    assert len(ours) == 1 and ours[0].filename == __file__  # points at the caller, not at ml/stats.py
    assert np.isnan(result.kappa) and np.isnan(result.se) and np.isnan(result.lo) and np.isnan(result.hi)
    assert (result.p_observed, result.p_expected, result.n) == (1.0, 1.0, 4)
    with pytest.warns(UndefinedKappaWarning):
        assert np.isnan(cohen_kappa_from_table(agreement_table(a, b, labels)).kappa)
    # scikit-learn: NaN too (its replace_undefined_by default), with its UndefinedMetricWarning (a
    # UserWarning; ours is a RuntimeWarning, like numpy's 0/0 warning that statsmodels lets through).
    with pytest.warns(UndefinedMetricWarning, match="undefined"), warnings.catch_warnings():
        warnings.filterwarnings("ignore", "A single label was found", UserWarning)  # without labels
        assert np.isnan(cohen_kappa_score(a, b, labels=labels))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        assert np.isnan(cohens_kappa(agreement_table(a, b, labels)).kappa)


def test_cohen_kappa_of_two_single_categories_is_zero_without_a_warning_as_sklearn() -> None:
    """Each rater used one category, not the same one: p_e = 0 and kappa is 0, defined."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = cohen_kappa([0, 0, 0], [1, 1, 1], labels=[0, 1])
        assert result.kappa == 0.0 == cohen_kappa_score([0, 0, 0], [1, 1, 1], labels=[0, 1])


def test_fleiss_kappa_of_one_category_is_nan_with_a_warning_as_statsmodels() -> None:
    counts = np.array([[3, 0], [3, 0], [3, 0]])
    with pytest.warns(UndefinedKappaWarning, match=f"Fleiss' kappa is undefined .*{ONE_CATEGORY}") as ours:
        assert np.isnan(fleiss_kappa(counts))
    assert len(ours) == 1 and ours[0].filename == __file__
    with pytest.warns(UndefinedKappaWarning):
        assert np.isnan(fleiss_kappa([["x", "x"], ["x", "x"]], layout="ratings"))
    with pytest.warns(RuntimeWarning, match="invalid value"):  # statsmodels: numpy's 0/0 warning
        assert np.isnan(sm_fleiss_kappa(counts))
    assert issubclass(UndefinedKappaWarning, RuntimeWarning)


def test_pairwise_kappa_matrix_warns_once_for_its_undefined_pairs() -> None:
    ratings = np.array([[0, 0, 1], [0, 0, 0], [0, 0, 1]])  # raters 0 and 1 said 0 every time
    with pytest.warns(UndefinedKappaWarning, match="in 4 of the 9 rater-pair entries") as ours:
        kappas = pairwise_kappa_matrix(ratings)
    assert len(ours) == 1
    np.testing.assert_array_equal(np.isnan(kappas), [[1, 1, 0], [1, 1, 0], [0, 0, 0]])


def test_agreement_and_pairwise_matrices() -> None:
    ratings = np.array(
        [["IPH", "IPH", "SDH"], ["SAH", "SAH", "SAH"], ["SDH", "IPH", "SDH"], ["IPH", "IPH", "IPH"]]
    )
    assert percent_agreement(ratings[:, 0], ratings[:, 2]) == 0.75
    agreement = pairwise_agreement_matrix(ratings)
    np.testing.assert_allclose(agreement, [[1, 0.75, 0.75], [0.75, 1, 0.5], [0.75, 0.5, 1]])
    assert mean_pairwise_agreement(ratings) == pytest.approx(2 / 3)
    kappas = pairwise_kappa_matrix(ratings)
    np.testing.assert_allclose(np.diag(kappas), 1.0)
    for r in range(3):
        for c in range(3):
            assert kappas[r, c] == pytest.approx(cohen_kappa(ratings[:, r], ratings[:, c]).kappa, abs=1e-12)
            assert kappas[r, c] == pytest.approx(cohen_kappa_score(ratings[:, r], ratings[:, c]), abs=1e-12)
    with pytest.raises(ValueError, match="n_raters >= 2"):
        pairwise_kappa_matrix(ratings[:, :1])
