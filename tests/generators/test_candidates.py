"""Grouping candidates and consensus, with hand-computed answers."""

from __future__ import annotations

import numpy as np
import pytest

from ensel.generators import Groups, group_candidates
from ensel.generators.sql import ExecutionResult, group_results


def R(*rows: tuple) -> ExecutionResult:
    return ExecutionResult(rows=tuple(rows), columns=())


ERR = ExecutionResult(rows=(), columns=(), error="no such table: t")


def test_groups_by_key() -> None:
    g = group_candidates(["x", "y", "x", None, "z", "y", "x"])
    assert g.labels.tolist() == [0, 1, 0, -1, 2, 1, 0]
    assert g.members == [[0, 2, 6], [1, 5], [4]]
    assert g.sizes.tolist() == [3, 2, 1]
    assert g.group_size().tolist() == [3, 2, 3, 0, 1, 2, 3]
    assert g.failed.tolist() == [False, False, False, True, False, False, False]
    assert (g.n_candidates, g.n_groups) == (7, 3)
    assert g.consensus() == 0


def test_exact_equality_splits_a_key_bucket() -> None:
    # same key, but "equal" says 1 and 3 differ from 0
    g = group_candidates([1, 1, 1, 1], items=["a", "b", "a", "b"], equal=lambda u, v: u == v)
    assert g.members == [[0, 2], [1, 3]]


@pytest.mark.parametrize("keys, expected", [
    (["a", "b"], 0),                       # 1-1 tie: earliest group
    (["b", "a", "a", "b"], 0),             # 2-2 tie: group of candidate 0
    ([None, "b", "a", "a", "b"], 1),       # candidate 0 failed: group of candidate 1
    ([None, "b", "a", "a"], 2),            # no tie: largest group, its first candidate
    ([None, None], 0),                     # all failed: candidate 0
    ([], 0),
])
def test_consensus_tie_rule(keys: list, expected: int) -> None:
    assert group_candidates(keys).consensus() == expected


def test_weighted_consensus() -> None:
    g = group_candidates(["a", "b", "b"])
    assert g.consensus() == 1
    assert g.consensus(weights=[3.0, 1.0, 1.0]) == 0
    assert g.consensus(weights=[2.0, 1.0, 1.0]) == 0        # 2 == 2: tie to the earliest
    assert g.consensus(weights=np.array([1.0, 1.0, 1.5])) == 1


def test_group_results_uses_result_equivalence() -> None:
    results = [R((1, "a"), (2, "b")), ERR, R(("b", 2), ("a", 1)), R((1, "a")), ERR, R()]
    g = group_results(results)
    assert g.labels.tolist() == [0, -1, 0, 1, -1, 2]
    assert g.consensus() == 0
    ordered = group_results([R((1,), (2,)), R((2,), (1,))], ordered=True)
    assert ordered.labels.tolist() == [0, 1]


def test_errors() -> None:
    g = group_candidates(["a", "b"])
    with pytest.raises(ValueError, match=r"'weights' must have shape \(2,\), one per candidate"):
        g.consensus(weights=[1.0])
    with pytest.raises(ValueError, match="Pass 'items' and 'equal' together"):
        group_candidates(["a"], items=["a"])
    with pytest.raises(ValueError, match="'items' has 1 entries but 'keys' has 2"):
        group_candidates(["a", "b"], items=["a"], equal=lambda u, v: True)
    assert isinstance(g, Groups)


def test_unknown_lazy_names_raise_attribute_error() -> None:
    import ensel.generators
    import ensel.generators.sql

    with pytest.raises(AttributeError, match="module 'ensel.generators' has no attribute 'nope'"):
        ensel.generators.nope  # noqa: B018
    with pytest.raises(AttributeError,
                       match="module 'ensel.generators.sql' has no attribute 'nope'"):
        ensel.generators.sql.nope  # noqa: B018
    assert ensel.generators.ListwiseSelector.__name__ == "ListwiseSelector"
