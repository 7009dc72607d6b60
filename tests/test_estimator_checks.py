"""scikit-learn's estimator checks over SelectiveEnsemble and SelectiveEnsembleRegressor."""

from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor
from sklearn.utils.estimator_checks import parametrize_with_checks

from ensel import DifferentiableSelector
from ensel.estimator import SelectiveEnsemble, SelectiveEnsembleRegressor

FAST = dict(max_epochs=3, n_iter_no_change=2, hidden_layer_sizes=(8,), calibrate=False)

# The one check that cannot hold, by design (issue 3): predict records what it ran in
# last_cost_ (members evaluated per input), so __dict__ changes during predict.
EXPECTED_FAILURES = {
    "check_dict_unchanged": "predict records the members it evaluated in last_cost_",
}


def classifier():
    members = [("lr", LogisticRegression()), ("tree", DecisionTreeClassifier(random_state=0))]
    return SelectiveEnsemble(members, DifferentiableSelector(k=1, **FAST))


def regressor():
    return SelectiveEnsembleRegressor(
        [("lin", LinearRegression()), ("tree", DecisionTreeRegressor(max_depth=3, random_state=0))],
        DifferentiableSelector(k=1, **FAST))


def _expected(estimator):
    return EXPECTED_FAILURES


@parametrize_with_checks([classifier(), regressor()], expected_failed_checks=_expected)
def test_sklearn_compatible(estimator, check):
    check(estimator)
