"""The shape the code keeps: no function in src/ over 60 code lines (docstring, blank lines and
comments excluded), and each layer imports only what docs/architecture.md allows."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "ensel"
LIMIT = 60


def code_lines(node: ast.FunctionDef | ast.AsyncFunctionDef, lines: list[str]) -> int:
    body = node.body
    first = body[0]
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) \
            and isinstance(first.value.value, str):
        if len(body) == 1:
            return 0
        first = body[1]
    text = lines[first.lineno - 1:node.end_lineno]
    return sum(1 for line in text if line.strip() and not line.strip().startswith("#"))


def test_code_lines_counts_body_without_docstring_or_comments():
    source = 'def f():\n    """doc\n    more"""\n    # note\n\n    a = 1\n    return a\n'
    node = ast.parse(source).body[0]
    assert code_lines(node, source.splitlines()) == 2


def test_no_function_over_sixty_code_lines():
    long = []
    for path in sorted(SRC.rglob("*.py")):
        source = path.read_text()
        lines = source.splitlines()
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = code_lines(node, lines)
                if n > LIMIT:
                    long.append(f"{path.relative_to(SRC)}:{node.lineno} {node.name} ({n})")
    assert not long, long


def ensel_imports(path: Path) -> set[str]:
    """The top-level ensel parts a module imports (``ensel.x.y`` -> ``x``)."""
    parts = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        parts |= {n.split(".")[1] for n in names if n.startswith("ensel.")}
    return parts


def part_imports(part: str) -> set[str]:
    where = SRC / part
    files = sorted(where.rglob("*.py")) if where.is_dir() else [SRC / f"{part}.py"]
    found = set().union(*(ensel_imports(f) for f in files))
    return found - {part}


# docs/architecture.md, "Layers and what each may import"
ALLOWED = {
    "ops": {"_validation"},
    "metrics": {"_validation"},
    "_training": set(),
}
NEVER = {
    "combine": {"scale", "estimator", "report", "cli", "benchmark"},
    "ops": {"table", "combine"},
}
PRESENTATION = {"report", "cli", "benchmark"}


def test_layers_import_only_what_architecture_md_allows():
    for part, allowed in ALLOWED.items():
        assert part_imports(part) <= allowed, (part, part_imports(part) - allowed)
    for part, never in NEVER.items():
        assert not part_imports(part) & never, (part, part_imports(part) & never)
    for path in SRC.iterdir():
        part = path.stem if path.suffix == ".py" else path.name
        if part in PRESENTATION or part.startswith("__") or not (
                path.suffix == ".py" or path.is_dir()):
            continue
        if path.is_dir() and not (path / "__init__.py").exists():
            continue
        assert not part_imports(part) & PRESENTATION, (part, part_imports(part) & PRESENTATION)
