"""Parity with DESlib 0.3.7 (the peers extra): same pool, same neighbours, same predictions."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from ensel.combine import KNORAE, KNORAU, LCA, METADES, OLA

from .test_dynamic import EXPECTED_PREDICTIONS, hand_tables

deslib = pytest.importorskip("deslib", reason="DESlib is an optional peer (pip install "
                                              "ensel[peers])")

from ensel._sklearn_compat import TableMember, patch_deslib, table_members


@pytest.fixture(scope="module")
def des():
    patch_deslib()
    from deslib.dcs import LCA as DLCA
    from deslib.dcs import OLA as DOLA
    from deslib.des import KNORAE as DKNORAE
    from deslib.des import KNORAU as DKNORAU
    from deslib.des import METADES as DMETADES

    return {"OLA": DOLA, "LCA": DLCA, "KNORAE": DKNORAE, "KNORAU": DKNORAU, "METADES": DMETADES}


OURS = {"OLA": OLA, "LCA": LCA, "KNORAE": KNORAE, "KNORAU": KNORAU, "METADES": METADES}


# ---------------------------------------------------------------- the shim
def test_patch_deslib_is_explicit_and_idempotent():
    import deslib.base
    from sklearn.base import BaseEstimator

    first = patch_deslib()
    assert patch_deslib() == first
    if not hasattr(BaseEstimator, "_validate_data"):
        assert deslib.base.BaseDS in first
        assert "_validate_data" in vars(deslib.base.BaseDS)


def test_table_member_answers_from_saved_predictions():
    X = np.array([[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]])
    proba = np.array([[0.9, 0.1], [0.2, 0.8], [0.5, 0.5]])
    member = TableMember(X, proba, np.array([3, 7]))
    np.testing.assert_array_equal(member.predict_proba(X[[2, 0]]), proba[[2, 0]])
    np.testing.assert_array_equal(member.predict(X), [3, 7, 3])
    assert member.fit(X) is member
    with pytest.raises(ValueError, match="asked about a row it has no prediction for"):
        member.predict(np.array([[9.0, 9.0]]))


# ---------------------------------------------------------------- hand fixture
@pytest.mark.parametrize("name", ["OLA", "LCA", "KNORAE", "KNORAU"])
def test_hand_fixture_matches_deslib(des, name):
    sel, test = hand_tables()
    pool = table_members(sel, test)
    theirs = des[name](pool, k=3).fit(sel.X, sel.y_labels).predict(test.X)
    ours = OURS[name](n_neighbors=3).fit(sel).predict(test)
    np.testing.assert_array_equal(theirs, EXPECTED_PREDICTIONS[name])
    np.testing.assert_array_equal(ours, theirs)


# ---------------------------------------------------------------- a real pool
@pytest.fixture(scope="module", params=["natural", "specialists"])
def digits_pool(request):
    from ensel.protocol import make_tables

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sel, test, members = make_tables("digits", request.param, seed=0)
    return request.param, sel, test, [est for _, est in members]


@pytest.mark.parametrize("rule, voting", [("vote", "hard"), ("average", "soft")])
def test_digits_pool_matches_deslib(des, digits_pool, rule, voting):
    """The issue's bar: >= 99% agreement on a fixed pool and seed (observed: 100%)."""
    pool_name, sel, test, estimators = digits_pool
    report = {}
    for name, cls in OURS.items():
        if name in ("OLA", "LCA"):
            if rule != "vote":
                continue
            ours, theirs = cls(), des[name](estimators)
        else:
            ours, theirs = cls(rule=rule), des[name](estimators, voting=voting)
        a = ours.fit(sel).predict(test)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            b = theirs.fit(sel.X, sel.y_labels).predict(test.X)
        report[name] = float(np.mean(a == b))
    assert min(report.values()) >= 0.99, f"{pool_name}: agreement with DESlib {report}"


def test_digits_pool_accuracy_matches_deslib_with_saved_predictions(des, digits_pool):
    """DESlib fed the same saved predictions (no member inference) gives the same labels."""
    _, sel, test, _ = digits_pool
    pool = table_members(sel, test)
    for name in ("KNORAE", "OLA"):
        theirs = des[name](pool).fit(sel.X, sel.y_labels).predict(test.X)
        ours = OURS[name]().fit(sel).predict(test)
        assert np.mean(ours == theirs) >= 0.99
