"""M-Schema: XiYan-SQL's semi-structured schema text for prompts, read from a live database."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from ensel.generators.sql.engine import SQLiteEngine, read_only_uri

__all__ = ["m_schema"]


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _example_text(value: object, max_chars: int) -> str | None:
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    text = " ".join(text.split())
    return text if text and len(text) <= max_chars else None


def m_schema(database: str | Path | SQLiteEngine, *, db_id: str | None = None,
             n_examples: int = 3, max_example_chars: int = 50) -> str:
    """Describe a SQLite database in M-Schema, the schema format of XiYan-SQL.

    One block per table: ``# Table: name`` then, between brackets, one line per column
    ``(column:TYPE, Primary Key, Examples: [v1, v2, v3])``; then the foreign keys as
    ``table.column=other_table.other_column`` lines.

    Parameters
    ----------
    database : str, Path or SQLiteEngine
        The ``.sqlite`` file (read through a separate read-only connection).
    db_id : str, optional
        Name printed after ``【DB_ID】`` (default: the file's stem).
    n_examples : int, default=3
        Distinct non-null example values per column (0 for none).
    max_example_chars : int, default=50
        Example values longer than this are left out.

    Returns
    -------
    str

    Examples
    --------
    >>> print(m_schema("pets_1.sqlite"))          # doctest: +SKIP
    【DB_ID】 pets_1
    【Schema】
    # Table: Student
    [
    (StuID:INTEGER, Primary Key, Examples: [1001, 1002, 1003]),
    (LName:VARCHAR(12), Examples: [Smith, Kim, Jones]),
    ...
    ]
    【Foreign keys】
    Has_Pet.StuID=Student.StuID
    """
    path = Path(database.path if isinstance(database, SQLiteEngine) else database)
    if not path.is_file():
        raise FileNotFoundError(f"SQLite database file not found: {str(path)!r}.")
    if isinstance(n_examples, bool) or not isinstance(n_examples, int) or n_examples < 0:
        raise ValueError(f"The 'n_examples' parameter of m_schema must be an int >= 0. "
                         f"Got {n_examples!r} instead.")
    con = sqlite3.connect(read_only_uri(path), uri=True)
    con.text_factory = lambda b: b.decode("utf-8", errors="replace")
    try:
        tables = [r[0] for r in con.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
            "ORDER BY rowid")]
        lines = [f"【DB_ID】 {db_id or path.stem}", "【Schema】"]
        foreign: list[str] = []
        for table in tables:
            info = con.execute(f"PRAGMA table_info({_quote(table)})").fetchall()
            fields = []
            for _, col, ctype, _, _, pk in info:
                parts = [f"{col}:{(ctype or 'TEXT').upper()}"]
                if pk:
                    parts.append("Primary Key")
                if n_examples:
                    values = con.execute(
                        f"SELECT DISTINCT {_quote(col)} FROM {_quote(table)} "
                        f"WHERE {_quote(col)} IS NOT NULL LIMIT {int(n_examples)}").fetchall()
                    texts = [t for (v,) in values if (t := _example_text(v, max_example_chars))]
                    if texts:
                        parts.append(f"Examples: [{', '.join(texts)}]")
                fields.append("(" + ", ".join(parts) + ")")
            lines += [f"# Table: {table}", "[", ",\n".join(fields), "]"]
            for row in con.execute(f"PRAGMA foreign_key_list({_quote(table)})").fetchall():
                ref_table, src, dst = row[2], row[3], row[4]
                if dst is None:   # references the other table's primary key
                    ref_info = con.execute(f"PRAGMA table_info({_quote(ref_table)})").fetchall()
                    ref_pk = [r[1] for r in ref_info if r[5]]
                    dst = ref_pk[0] if ref_pk else src
                foreign.append(f"{table}.{src}={ref_table}.{dst}")
        if foreign:
            lines += ["【Foreign keys】", *foreign]
        return "\n".join(lines)
    finally:
        con.close()
