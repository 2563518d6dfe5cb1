"""``ml.mrmc``: the Van Dyke study against its published numbers, each building block against an independent
computation (sklearn, a plain jackknife loop, ``ml.stats.delong_test``), the designs, a model against
readers, sensitivity / specificity, sizing, and every bad input."""

from __future__ import annotations

import csv
import itertools
import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import rankdata
from sklearn.metrics import roc_auc_score

from ml.mrmc import (
    MRMCInputError,
    PilotComponents,
    Readings,
    auc_components,
    block_covariance,
    case_blocks,
    case_deleted,
    cases_for_power,
    detect_design,
    mean_squares,
    model_vs_readers,
    or_analysis,
    or_covariances,
    power,
    read_readings,
    rowwise_midranks,
)
from ml.stats import delong_ci, delong_test, roc_auc
from ml.stats.auc_intervals import _delong_placements

VAN_DYKE = Path(__file__).resolve().parents[1] / "data" / "vandyke-mrmc.csv"


def printed(value: float, text: str) -> bool:
    """Whether ``value`` shows as ``text`` when rounded to as many decimals as ``text`` has."""
    decimals = len(text.split(".")[1]) if "." in text else 0
    return abs(value - float(text)) <= 0.5 * 10.0**-decimals + 1e-12


@pytest.fixture(scope="module")
def van_dyke() -> Readings:
    return read_readings(VAN_DYKE)


@pytest.fixture(scope="module")
def rows() -> list[dict[str, str]]:
    with VAN_DYKE.open(newline="") as handle:
        return list(csv.DictReader(handle))


def synthetic(
    seed: int = 0, readers: int = 4, treatments: tuple[str, ...] = ("A", "B"), cases: int = 60, shift=None
) -> dict[str, list]:
    """A fully crossed binormal study (columns as lists); ``shift[i]`` separates treatment ``i``'s classes."""
    rng = np.random.default_rng(seed)
    truth = (np.arange(cases) % 3 == 0).astype(int)
    case_effect = rng.normal(size=cases)
    shift = shift or [1.0 + 0.3 * i for i in range(len(treatments))]
    out: dict[str, list] = {k: [] for k in ("reader", "treatment", "case", "truth", "rating")}
    for i, treatment in enumerate(treatments):
        for j in range(readers):
            ratings = shift[i] * truth + 0.6 * case_effect + rng.normal(scale=0.8, size=cases) + 0.1 * j
            for k in range(cases):
                out["reader"].append(f"r{j}")
                out["treatment"].append(treatment)
                out["case"].append(f"c{k}")
                out["truth"].append(int(truth[k]))
                out["rating"].append(round(float(ratings[k]), 1))  # ties
    return out


# --- Van Dyke et al. (1993): the numbers published for it (tests/data/README.md) ----------------------------


def test_van_dyke_is_read_as_five_readers_two_treatments_114_cases(van_dyke):
    assert van_dyke.treatments == ("1", "2")
    assert van_dyke.readers == ("1", "2", "3", "4", "5")
    assert van_dyke.n_cases == 114 and int(van_dyke.truth.sum()) == 45
    assert detect_design(van_dyke) == "crossed"


def test_van_dyke_reader_averaged_aucs_and_difference(van_dyke):
    result = or_analysis(van_dyke)
    assert printed(result.means[0], "0.8970") and printed(result.means[1], "0.9408")
    (diff,) = result.differences
    assert diff.comparison == "1 - 2"
    assert printed(diff.estimate, "-0.04380")


def test_van_dyke_random_readers_random_cases_jackknife(van_dyke):
    result = or_analysis(van_dyke, covariance="jackknife", readers="random", cases="random")
    vc, g, (diff,) = result.components, result.global_test, result.differences
    assert printed(vc.ms_t, "0.004796") and printed(vc.ms_tr, "0.000551")
    assert printed(vc.cov2, "0.000344") and printed(vc.cov3, "0.000239")
    assert g.statistic == "F" and printed(g.value, "4.456")
    assert g.df1 == 1 and printed(g.df2, "15.26")
    assert printed(g.p_value, "0.0517")
    assert printed(diff.ci_lower, "-0.0880") and printed(diff.ci_upper, "0.00036")
    assert diff.df == g.df2 and diff.p_value == pytest.approx(g.p_value, rel=1e-9)


def test_van_dyke_fixed_readers_random_cases(van_dyke):
    g = or_analysis(van_dyke, readers="fixed").global_test
    assert g.statistic == "chi2" and g.df2 is None
    assert printed(g.value, "5.476") and g.df1 == 1 and printed(g.p_value, "0.0193")


def test_van_dyke_delong_covariances_random_readers_and_cases(van_dyke):
    g = or_analysis(van_dyke, covariance="delong").global_test
    assert printed(g.value, "4.485") and printed(g.df2, "15.07") and printed(g.p_value, "0.0512")


def test_van_dyke_random_readers_fixed_cases_is_the_conventional_anova(van_dyke):
    result = or_analysis(van_dyke, cases="fixed")
    vc, g = result.components, result.global_test
    assert g.value == pytest.approx(vc.ms_t / vc.ms_tr, rel=1e-12)
    assert (g.df1, g.df2) == (1, 4.0)
    (diff,) = result.differences
    half = diff.ci_upper - diff.estimate
    from scipy.stats import t as student

    assert half == pytest.approx(student.ppf(0.975, 4) * math.sqrt(2 * vc.ms_tr / 5), rel=1e-12)


def test_fixed_readers_intervals_are_normal_with_the_or_variance(van_dyke):
    result = or_analysis(van_dyke, readers="fixed")
    vc, (diff,) = result.components, result.differences
    se = math.sqrt(2 / 5 * (vc.var - vc.cov1 + 4 * max(vc.cov2 - vc.cov3, 0)))
    assert diff.df is None and diff.se == pytest.approx(se, rel=1e-12)
    assert diff.ci_upper - diff.estimate == pytest.approx(1.959963985 * se, rel=1e-9)
    assert (diff.estimate / se) ** 2 == pytest.approx(result.global_test.value, rel=1e-12)


def test_each_treatments_interval_is_the_single_treatment_or(van_dyke):
    result = or_analysis(van_dyke)
    from scipy.stats import t as student

    for i, modality in enumerate(result.modalities):
        theta = result.theta[i]
        block = result.covariance[5 * i : 5 * (i + 1), 5 * i : 5 * (i + 1)]
        cov2 = block[~np.eye(5, dtype=bool)].mean()
        ms_r = theta.var(ddof=1)
        df = (ms_r + 5 * max(cov2, 0)) ** 2 / (ms_r**2 / 4)
        se = math.sqrt((ms_r + 5 * max(cov2, 0)) / 5)
        assert modality.df == pytest.approx(df, rel=1e-12) and modality.se == pytest.approx(se, rel=1e-12)
        assert modality.ci_lower == pytest.approx(theta.mean() - student.ppf(0.975, df) * se, rel=1e-12)
    assert [round(m.df, 2) for m in result.modalities] == [12.74, 12.71]


def test_van_dyke_power_as_published_for_six_readers_and_112_cases(van_dyke):
    # Chakraborty's RJafroc documentation (ROC sample size, Van Dyke pilot, observed effect): power 0.556
    # (0.5555789), noncentrality 4.8, ddf 23.1 for 6 readers and 112 cases.
    result = or_analysis(van_dyke)
    estimate = power(PilotComponents.from_result(result), abs(result.differences[0].estimate), 6, 112)
    assert printed(estimate.power, "0.5555789")
    assert printed(estimate.noncentrality, "4.8") and printed(estimate.df2, "23.1")


# --- building blocks against independent computations -------------------------------------------------------


def test_every_reader_auc_equals_sklearn(van_dyke):
    result = or_analysis(van_dyke)
    for i, treatment in enumerate(van_dyke.treatments):
        for j, reader in enumerate(van_dyke.readers):
            rows = (van_dyke.treatment_of == i) & (van_dyke.reader_of == j)
            y = van_dyke.truth[van_dyke.case_of[rows]]
            expected = roc_auc_score(y, van_dyke.rating[rows])
            assert result.theta[i, j] == pytest.approx(expected, abs=1e-12), (treatment, reader)


def test_rowwise_midranks_equal_scipy_rankdata_per_row():
    values = np.round(np.random.default_rng(3).normal(size=(7, 50)), 1)
    assert np.array_equal(rowwise_midranks(values), rankdata(values, axis=1))


def test_placements_equal_ml_stats_delong_placements_per_row():
    data = synthetic(seed=5, readers=3)
    _, (block,) = case_blocks(Readings.from_columns(**data))
    comp = auc_components(block.truth, block.ratings)
    (_, v10), (_, v01) = comp.groups
    for e, ratings in enumerate(block.ratings):
        ref10, ref01 = _delong_placements(block.truth, ratings)
        np.testing.assert_allclose(v10[e], ref10, atol=1e-12)
        np.testing.assert_allclose(v01[e], ref01, atol=1e-12)
        assert comp.theta[e] == pytest.approx(roc_auc(block.truth, ratings), abs=1e-12)


def test_vectorised_jackknife_equals_a_plain_loop(van_dyke):
    _, (block,) = case_blocks(van_dyke)
    deleted = case_deleted(auc_components(block.truth, block.ratings))
    c = block.truth.size
    loop = np.empty_like(deleted)
    for k in range(c):
        keep = np.arange(c) != k
        for e, ratings in enumerate(block.ratings):
            loop[e, k] = roc_auc_score(block.truth[keep], ratings[keep])
    np.testing.assert_allclose(deleted, loop, atol=1e-12)
    centred = loop - loop.mean(axis=1, keepdims=True)
    _, cov = block_covariance(block, "auc", "jackknife")
    np.testing.assert_allclose(cov, (c - 1) / c * centred @ centred.T, atol=1e-15)


def test_delong_covariance_equals_ml_stats_delong_test_and_ci(van_dyke):
    _, (block,) = case_blocks(van_dyke)
    _, cov = block_covariance(block, "auc", "delong")
    r = van_dyke.n_readers
    for j in range(r):
        a, b = j, r + j  # reader j in treatment 1 and in treatment 2
        test = delong_test(block.truth, block.ratings[a], block.ratings[b])
        variance = cov[a, a] + cov[b, b] - 2 * cov[a, b]
        assert variance == pytest.approx(((test.auc1 - test.auc2) / test.z) ** 2, rel=1e-10)
        assert math.sqrt(cov[a, a]) == pytest.approx(delong_ci(block.truth, block.ratings[a]).se, rel=1e-12)


def test_bootstrap_is_seeded_and_close_to_the_jackknife(van_dyke):
    first = or_analysis(van_dyke, covariance="bootstrap", n_boot=2000, seed=7)
    again = or_analysis(van_dyke, covariance="bootstrap", n_boot=2000, seed=7)
    other = or_analysis(van_dyke, covariance="bootstrap", n_boot=2000, seed=8)
    assert first.components == again.components
    assert first.components != other.components
    jack = or_analysis(van_dyke).components
    for name in ("var", "cov1", "cov2", "cov3"):
        assert getattr(first.components, name) == pytest.approx(getattr(jack, name), rel=0.15), name
    assert first.global_test.value == pytest.approx(4.456, abs=0.3)
    assert first.settings.n_boot == 2000 and first.settings.seed == 7


# --- designs and more treatments ----------------------------------------------------------------------------


def test_three_treatments_test_every_pair_in_table_order():
    data = synthetic(seed=1, readers=5, treatments=("B", "A", "C"), shift=[0.8, 1.6, 1.0])
    result = or_analysis(Readings.from_columns(**data))
    assert result.treatments == ("B", "A", "C")
    assert [d.comparison for d in result.differences] == ["B - A", "B - C", "A - C"]
    means = result.means
    assert [d.estimate for d in result.differences] == pytest.approx(
        [means[0] - means[1], means[0] - means[2], means[1] - means[2]], abs=1e-12
    )
    cov = or_covariances(result.covariance, (3, 5))
    ms_t, _, ms_tr = mean_squares(result.theta)
    denominator = ms_tr + 5 * max(cov.cov2 - cov.cov3, 0)
    g = result.global_test
    assert g.df1 == 2 and g.value == pytest.approx(ms_t / denominator, rel=1e-12)
    assert g.df2 == pytest.approx(denominator**2 / (ms_tr**2 / 8), rel=1e-12)
    assert all(d.df == g.df2 for d in result.differences)


def test_results_do_not_depend_on_the_order_of_rows():
    data = synthetic(seed=2)
    order = np.random.default_rng(0).permutation(len(data["case"]))
    shuffled = {k: [v[i] for i in order] for k, v in data.items()}
    a, b = or_analysis(Readings.from_columns(**data)), or_analysis(Readings.from_columns(**shuffled))
    assert b.global_test.value == pytest.approx(a.global_test.value, rel=1e-12)


def test_cases_nested_within_treatment(rows, van_dyke):
    nested = Readings.from_records([{**row, "case": row["case3"]} for row in rows])
    assert detect_design(nested) == "nested-treatment"
    result, crossed = or_analysis(nested), or_analysis(van_dyke)
    vc = result.components
    assert vc.cov1 == 0.0 and vc.cov3 == 0.0
    # Each treatment's own 114 cases carry the same ratings as in the crossed table.
    assert vc.var == pytest.approx(crossed.components.var, rel=1e-12)
    assert vc.cov2 == pytest.approx(crossed.components.cov2, rel=1e-12)
    assert result.global_test.value == pytest.approx(vc.ms_t / (vc.ms_tr + 5 * vc.cov2), rel=1e-12)
    assert result.settings.design == "nested-treatment" and result.settings.n_cases == 228


def test_cases_nested_within_readers_is_refused(rows):
    nested = Readings.from_records([{**row, "case": row["case2"]} for row in rows])
    assert detect_design(nested) == "nested-reader"
    with pytest.raises(MRMCInputError, match="nested within readers"):
        or_analysis(nested)


# --- a model against readers --------------------------------------------------------------------------------


def with_model(seed: int, separation: float) -> Readings:
    data = synthetic(seed=seed, readers=5, treatments=("A",), cases=90, shift=[1.0])
    rng = np.random.default_rng(seed + 100)
    truth = np.array(data["truth"][:90])
    ratings = separation * truth + rng.normal(size=90)
    data["reader"] += ["model"] * 90
    data["treatment"] += ["A"] * 90
    data["case"] += data["case"][:90]
    data["truth"] += list(truth)
    data["rating"] += [float(x) for x in ratings]
    return Readings.from_columns(**data)


def test_a_clearly_better_model_is_found_better():
    comparison = model_vs_readers(with_model(seed=0, separation=4.0), "model")
    assert comparison.model_value > 0.95 and comparison.estimate < -0.1
    assert comparison.p_value < 0.001 and comparison.ci_upper < 0


def test_a_model_like_the_readers_is_not_found_different():
    comparison = model_vs_readers(with_model(seed=0, separation=1.0), "model")
    assert comparison.p_value > 0.2 and comparison.ci_lower < 0 < comparison.ci_upper


@pytest.mark.parametrize("covariance", ["jackknife", "delong"])
def test_model_vs_readers_equals_or_with_the_model_copied_as_every_reader(covariance):
    # With treatment B = the model's ratings for every reader, OR's difference A - B is the readers' mean
    # minus the model, with the same variance and df (docs/mrmc.md, "Model versus readers").
    readings = with_model(seed=4, separation=1.5)
    rows = readings.reader_of != readings.readers.index("model")
    model_rows = ~rows
    columns = {
        "reader": [readings.readers[i] for i in readings.reader_of[rows]],
        "treatment": ["A"] * int(rows.sum()),
        "case": [readings.cases[i] for i in readings.case_of[rows]],
        "truth": list(readings.truth[readings.case_of[rows]].astype(int)),
        "rating": list(readings.rating[rows]),
    }
    for reader in readings.readers[:-1]:
        columns["reader"] += [reader] * int(model_rows.sum())
        columns["treatment"] += ["B"] * int(model_rows.sum())
        columns["case"] += [readings.cases[i] for i in readings.case_of[model_rows]]
        columns["truth"] += list(readings.truth[readings.case_of[model_rows]].astype(int))
        columns["rating"] += list(readings.rating[model_rows])
    (diff,) = or_analysis(Readings.from_columns(**columns), covariance=covariance).differences
    comparison = model_vs_readers(readings, "model", covariance=covariance)
    assert comparison.estimate == pytest.approx(diff.estimate, abs=1e-12)
    assert comparison.se == pytest.approx(diff.se, rel=1e-9)
    assert comparison.df == pytest.approx(diff.df, rel=1e-9)
    assert comparison.p_value == pytest.approx(diff.p_value, rel=1e-9)


# --- sensitivity and specificity ----------------------------------------------------------------------------


@pytest.mark.parametrize(("fom", "diseased"), [("sensitivity", True), ("specificity", False)])
def test_sensitivity_and_specificity_at_a_threshold(van_dyke, fom, diseased):
    result = or_analysis(van_dyke, fom=fom, threshold=3)
    jack_cov = result.covariance
    for i in range(2):
        for j in range(5):
            rows = (van_dyke.treatment_of == i) & (van_dyke.reader_of == j)
            y = van_dyke.truth[van_dyke.case_of[rows]]
            calls = van_dyke.rating[rows][y == diseased] >= 3
            expected = calls.mean() if diseased else 1 - calls.mean()
            assert result.theta[i, j] == pytest.approx(expected, abs=1e-12)
            n = calls.size
            e = i * 5 + j
            assert jack_cov[e, e] == pytest.approx(expected * (1 - expected) / (n - 1), rel=1e-12)
    # For a proportion the jackknife and DeLong's structural components agree exactly.
    delong = or_analysis(van_dyke, fom=fom, threshold=3, covariance="delong")
    np.testing.assert_allclose(delong.covariance, jack_cov, atol=1e-15)
    assert result.settings.n_cases == (45 if diseased else 69) and result.settings.threshold == 3
    assert 0 < result.global_test.p_value < 1


# --- sizing -------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pilot(van_dyke) -> PilotComponents:
    return PilotComponents.from_result(or_analysis(van_dyke))


def test_with_the_pilots_size_and_effect_the_noncentrality_is_its_f(van_dyke, pilot):
    result = or_analysis(van_dyke)
    estimate = power(pilot, abs(result.differences[0].estimate), 5, 114)
    assert estimate.noncentrality == pytest.approx(result.global_test.value, rel=1e-12)
    assert estimate.df2 == pytest.approx(result.global_test.df2, rel=1e-12)


def test_power_rises_with_cases_and_readers(pilot):
    by_cases = [power(pilot, 0.05, 5, c).power for c in (50, 100, 200, 400, 800)]
    assert all(a < b for a, b in itertools.pairwise(by_cases))
    by_readers = [power(pilot, 0.05, r, 200).power for r in (3, 5, 10, 20)]
    assert all(a < b for a, b in itertools.pairwise(by_readers))
    assert power(pilot, 0.05, 5, 200, reader_effect="fixed").power > by_cases[2]


@pytest.mark.parametrize("reader_effect", ["random", "fixed"])
def test_with_no_effect_the_power_is_the_level_of_the_test(pilot, reader_effect):
    assert power(pilot, 0.0, 5, 200, reader_effect=reader_effect).power == pytest.approx(0.05, abs=1e-12)


@pytest.mark.parametrize("readers", [4, 10])
def test_the_cases_found_reach_the_target_and_one_fewer_does_not(pilot, readers):
    found = cases_for_power(pilot, 0.05, readers, target=0.8)
    assert found.power >= 0.8
    assert power(pilot, 0.05, readers, found.cases - 1).power < 0.8


def test_a_target_the_reader_variance_forbids_is_refused(pilot):
    with pytest.raises(MRMCInputError, match="add readers"):
        cases_for_power(pilot, 0.01, 2, max_cases=100_000)


# --- the JSON-able result -----------------------------------------------------------------------------------


def test_to_dict_has_the_documented_keys_and_no_nan(van_dyke):
    out = or_analysis(van_dyke).to_dict()
    json.dumps(out, allow_nan=False)
    assert {"aucs", "global", "differences", "variance_components", "modalities", "settings"} <= out.keys()
    assert {"reader": "1", "treatment": "1", "auc": pytest.approx(0.91964, abs=1e-5)} in out["aucs"]
    means = [a for a in out["aucs"] if a["reader"] is None]
    assert [m["treatment"] for m in means] == ["1", "2"]
    assert set(out["global"]) == {"F", "df1", "df2", "p_value"}
    assert out["differences"][0]["comparison"] == "1 - 2"
    assert {"comparison", "estimate", "ci_lower", "ci_upper", "df", "p_value"} <= out["differences"][0].keys()
    assert set(out["variance_components"]) == {"MS(T)", "MS(R)", "MS(T:R)", "Var", "Cov1", "Cov2", "Cov3"}
    assert {"treatment", "auc", "ci_lower", "ci_upper", "df"} <= out["modalities"][0].keys()
    fixed = or_analysis(van_dyke, readers="fixed").to_dict()["global"]
    assert set(fixed) == {"chi2", "df1", "df2", "p_value"} and fixed["df2"] is None


# --- bad input ----------------------------------------------------------------------------------------------


def write(tmp_path: Path, header: str, lines: list[str]) -> Path:
    path = tmp_path / "readings.csv"
    path.write_text("\n".join([header, *lines]) + "\n")
    return path


HEADER = "reader,treatment,case,truth,rating"
GOOD = [
    f"{r},{t},{c},{int(c in 'ab')},{(r + t + ord(c)) % 5}" for r in (1, 2) for t in (1, 2) for c in "abcd"
]


def test_extra_columns_are_ignored_and_labels_keep_their_order(tmp_path):
    lines = [f"{line},x" for line in GOOD]
    readings = read_readings(write(tmp_path, HEADER + ",case2", lines))
    assert readings.readers == ("1", "2") and readings.cases == ("a", "b", "c", "d")


def test_a_missing_column_is_named(tmp_path):
    with pytest.raises(MRMCInputError, match=r"missing column.*'rating'"):
        read_readings(
            write(tmp_path, "reader,treatment,case,truth", [line.rsplit(",", 1)[0] for line in GOOD])
        )


def test_a_non_numeric_rating_names_line_and_column(tmp_path):
    lines = [*GOOD[:4], "1,1,e,0,high", *GOOD[4:]]
    with pytest.raises(MRMCInputError, match=r"line 6: column 'rating' holds 'high'"):
        read_readings(write(tmp_path, HEADER, lines))


@pytest.mark.parametrize(
    ("truth", "match"), [("", "case 'e' has no truth"), ("2", "case 'e' has truth '2'; truth must be 1")]
)
def test_a_case_without_truth_or_with_a_bad_truth_is_named(tmp_path, truth, match):
    with pytest.raises(MRMCInputError, match=match):
        read_readings(write(tmp_path, HEADER, [*GOOD, f"1,1,e,{truth},3"]))


def test_a_case_whose_truth_differs_between_rows_is_named(tmp_path):
    lines = [*GOOD, "1,1,e,1,3", "2,1,e,0,3"]
    with pytest.raises(MRMCInputError, match=r"case 'e' has truth 1 in .* line 18 but 0 in .* line 19"):
        read_readings(write(tmp_path, HEADER, lines))


def test_a_reader_who_skipped_cases_is_named_with_treatment_and_cases(tmp_path):
    lines = [line for line in GOOD if not line.startswith(("2,2,c", "2,2,d"))]
    with pytest.raises(MRMCInputError, match=r"reader '2' skipped 2 case\(s\) in treatment '2': 'c', 'd'"):
        or_analysis(read_readings(write(tmp_path, HEADER, lines)))


def test_a_treatment_read_by_one_reader_needs_fixed_readers(tmp_path):
    readings = read_readings(write(tmp_path, HEADER, [line for line in GOOD if line.startswith("1,")]))
    with pytest.raises(MRMCInputError, match=r"treatment '1' is read by one reader only \('1'\)"):
        or_analysis(readings)
    assert or_analysis(readings, readers="fixed").global_test.statistic == "chi2"


@pytest.mark.parametrize("truth", ["0", "1"])
def test_cases_of_one_class_only_are_refused(tmp_path, truth):
    lines = [",".join([*line.split(",")[:3], truth, line.split(",")[4]]) for line in GOOD]
    with pytest.raises(MRMCInputError, match=r"all 4 cases are (non-)?diseased"):
        or_analysis(read_readings(write(tmp_path, HEADER, lines)))


def test_one_treatment_is_no_comparison(tmp_path):
    readings = read_readings(write(tmp_path, HEADER, [line for line in GOOD if line.split(",")[1] == "1"]))
    with pytest.raises(MRMCInputError, match=r"only one treatment \('1'\)"):
        or_analysis(readings)


def test_a_repeated_reading_is_named(tmp_path):
    with pytest.raises(MRMCInputError, match=r"reader '1' rated case 'a' in treatment '1' twice"):
        read_readings(write(tmp_path, HEADER, [*GOOD, "1,1,a,1,4"]))


def test_a_partially_crossed_table_names_a_case(tmp_path):
    lines = [*GOOD, "1,1,e,0,1", "2,1,e,0,2"]
    with pytest.raises(MRMCInputError, match=r"case 'e' is read in treatment\(s\) '1' only"):
        or_analysis(read_readings(write(tmp_path, HEADER, lines)))


def test_ratings_that_never_vary_are_refused_not_nan():
    data = synthetic(seed=0, readers=3)
    data["rating"] = [float(t) for t in data["truth"]]  # every reader perfect: all AUCs 1, no variance
    with pytest.raises(MRMCInputError, match="the test is undefined"):
        or_analysis(Readings.from_columns(**data))


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"readers": "fixed", "cases": "fixed"}, "nothing to test"),
        ({"covariance": "cubic"}, "unknown covariance"),
        ({"fom": "sensitivity"}, "needs a threshold"),
        ({"covariance": "bootstrap", "n_boot": 1}, "at least 2"),
    ],
)
def test_bad_settings_are_refused(van_dyke, options, match):
    with pytest.raises(MRMCInputError, match=match):
        or_analysis(van_dyke, **options)


def test_an_unknown_model_is_named(van_dyke):
    with pytest.raises(MRMCInputError, match="no reader 'robot'"):
        model_vs_readers(van_dyke, "robot", treatment="1")
