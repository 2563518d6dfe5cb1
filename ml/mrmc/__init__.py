"""Multi-reader multi-case (MRMC) ROC analysis of reader studies, in numpy (docs/mrmc.md).

A reader study has ``r`` readers rate ``c`` cases under ``t`` treatments (modalities); the question is whether
the treatments' mean figure of merit (the empirical AUC, or sensitivity / specificity at a threshold)
differ, generalising to other cases and, usually, other readers. The Obuchowski-Rockette (OR) analysis
answers it from the ``t x r`` estimates and their covariance over cases, with Hillis's degrees of freedom.

* Readings (``ml.mrmc.readings``, ``ml.mrmc.design``): ``read_readings`` (CSV with the columns ``reader,
  treatment, case, truth, rating``), ``Readings.from_columns`` / ``from_records``; ``MRMCInputError`` for
  every bad input; ``detect_design`` (fully crossed, cases nested within treatment; others refused).
* Figures of merit (``ml.mrmc.fom``): all reader x treatment AUCs and DeLong placements in one pass,
  case-deleted (jackknife) estimates from the placements; sensitivity and specificity.
* Covariances (``ml.mrmc.covariance``): jackknife, DeLong, stratified bootstrap; OR's Var, Cov1-Cov3.
* OR analysis (``ml.mrmc.analysis``): ``or_analysis`` -- random or fixed readers, random or fixed cases,
  global test, every pairwise difference, each treatment's interval; ``ORResult.to_dict`` is JSON-able.
* A model against readers (``ml.mrmc.standalone``): ``model_vs_readers``.
* Sizing (``ml.mrmc.power``): ``power`` and ``cases_for_power`` from a pilot's ``PilotComponents``.
* Reports (``ml.mrmc.report``) and the command line ``python -m ml.mrmc FILE.csv``.

Import every name from ``ml.mrmc`` itself; the submodules are its chapters. Nothing here imports Django.

Example::

    >>> result = or_analysis(read_readings("tests/data/vandyke-mrmc.csv"))
    >>> [round(float(m), 4) for m in result.means], round(result.global_test.p_value, 4)
    ([0.897, 0.9408], 0.0517)
"""

from __future__ import annotations

from ml.mrmc.analysis import (
    Difference,
    GlobalTest,
    ModalityEstimate,
    ORResult,
    Settings,
    VarianceComponents,
    mean_squares,
    or_analysis,
)
from ml.mrmc.covariance import (
    COVARIANCE_METHODS,
    Estimates,
    ORCovariances,
    block_covariance,
    estimates,
    or_covariances,
)
from ml.mrmc.design import DESIGNS, CaseBlock, case_blocks, detect_design
from ml.mrmc.fom import (
    FIGURES_OF_MERIT,
    Components,
    auc_components,
    case_deleted,
    proportion_components,
    rowwise_midranks,
)
from ml.mrmc.power import PilotComponents, PowerEstimate, cases_for_power, power
from ml.mrmc.readings import COLUMNS, MRMCInputError, Readings, read_readings
from ml.mrmc.report import format_comparison, format_result
from ml.mrmc.standalone import ModelComparison, model_vs_readers

__all__ = [
    "COLUMNS",
    "COVARIANCE_METHODS",
    "DESIGNS",
    "FIGURES_OF_MERIT",
    "CaseBlock",
    "Components",
    "Difference",
    "Estimates",
    "GlobalTest",
    "MRMCInputError",
    "ModalityEstimate",
    "ModelComparison",
    "ORCovariances",
    "ORResult",
    "PilotComponents",
    "PowerEstimate",
    "Readings",
    "Settings",
    "VarianceComponents",
    "auc_components",
    "block_covariance",
    "case_blocks",
    "case_deleted",
    "cases_for_power",
    "detect_design",
    "estimates",
    "format_comparison",
    "format_result",
    "mean_squares",
    "model_vs_readers",
    "or_analysis",
    "or_covariances",
    "power",
    "proportion_components",
    "read_readings",
    "rowwise_midranks",
]
