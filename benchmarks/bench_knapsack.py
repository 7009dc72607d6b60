"""Forward + backward time of ``ensel.ops.knapsack_mask``, against ``torch.topk`` forward.

For B rows of M standard-normal float32 scores, member costs drawn once from U(0.5, 1.5) and
a budget equal to a share ``--fractions`` of the total cost (``k = round(share M)``), time
``knapsack_mask(x, costs, budget, method=...).backward(g)`` for the sparse and entropic
relaxations, ``hard_knapsack_mask`` (the inference mask; exact below 13 members, greedy above)
forward, and ``torch.topk(x, k)`` forward alone on the same tensor, in the same run: the
floor ("x topk" is the ratio; the target at B=4096, M=64 is at most 10). Each entry is the
median over ``--repeats`` repeats, after a warm-up, of the mean time per call in a loop lasting
about 50 ms (``--clock cpu`` measures this process's CPU time, steadier on a shared machine
with ``--threads 1``).

Run ``python benchmarks/bench_knapsack.py`` (B=4096, M=64) or, for a quick look,
``python benchmarks/bench_knapsack.py --batch 256 --members 8 64 --repeats 3``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable, Sequence

import torch

from ensel.ops import KNAPSACK_METHODS, hard_knapsack_mask, knapsack_mask

_TARGET_SECONDS = 0.05


def _time_per_call(fn: Callable[[], object], repeats: int,
                   clock: Callable[[], float] = time.perf_counter) -> float:
    """Median over ``repeats`` of the mean seconds per call; one warm-up call calibrates."""
    start = clock()
    fn()
    first = clock() - start
    inner = max(1, min(1000, int(_TARGET_SECONDS / max(first, 1e-6))))
    samples = []
    for _ in range(repeats):
        start = clock()
        for _ in range(inner):
            fn()
        samples.append((clock() - start) / inner)
    return statistics.median(samples)


def run(batch: int, members: Sequence[int], fractions: Sequence[float], repeats: int,
        seed: int = 0, clock: Callable[[], float] = time.perf_counter) -> list[dict]:
    """Time every (M, budget share, method); returns one dict per table row."""
    gen = torch.Generator().manual_seed(seed)
    rows = []
    for m in members:
        scores = torch.randn(batch, m, generator=gen)
        grad_out = torch.randn(batch, m, generator=gen)
        costs = torch.rand(m, generator=gen) + 0.5
        for share in fractions:
            k = min(m, max(1, round(share * m)))
            budget = float(share * costs.sum())
            floor = _time_per_call(lambda s=scores, k=k: torch.topk(s, k, dim=-1), repeats, clock)
            base = {"M": m, "share": share, "k": k}
            rows.append({**base, "method": "torch.topk (fwd)", "seconds": floor, "ratio": 1.0})
            for method in KNAPSACK_METHODS:
                x = scores.clone().requires_grad_(True)

                def step(x=x, c=costs, method=method, budget=budget, g=grad_out) -> None:
                    x.grad = None
                    knapsack_mask(x, c, budget, method=method).backward(g)

                seconds = _time_per_call(step, repeats, clock)
                rows.append({**base, "method": method, "seconds": seconds,
                             "ratio": seconds / floor})
            seconds = _time_per_call(
                lambda s=scores, c=costs, b=budget: hard_knapsack_mask(s, c, b), repeats, clock)
            rows.append({**base, "method": "hard (fwd)", "seconds": seconds,
                         "ratio": seconds / floor})
    return rows


def format_table(rows: Sequence[dict]) -> str:
    lines = [f"{'method':<18} {'M':>5} {'share':>6} {'k':>4} {'ms':>10} {'x topk':>9}"]
    for r in rows:
        lines.append(f"{r['method']:<18} {r['M']:>5} {r['share']:>6.3f} {r['k']:>4} "
                     f"{1e3 * r['seconds']:>10.3f} {r['ratio']:>9.1f}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv``, run the benchmark and print the table; returns an exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=4096, help="rows B (default 4096)")
    parser.add_argument("--members", type=int, nargs="+", default=[64],
                        help="values of M (default 64)")
    parser.add_argument("--fractions", type=float, nargs="+", default=[0.1, 0.25],
                        help="budget as a share of the total cost (default 0.1 0.25)")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats (default 3)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch.set_num_threads (default: torch's default)")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="wall time (default) or this process's CPU time")
    args = parser.parse_args(argv)
    if args.batch < 1 or args.repeats < 1 or min(args.members) < 1:
        parser.error("--batch, --repeats and --members must be positive")
    if not all(0 < f <= 1 for f in args.fractions):
        parser.error("--fractions must lie in (0, 1]")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    clock = time.perf_counter if args.clock == "wall" else time.process_time
    print(f"# ensel.ops knapsack, forward+backward: B={args.batch} rows, float32, costs "
          f"U(0.5, 1.5), torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{args.clock} clock, median of {args.repeats} repeats; 'x topk' = time / torch.topk "
          f"forward at k = round(share M) (same run, same tensor)")
    print(format_table(run(args.batch, args.members, args.fractions, args.repeats,
                           clock=clock)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
