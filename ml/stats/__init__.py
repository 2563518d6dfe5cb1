"""The one statistics module of ICHweb (docs/science.md, "Statistics" and "Operating points").

Every dashboard, benchmark and training loop computes its metrics here, so a number means the same thing
everywhere. All functions are vectorised numpy and take binary labels (0/1 or bool) and real scores; a score
counts as positive at threshold ``t`` when ``score >= t`` (as in ``sklearn.metrics.roc_curve``).

* Ranking (``ml.stats.ranking``): ``average_precision`` and ``mean_average_precision`` (the paper's
  model-selection mAP), ``roc_auc`` (Mann-Whitney), ``roc_curve``, ``pr_curve`` (sklearn's points exactly).
* AUC uncertainty (``ml.stats.auc_intervals``): ``bootstrap_auc_ci`` (the paper's 2,000 case-level resamples,
  percentile interval), ``delong_ci`` and the paired ``delong_test`` (DeLong 1988 by Sun & Xu's midrank
  algorithm; pROC's numbers).
* Proportions (``ml.stats.proportions``): ``proportion_ci`` (Wald as in the paper's table, or Wilson),
  ``confusion``, ``sensitivity_specificity``.
* Operating points (``ml.stats.operating_points``): ``operating_point``, ``threshold_for_sensitivity`` (the
  paper's high-sensitivity point), ``precision_threshold_table`` and ``thresholds_for_min_precision``
  (Lewicki's fixed-minimum-precision point).
* Reader agreement (``ml.stats.agreement``): ``cohen_kappa`` with its large-sample SE, ``fleiss_kappa``,
  ``percent_agreement``, ``pairwise_agreement_matrix``, ``pairwise_kappa_matrix``.

Import every name from ``ml.stats`` itself; the submodules are its chapters.

Undefined values: an AUC (and its intervals) without both classes, or a proportion of nothing, is NaN; a
curve or threshold that cannot exist raises ``ValueError``. A kappa whose raters all used one single category
is 0/0: NaN, with an ``UndefinedKappaWarning`` (as scikit-learn and statsmodels warn).

Example::

    >>> average_precision([0, 1, 1, 0], [0.1, 0.8, 0.4, 0.4])
    0.8333333333333333
    >>> roc_auc([0, 1, 1, 0], [0.1, 0.8, 0.4, 0.4])
    0.875
    >>> proportion_ci(98, 100)  # the paper's retrospective sensitivity, 98.0 % (95.3-100)
    (0.98, 0.9525605042164392, 1.0)
"""

from __future__ import annotations

from ml.stats._common import binary_inputs
from ml.stats.agreement import (
    Kappa,
    UndefinedKappaWarning,
    agreement_table,
    cohen_kappa,
    cohen_kappa_from_table,
    fleiss_kappa,
    mean_pairwise_agreement,
    pairwise_agreement_matrix,
    pairwise_kappa_matrix,
    percent_agreement,
    ratings_to_counts,
)
from ml.stats.auc_intervals import (
    AucInterval,
    DelongInterval,
    DelongTest,
    bootstrap_auc_ci,
    bootstrap_aucs,
    bootstrap_indices,
    delong_ci,
    delong_test,
)
from ml.stats.operating_points import (
    PrecisionOperatingPoints,
    PrecisionThresholdTable,
    operating_point,
    precision_threshold_table,
    precision_threshold_tables,
    threshold_for_sensitivity,
    thresholds_for_min_precision,
    thresholds_for_sensitivity,
)
from ml.stats.proportions import (
    Confusion,
    ProportionEstimate,
    confusion,
    proportion_ci,
    sensitivity_specificity,
)
from ml.stats.ranking import (
    average_precision,
    mean_average_precision,
    per_class_average_precision,
    pr_curve,
    roc_auc,
    roc_curve,
)

__all__ = [
    "AucInterval",
    "Confusion",
    "DelongInterval",
    "DelongTest",
    "Kappa",
    "PrecisionOperatingPoints",
    "PrecisionThresholdTable",
    "ProportionEstimate",
    "UndefinedKappaWarning",
    "agreement_table",
    "average_precision",
    "binary_inputs",
    "bootstrap_auc_ci",
    "bootstrap_aucs",
    "bootstrap_indices",
    "cohen_kappa",
    "cohen_kappa_from_table",
    "confusion",
    "delong_ci",
    "delong_test",
    "fleiss_kappa",
    "mean_average_precision",
    "mean_pairwise_agreement",
    "operating_point",
    "pairwise_agreement_matrix",
    "pairwise_kappa_matrix",
    "per_class_average_precision",
    "percent_agreement",
    "pr_curve",
    "precision_threshold_table",
    "precision_threshold_tables",
    "proportion_ci",
    "ratings_to_counts",
    "roc_auc",
    "roc_curve",
    "sensitivity_specificity",
    "threshold_for_sensitivity",
    "thresholds_for_min_precision",
    "thresholds_for_sensitivity",
]
