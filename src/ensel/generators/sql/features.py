"""Features of SQL candidates for the learned selector.

Candidates that execute to the same result are equivalent, so features describe a question's
result groups: the vote (size, share, accuracy-weighted share, rank), the systems that
proposed the result and their accuracy on the selector's training data, the result itself
(empty, rows, columns, duplicate rows, NULLs), the SQL structure from sqlglot (joins,
aggregates, nesting, ORDER/LIMIT, ...) and the overlap between the question and the SQL
(literals, identifiers, cue words such as "how many" vs COUNT or "sorted" vs ORDER BY),
averaged over the group's candidates.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from ensel.generators.sql.data import ExecutedQuestion
from ensel.generators.sql.engine import ExecutionResult

__all__ = ["STRUCTURE_FEATURES", "UNPENALIZED", "feature_names", "group_features", "sql_structure"]

STRUCTURE_FEATURES = (
    "parse_error", "n_tables", "n_joins", "n_aggregates", "has_count", "has_avg", "has_sum",
    "has_max_min", "n_subqueries", "nesting_depth", "has_order", "has_order_desc", "has_limit",
    "has_group", "has_having", "has_distinct", "has_union", "has_intersect", "has_except",
    "has_not", "has_like", "n_conditions", "n_select_columns", "n_literals", "log_length",
)

# Question cue -> SQL feature it should go with.
_CUES: dict[str, tuple[re.Pattern[str], str]] = {
    "count": (re.compile(r"\bhow many\b|\bnumber of\b|\bcount\b"), "has_count"),
    "avg": (re.compile(r"\baverage\b|\bmean\b"), "has_avg"),
    "sum": (re.compile(r"\btotal\b|\bsum\b"), "has_sum"),
    "order": (re.compile(r"\border\b|\bsort|\bascending\b|\bdescending\b|\balphabetical"),
              "has_order"),
    "superlative": (re.compile(
        r"\bmost\b|\bleast\b|\w{3,}est\b|\bmaximum\b|\bminimum\b|\bmax\b|\bmin\b|\btop\b"),
        "has_limit"),
    "distinct": (re.compile(r"\bdistinct\b|\bdifferent\b|\bunique\b"), "has_distinct"),
    "negation": (re.compile(r"\bnot\b|\bno\b|\bwithout\b|\bnever\b|\bdo n't\b|\bdon't\b"),
                 "has_except_or_not"),
    "both": (re.compile(r"\bboth\b"), "has_intersect"),
    "each": (re.compile(r"\beach\b|\bper\b|\bevery\b"), "has_group"),
}

_GROUP_FEATURES = ("share", "size", "weighted_share", "is_largest", "rank", "n_groups",
                   "first_position", "mean_system_accuracy", "max_system_accuracy")
_RESULT_FEATURES = ("empty", "log_rows", "log_rows_vs_median", "n_columns",
                    "n_columns_is_modal", "truncated", "has_duplicates", "duplicates_of_other",
                    "dedup_of_other", "null_fraction", "zero_or_null")
_OVERLAP_FEATURES = ("literal_in_question", "literal_missing", "identifier_in_question",
                     "question_covered")

#: Features the selector's L2 penalty leaves alone (the vote): a strong penalty gives consensus.
UNPENALIZED = ("group.share",)

_STOP = frozenset({
    "the", "a", "an", "of", "in", "on", "for", "to", "and", "or", "is", "are", "was", "were",
    "be", "by", "with", "from", "at", "as", "what", "which", "who", "whom", "whose", "how",
    "many", "much", "list", "show", "give", "find", "return", "all", "each", "that", "this",
    "these", "those", "their", "its", "there", "than", "do", "does", "did", "have", "has", "had",
    "me", "name", "names",
})

_WORD = re.compile(r"[a-z0-9]+")
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])")


def _stem(word: str) -> str:
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def _words(text: str) -> set[str]:
    return {_stem(w) for w in _WORD.findall(text.lower())}


@lru_cache(maxsize=65536)
def _parse(sql: str) -> tuple[dict[str, float], tuple[str, ...], frozenset[str]]:
    """Structure counts, literal texts and identifier words of one SQL string."""
    import sqlglot
    from sqlglot import exp

    feats = dict.fromkeys(STRUCTURE_FEATURES, 0.0)
    feats["log_length"] = math.log1p(len(sql.split()))
    try:
        tree = sqlglot.parse_one(sql, read="sqlite")
    except Exception:  # noqa: BLE001 - sqlglot raises several error types: "does not parse"
        feats["parse_error"] = 1.0
        return feats, (), frozenset()
    if tree is None:
        feats["parse_error"] = 1.0
        return feats, (), frozenset()
    literals = list(tree.find_all(exp.Literal))
    feats.update(_structure(tree, literals))
    lit_texts = tuple(str(lit.this) for lit in literals if lit.is_string
                      or str(lit.this) not in {"0", "1"})
    return feats, lit_texts, _identifier_words(tree)


def _structure(tree: Any, literals: list[Any]) -> dict[str, float]:
    """The structure counts of a parsed SQL tree (all of `STRUCTURE_FEATURES` but the first
    and last)."""
    from sqlglot import exp

    selects = list(tree.find_all(exp.Select))
    aggs = list(tree.find_all(exp.AggFunc))
    orders = list(tree.find_all(exp.Ordered))
    depth = 0
    for sel in selects:
        d, node = 0, sel.parent
        while node is not None:
            d += isinstance(node, exp.Select)
            node = node.parent
        depth = max(depth, d)
    where_conds = sum(1 for w in tree.find_all(exp.Where)) + sum(
        1 for _ in tree.find_all(exp.And, exp.Or))
    top = tree if isinstance(tree, exp.Select) else (selects[0] if selects else None)
    counts = {
        "n_tables": float(len(list(tree.find_all(exp.Table)))),
        "n_joins": float(len(list(tree.find_all(exp.Join)))),
        "n_aggregates": float(len(aggs)),
        "has_count": float(any(isinstance(a, exp.Count) for a in aggs)),
        "has_avg": float(any(isinstance(a, exp.Avg) for a in aggs)),
        "has_sum": float(any(isinstance(a, exp.Sum) for a in aggs)),
        "has_max_min": float(any(isinstance(a, (exp.Max, exp.Min)) for a in aggs)),
        "n_subqueries": float(max(len(selects) - 1, 0)),
        "nesting_depth": float(depth),
        "has_order": float(bool(orders)),
        "has_order_desc": float(any(o.args.get("desc") for o in orders)),
    }
    kinds = {"has_limit": exp.Limit, "has_group": exp.Group, "has_having": exp.Having,
             "has_distinct": exp.Distinct, "has_union": exp.Union,
             "has_intersect": exp.Intersect, "has_except": exp.Except, "has_not": exp.Not,
             "has_like": exp.Like}
    counts.update({name: float(tree.find(kind) is not None) for name, kind in kinds.items()})
    counts.update({
        "n_conditions": float(where_conds),
        "n_select_columns": float(len(top.expressions)) if top is not None else 0.0,
        "n_literals": float(len(literals)),
    })
    return counts


def _identifier_words(tree: Any) -> frozenset[str]:
    """Stemmed words of the column and table names of a parsed SQL tree."""
    from sqlglot import exp

    idents: set[str] = set()
    for node in tree.find_all(exp.Column, exp.Table):
        for part in re.split(r"_|\s", _CAMEL.sub("_", node.name)):
            if part:
                idents.add(_stem(part.lower()))
    return frozenset(idents)


def _has_duplicates(result: ExecutionResult) -> bool:
    return len(set(result.rows)) < len(result.rows)


def sql_structure(sql: str) -> dict[str, float]:
    """Structure counts of one SQL string (``parse_error = 1`` when sqlglot cannot parse it).

    Examples
    --------
    >>> f = sql_structure("SELECT count(*) FROM a JOIN b ON a.x = b.y ORDER BY 1 DESC LIMIT 3")
    >>> f["n_joins"], f["has_count"], f["has_order_desc"], f["has_limit"], f["parse_error"]
    (1.0, 1.0, 1.0, 1.0, 0.0)
    """
    return dict(_parse(sql)[0])


def feature_names(systems: Sequence[str]) -> list[str]:
    """Names of the columns :func:`group_features` returns, for this list of systems."""
    return ([f"group.{n}" for n in _GROUP_FEATURES]
            + [f"result.{n}" for n in _RESULT_FEATURES]
            + [f"proposed_by={s}" for s in systems]
            + [f"sql.{n}" for n in STRUCTURE_FEATURES]
            + [f"overlap.{n}" for n in _OVERLAP_FEATURES]
            + [f"cue_match.{c}" for c in _CUES])


def _candidate_text_features(sql: str, q_lower: str, q_words: set[str], q_content: set[str],
                             cues: dict[str, float]) -> np.ndarray:
    """SQL structure, question/SQL overlap and cue agreement of one candidate."""
    struct, lits, idents = _parse(sql)
    n_lit = len(lits)
    lit_in = sum(1 for t in lits if t.lower() in q_lower)
    overlap = [lit_in / n_lit if n_lit else 1.0, float(n_lit - lit_in),
               len(idents & q_words) / len(idents) if idents else 0.0,
               len(q_content & idents) / len(q_content) if q_content else 0.0]
    flags = dict(struct)
    flags["has_except_or_not"] = float(struct["has_except"] or struct["has_not"])
    cue_match = [1.0 - abs(cues[c] - min(flags[f], 1.0)) for c, (_, f) in _CUES.items()]
    return np.array([struct[n] for n in STRUCTURE_FEATURES] + overlap + cue_match)


def _result_features(r: ExecutionResult, median_rows: float, modal_cols: int,
                     duplicates: bool, dup_of: float, dedup_of: float) -> list[float]:
    """The ``result.*`` features of one group's result (see `feature_names`)."""
    n_values = r.n_rows * max(r.n_columns, 1)
    return [
        float(not r.rows), math.log1p(r.n_rows), math.log1p(r.n_rows) - median_rows,
        float(r.n_columns), float(bool(r.rows) and r.n_columns == modal_cols),
        float(r.truncated), float(duplicates), dup_of, dedup_of,
        sum(v is None for row in r.rows for v in row) / n_values if r.rows else 0.0,
        float(r.n_rows == 1 and len(r.rows[0]) == 1 and r.rows[0][0] in (0, None)),
    ]


def group_features(eq: ExecutedQuestion, system_accuracy: Mapping[str, float]) -> np.ndarray:
    """Feature matrix of one question's result groups (the units the selector scores).

    Candidates with the same execution result are equivalent, so the selector scores
    groups: the vote (share, size, accuracy-weighted share, rank), the group's position in
    the consensus tie order, its members' training accuracies, the result itself (empty,
    rows, columns, duplicate rows, NULLs, relation to the other groups' results), which
    systems proposed it, and the mean over its members of the SQL structure, question/SQL
    overlap and cue agreement. Failed candidates form no group (they cannot be right).

    Parameters
    ----------
    eq : ExecutedQuestion
        The question, its candidates' execution results and groups (gold is not used).
    system_accuracy : mapping of str to float
        Accuracy of each system on the selector's training data; systems missing from the
        mapping get the mean of the others.

    Returns
    -------
    ndarray of shape (G, F), float32
        One row per group of ``eq.groups`` (in its order), columns as
        :func:`feature_names` ``(eq.systems)``.
    """
    systems = eq.systems
    k = len(systems)
    groups = eq.groups
    width = len(feature_names(systems))
    if groups.n_groups == 0:
        return np.zeros((0, width), dtype=np.float32)
    default = float(np.mean(list(system_accuracy.values()))) if system_accuracy else 0.5
    acc = np.array([system_accuracy.get(s, default) for s in systems], dtype=float)
    present = eq.present
    n_present = max(int(present.sum()), 1)
    total_acc = max(float((acc * present).sum()), 1e-9)
    sizes = groups.sizes.astype(float)
    distinct_sizes = sorted(set(sizes.tolist()), reverse=True)
    reps = [eq.results[m[0]] for m in groups.members]
    # modal column count and median row count over the candidates (not the groups)
    ok_cols = [r.n_columns for r, m in zip(reps, groups.members, strict=True) if r.rows for _ in m]
    modal_cols = max(sorted(set(ok_cols)), key=ok_cols.count) if ok_cols else -1
    median_rows = float(np.median([math.log1p(r.n_rows)
                                   for r, m in zip(reps, groups.members, strict=True)
                                   for _ in m]))
    distinct_rows = [frozenset(r.rows) if r.rows else None for r in reps]
    dups = [_has_duplicates(r) for r in reps]
    q_text = eq.question.question
    q_lower = q_text.lower()
    q_words = _words(q_text)
    q_content = {w for w in q_words if w not in _STOP and len(w) > 2}
    cues = {c: float(bool(pat.search(q_lower))) for c, (pat, _) in _CUES.items()}

    out = np.zeros((groups.n_groups, width), dtype=np.float32)
    for g, members in enumerate(groups.members):
        r = reps[g]
        weighted = float(acc[members].sum()) / total_acc
        group_part = [sizes[g] / n_present, sizes[g] / k, weighted,
                      float(sizes[g] == distinct_sizes[0]), distinct_sizes.index(sizes[g]) / k,
                      groups.n_groups / k, members[0] / k, float(acc[members].mean()),
                      float(acc[members].max())]
        dup_of = dedup_of = 0.0
        if distinct_rows[g] is not None:
            for h in range(groups.n_groups):
                if h != g and distinct_rows[h] == distinct_rows[g]:
                    dup_of = max(dup_of, float(dups[g] and not dups[h]))
                    dedup_of = max(dedup_of, float(dups[h] and not dups[g]))
        result_part = _result_features(r, median_rows, modal_cols, dups[g], dup_of, dedup_of)
        proposed = np.zeros(k)
        proposed[members] = 1.0
        text = np.mean([_candidate_text_features(eq.sql(j) or "", q_lower, q_words, q_content,
                                                 cues) for j in members], axis=0)
        out[g] = np.concatenate([group_part, result_part, proposed, text])
    return out
