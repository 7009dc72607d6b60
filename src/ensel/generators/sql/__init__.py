"""Text-to-SQL candidate selection: execution, comparison, grouping, M-Schema, learned selector.

The light parts (execution, comparison, questions) import only the standard library and numpy;
the feature extraction (sqlglot) and the selector (torch) load when first used.

Examples
--------
>>> from ensel.generators.sql import SQLiteDatabases, execute_questions, load_questions
>>> qs = load_questions("questions.jsonl")                                 # doctest: +SKIP
>>> executed = execute_questions(qs, SQLiteDatabases("database"))          # doctest: +SKIP
>>> evaluate_selection(executed)["accuracy"]["consensus"]                  # doctest: +SKIP
0.8556701030927835
"""

from __future__ import annotations

from typing import Any

from ensel.generators.sql.data import (
    ExecutedQuestion,
    SQLiteDatabases,
    SQLQuestion,
    execute_questions,
    group_results,
    load_questions,
)
from ensel.generators.sql.engine import (
    Engine,
    ExecutionResult,
    SQLiteEngine,
    has_order_by,
    results_match,
)
from ensel.generators.sql.evaluate import evaluate_selection, method_picks

_LAZY = {
    "m_schema": "ensel.generators.sql.schema",
    "SQLSelector": "ensel.generators.sql.selector",
    "SQLCascade": "ensel.generators.sql.cascade",
    "vote_margin": "ensel.generators.sql.cascade",
    "split_halves": "ensel.generators.sql.split",
    "by_database_folds": "ensel.generators.sql.split",
    "evaluate_by_database": "ensel.generators.sql.split",
    "choose_groups": "ensel.generators.sql.selector",
    "database_folds": "ensel.generators.sql.selector",
    "system_accuracies": "ensel.generators.sql.selector",
    "group_features": "ensel.generators.sql.features",
    "feature_names": "ensel.generators.sql.features",
    "sql_structure": "ensel.generators.sql.features",
}

__all__ = [
    "Engine",
    "ExecutedQuestion",
    "ExecutionResult",
    "SQLCascade",
    "SQLQuestion",
    "SQLSelector",
    "SQLiteDatabases",
    "SQLiteEngine",
    "by_database_folds",
    "choose_groups",
    "database_folds",
    "evaluate_by_database",
    "evaluate_selection",
    "execute_questions",
    "feature_names",
    "group_features",
    "group_results",
    "has_order_by",
    "load_questions",
    "m_schema",
    "method_picks",
    "results_match",
    "split_halves",
    "sql_structure",
    "system_accuracies",
    "vote_margin",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'ensel.generators.sql' has no attribute {name!r}")


def __dir__() -> list[str]:  # the lazy names too, for dir(), completion and the API reference
    return sorted(set(globals()) | set(__all__))
