"""evaluate_combiner: one honest record per combiner, with the members a deployment must run."""

import numpy as np
import pytest

from ensel import PredictionTable
from ensel.combine import get_combiner
from ensel.evaluation import evaluate_combiner, members_evaluated


def table(seed, n=120):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    y = rng.integers(0, 3, n)
    P = rng.dirichlet(np.ones(3), size=(n, 4))
    P[np.arange(n), 0] = 0.1 + 0.7 * np.eye(3)[y]  # member 0 is always right
    return PredictionTable.from_arrays(P, y=y, X=X)


@pytest.mark.parametrize(
    "name, needs",
    [("best-single", False), ("average", False), ("stacking", False), ("greedy", False),
     ("ola", False), ("knora-e", False), ("knora-u", False), ("lca", True), ("meta-des", True),
     ("neural", True), ("oracle", True)],
)
def test_which_combiners_must_run_every_member(name, needs):
    combiner = get_combiner(name)().fit(table(0))
    assert combiner.selection_needs_predictions_ is needs


def test_members_evaluated_counts_selected_or_all():
    sel = np.array([[1, 0, 0, 1], [0, 0, 0, 1.0]])

    class Lazy:
        selection_needs_predictions_ = False

    class Eager:
        selection_needs_predictions_ = True

    np.testing.assert_array_equal(members_evaluated(Lazy(), sel), [2, 1])
    np.testing.assert_array_equal(members_evaluated(Eager(), sel), [4, 4])


def test_record_for_best_single_is_exact():
    record = evaluate_combiner(get_combiner("best-single")(), table(0), table(1))
    assert record["accuracy"] == 1.0 and record["oracle_accuracy"] == 1.0
    assert record["best_single"] == 1.0 and record["members_per_input"] == 1.0
    assert np.isnan(record["gap_closed"])  # oracle == best single: nothing to close
    assert record["log_loss"] == pytest.approx(-np.log(0.8))
    assert record["fit_seconds"] >= 0 and record["predict_seconds"] >= 0
