"""Member costs in PredictionTable: validation, slicing, save/load."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ensel import PredictionTable


def pool(n: int = 4, m: int = 3, c: int = 2) -> np.ndarray:
    return np.random.default_rng(0).dirichlet(np.ones(c), size=(n, m))


def test_default_is_one_unit_per_member() -> None:
    table = PredictionTable.from_arrays(pool(), y=[0, 1, 0, 1])
    assert table.costs is None
    assert table.cost_matrix().tolist() == [[1.0] * 3] * 4


def test_member_costs_slice_and_select() -> None:
    table = PredictionTable.from_arrays(pool(), y=[0, 1, 0, 1], costs=[1, 2.5, 0])
    assert table.costs.dtype == np.float64 and table.costs.tolist() == [1.0, 2.5, 0.0]
    assert table[[3, 1]].costs.tolist() == [1.0, 2.5, 0.0]
    assert table.select_members(["m2", "m0"]).costs.tolist() == [0.0, 1.0]
    assert table[1:3].cost_matrix().tolist() == [[1.0, 2.5, 0.0]] * 2


def test_input_costs_slice_with_rows_and_members() -> None:
    costs = np.arange(12, dtype=float).reshape(4, 3) + 1
    table = PredictionTable.from_arrays(pool(), costs=costs)
    assert table[[2, 0]].costs.tolist() == [[7.0, 8.0, 9.0], [1.0, 2.0, 3.0]]
    assert table[np.array([False, True, False, True])].costs[:, 0].tolist() == [4.0, 10.0]
    assert table[2].costs.tolist() == [[7.0, 8.0, 9.0]]
    assert table.select_members([1]).costs[:, 0].tolist() == [2.0, 5.0, 8.0, 11.0]
    np.testing.assert_array_equal(table.cost_matrix(), costs)


@pytest.mark.parametrize(("costs", "match"), [
    ([1.0, 2.0], r"'costs' must have shape \(3,\) \(one cost per member\) or \(4, 3\) .* got "
                 r"shape \(2,\)"),
    (np.ones((3, 3)), r"'costs' must have shape .* got shape \(3, 3\)"),
    ([1.0, -2.0, 1.0], r"member 'b': cost -2\.0 must be >= 0"),
    ([1.0, np.nan, 1.0], r"member 'b': cost nan must be finite"),
    ([1.0, 1.0, np.inf], r"member 'c': cost inf must be finite"),
    ([0, 0, 0], r"'costs' are all zero; at least one member must cost more than 0"),
    (["a", "b", "c"], r"'costs' must be a numeric array; got dtype <U1"),
])
def test_member_cost_errors(costs, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        PredictionTable.from_arrays(pool(), members=["a", "b", "c"], costs=costs)


def test_input_cost_errors_name_member_and_row() -> None:
    costs = np.ones((4, 3))
    costs[2, 1] = -0.5
    with pytest.raises(ValueError, match=r"member 'm1': cost -0\.5 in row 2 must be >= 0"):
        PredictionTable.from_arrays(pool(), costs=costs)
    costs = np.ones((4, 3))
    costs[3] = 0
    with pytest.raises(ValueError, match=r"'costs' of row 3 are all zero"):
        PredictionTable.from_arrays(pool(), costs=costs)


@pytest.mark.parametrize("kind", ["member", "input", None])
def test_save_load_round_trip(tmp_path, kind) -> None:
    costs = {"member": [0.5, 1.0, 3.0], "input": np.arange(1, 13.0).reshape(4, 3),
             None: None}[kind]
    table = PredictionTable.from_arrays(pool(), y=[0, 1, 0, 1], costs=costs)
    table.save(tmp_path / "t")
    header = json.loads((tmp_path / "t" / "table.json").read_text())
    assert header.get("costs") == kind
    assert (tmp_path / "t" / "costs.npy").exists() == (kind is not None)
    back = PredictionTable.load(tmp_path / "t")
    if kind is None:
        assert back.costs is None
    else:
        np.testing.assert_array_equal(back.costs, np.asarray(costs))
    # saving a table without costs over one with costs removes the old costs.npy
    PredictionTable.from_arrays(pool(), y=[0, 1, 0, 1]).save(tmp_path / "t")
    assert not (tmp_path / "t" / "costs.npy").exists()
    assert PredictionTable.load(tmp_path / "t").costs is None


def test_load_checks_costs_like_the_constructor(tmp_path) -> None:
    folder = PredictionTable.from_arrays(pool(), costs=[1.0, 2.0, 3.0]).save(tmp_path / "t")
    np.save(folder / "costs.npy", np.array([1.0, -1.0, 3.0]))
    with pytest.raises(ValueError, match=r"costs\.npy: member 'm1': cost -1\.0 must be >= 0"):
        PredictionTable.load(folder)
    np.save(folder / "costs.npy", np.ones((4, 3)))
    with pytest.raises(ValueError, match=r"costs\.npy: costs per member need a 1-D array"):
        PredictionTable.load(folder)
    (folder / "costs.npy").unlink()
    with pytest.raises(ValueError, match=r"table\.json: the header says costs per member but "
                                         r"there is no costs\.npy"):
        PredictionTable.load(folder)
    header = json.loads((folder / "table.json").read_text())
    header["costs"] = "dollars"
    (folder / "table.json").write_text(json.dumps(header))
    with pytest.raises(ValueError, match=r"'costs' must be one of \('member', 'input'\) or null"):
        PredictionTable.load(folder)
    del header["costs"]
    (folder / "table.json").write_text(json.dumps(header))
    np.save(folder / "costs.npy", np.ones(3))
    with pytest.raises(ValueError, match=r"there is a costs\.npy but the header has no 'costs'"):
        PredictionTable.load(folder)


def test_from_estimators_passes_costs() -> None:
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression
    from sklearn.naive_bayes import GaussianNB

    X, y = load_iris(return_X_y=True)
    members = [("lr", LogisticRegression(max_iter=300).fit(X, y)), ("nb", GaussianNB().fit(X, y))]
    table = PredictionTable.from_estimators(members, X, y, costs=[2.0, 1.0])
    assert table.costs.tolist() == [2.0, 1.0]
