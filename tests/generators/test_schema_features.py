"""M-Schema text and the selector's features."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ensel.generators.sql import (
    SQLiteDatabases,
    SQLiteEngine,
    execute_questions,
    load_questions,
    m_schema,
)
from ensel.generators.sql.features import feature_names, group_features, sql_structure


def test_m_schema(pets_db: Path) -> None:
    text = m_schema(pets_db)
    assert text.splitlines()[:4] == ["【DB_ID】 pets", "【Schema】", "# Table: owner", "["]
    assert "(id:INTEGER, Primary Key, Examples: [1, 2, 3])" in text
    assert "(name:TEXT, Examples: [Ann, Bob, Cid])" in text
    assert "(kind:TEXT, Examples: [cat, dog])" in text
    assert text.endswith("【Foreign keys】\npet.owner_id=owner.id")
    bare = m_schema(SQLiteEngine(pets_db), db_id="zoo", n_examples=0)
    assert bare.startswith("【DB_ID】 zoo") and "Examples" not in bare


def test_m_schema_errors(pets_db: Path, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="SQLite database file not found"):
        m_schema(tmp_path / "missing.sqlite")
    with pytest.raises(ValueError, match="'n_examples' parameter of m_schema must be an int >= 0"):
        m_schema(pets_db, n_examples=-1)


def test_sql_structure() -> None:
    f = sql_structure("SELECT T1.name, count(*) FROM owner AS T1 JOIN pet AS T2 ON T1.id = "
                      "T2.owner_id WHERE T2.kind = 'cat' AND T2.weight > 3 GROUP BY T1.id "
                      "HAVING count(*) > 1 ORDER BY count(*) DESC LIMIT 1")
    assert f["n_joins"] == 1 and f["n_tables"] == 2 and f["has_count"] == 1
    assert f["has_group"] == f["has_having"] == f["has_order_desc"] == f["has_limit"] == 1
    assert f["n_select_columns"] == 2 and f["parse_error"] == 0
    nested = sql_structure("SELECT a FROM t WHERE b IN (SELECT b FROM u WHERE c IN "
                           "(SELECT c FROM v)) EXCEPT SELECT a FROM w")
    assert nested["nesting_depth"] == 2 and nested["has_except"] == 1
    assert nested["n_subqueries"] == 3
    assert sql_structure("SELEC FROM WHERE ((")["parse_error"] == 1


def test_group_features(sql_workspace: tuple[Path, Path]) -> None:
    questions, databases = sql_workspace
    executed = execute_questions(load_questions(questions), SQLiteDatabases(databases))
    names = feature_names(["a", "b", "c"])
    col = {n: i for i, n in enumerate(names)}
    eq = executed[1]                 # DISTINCT kind (a) vs kind with duplicates (b, c)
    X = group_features(eq, {"a": 1.0, "b": 0.5, "c": 0.0})
    assert X.shape == (2, len(names)) and X.dtype == np.float32
    assert X[:, col["group.share"]].tolist() == pytest.approx([1 / 3, 2 / 3])
    assert X[:, col["group.is_largest"]].tolist() == [0.0, 1.0]
    assert X[:, col["group.mean_system_accuracy"]].tolist() == pytest.approx([1.0, 0.25])
    assert X[:, col["result.has_duplicates"]].tolist() == [0.0, 1.0]
    assert X[:, col["result.dedup_of_other"]].tolist() == [1.0, 0.0]
    assert X[:, col["result.duplicates_of_other"]].tolist() == [0.0, 1.0]
    assert X[:, col["proposed_by=b"]].tolist() == [0.0, 1.0]
    assert X[:, col["sql.has_distinct"]].tolist() == [1.0, 0.0]
    failed = executed[3]             # "c" failed: two groups, no row for it
    assert group_features(failed, {}).shape == (1, len(names))
    assert np.isfinite(np.concatenate([group_features(e, {}) for e in executed])).all()
