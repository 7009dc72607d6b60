"""Metrics for ensembles: arrays in, numbers out (no plotting, no torch).

Shapes: a pool ``P[N, M, C]`` of member class probabilities, a combined prediction
``proba[N, C]``, labels ``y[N]`` as int class indices, a per-input selection ``[N, M]``.
Names end in ``_error``/``_loss`` when lower is better and ``_score`` when higher is better.
"""

from __future__ import annotations

from ensel.metrics.calibration import (
    accuracy_score,
    brier_score_loss,
    expected_calibration_error,
    log_loss,
    reliability_curve,
)
from ensel.metrics.cost import (
    accuracy_cost_auc,
    cost_fraction,
    cost_per_input,
    cost_to_reach,
    members_per_input,
)
from ensel.metrics.diversity import (
    cohen_kappa,
    disagreement,
    double_fault,
    pairwise_diversity,
    q_statistic,
    vendi_score,
)
from ensel.metrics.oracle import gap_closed, oracle_accuracy
from ensel.metrics.regression import mean_squared_error, r2_score
from ensel.metrics.routing import (
    aiq_score,
    apgr_score,
    cost_to_match,
    cpt_score,
    quality_at_cost,
    routing_quality,
    routing_scores,
    zero_router_hull,
)
from ensel.metrics.selective import (
    aurc_loss,
    coverage_at_risk_score,
    coverage_score,
    excess_aurc_loss,
    inconsistency_error,
    risk_coverage_curve,
    selective_accuracy_score,
    selective_error,
)
from ensel.metrics.uncertainty import uncertainty_decomposition

__all__ = [
    "accuracy_cost_auc",
    "aiq_score",
    "apgr_score",
    "cost_to_match",
    "cpt_score",
    "quality_at_cost",
    "routing_quality",
    "routing_scores",
    "zero_router_hull",
    "accuracy_score",
    "aurc_loss",
    "brier_score_loss",
    "cohen_kappa",
    "cost_fraction",
    "cost_per_input",
    "cost_to_reach",
    "coverage_at_risk_score",
    "coverage_score",
    "disagreement",
    "double_fault",
    "excess_aurc_loss",
    "expected_calibration_error",
    "gap_closed",
    "inconsistency_error",
    "log_loss",
    "mean_squared_error",
    "members_per_input",
    "oracle_accuracy",
    "pairwise_diversity",
    "q_statistic",
    "r2_score",
    "reliability_curve",
    "risk_coverage_curve",
    "selective_accuracy_score",
    "selective_error",
    "uncertainty_decomposition",
    "vendi_score",
]
