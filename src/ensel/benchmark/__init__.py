"""``ensel benchmark``: every combiner side by side on built-in suites or a user's table.

`plan_benchmark` checks the arguments and resolves what runs; `run_benchmark` runs it and writes
``results.json`` (`ensel.report.write_results`), ``results.md`` and ``report.html``.

Examples
--------
>>> from ensel.benchmark import plan_benchmark
>>> plan = plan_benchmark(suite="quick", datasets=["digits"], combiners=["average", "e2e-cel"],
...                       deslib=False, budgets=[])
>>> plan.parts, plan.ks, plan.names
([('digits', 'specialists', None), ('digits', 'natural', None)], [1, 3], ['average', \
'e2e-cel', 'e2e-cel[k=1]', 'e2e-cel[k=3]'])
>>> plan_benchmark(datasets=["digits"], combiners=["cascade"], budgets=[0.3, 1.0]).names
['cascade', 'cascade[budget=0.3]', 'cascade[budget=1]']
"""

from __future__ import annotations

from ensel.benchmark.peers import DESLIB_METHODS, DESlibCombiner, deslib_available
from ensel.benchmark.runner import (
    Plan,
    load_user_tables,
    plan_benchmark,
    resolve_combiners,
    run_benchmark,
)
from ensel.benchmark.suites import SUITES, ImageSettings, Suite, expected_seconds

__all__ = [
    "DESLIB_METHODS",
    "SUITES",
    "DESlibCombiner",
    "ImageSettings",
    "Plan",
    "Suite",
    "deslib_available",
    "expected_seconds",
    "load_user_tables",
    "plan_benchmark",
    "resolve_combiners",
    "run_benchmark",
]
