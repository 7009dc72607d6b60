"""Forward + backward time of every ``ensel.ops`` top-k relaxation, against ``torch.topk``.

For B rows of M standard-normal float32 scores and k in {1, M/4}, time
``topk_mask(x, k, method=...).backward(g)`` for every method (perturbed with
``--n-samples`` samples) and ``torch.topk(x, k)`` forward alone on the same tensor, in the
same run: the floor. Each entry is the median over ``--repeats`` repeats, after a warm-up, of
the mean time per call in a loop long enough to last about 50 ms (calibrated in the warm-up),
with torch's default number of threads (``--threads`` to change it; ``--clock cpu`` measures
this process's CPU time instead of wall time, steadier on a shared machine with one thread).

Run ``python benchmarks/bench_topk.py`` (B=4096, M in 8 64 512) or, for a quick look,
``python benchmarks/bench_topk.py --batch 256 --members 8 64 --repeats 3``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable, Sequence

import torch

from ensel.ops import METHODS, topk_mask

_TARGET_SECONDS = 0.05


def _time_per_call(fn: Callable[[], object], repeats: int,
                   clock: Callable[[], float] = time.perf_counter) -> float:
    """Median over ``repeats`` of the mean seconds per call; one warm-up call calibrates."""
    start = clock()
    fn()                                       # warm-up (and calibration)
    first = clock() - start
    inner = max(1, min(1000, int(_TARGET_SECONDS / max(first, 1e-6))))
    samples = []
    for _ in range(repeats):
        start = clock()
        for _ in range(inner):
            fn()
        samples.append((clock() - start) / inner)
    return statistics.median(samples)


def _options(method: str, n_samples: int) -> dict:
    return {"n_samples": n_samples, "seed": 0} if method == "perturbed" else {}


def run(batch: int, members: Sequence[int], repeats: int, methods: Sequence[str],
        n_samples: int, seed: int = 0,
        clock: Callable[[], float] = time.perf_counter) -> list[dict]:
    """Time every (M, k, method); returns one dict per table row."""
    gen = torch.Generator().manual_seed(seed)
    rows = []
    for m in members:
        scores = torch.randn(batch, m, generator=gen)
        grad_out = torch.randn(batch, m, generator=gen)
        for k in sorted({1, max(1, m // 4)}):
            floor = _time_per_call(lambda s=scores, k=k: torch.topk(s, k, dim=-1), repeats, clock)
            rows.append({"method": "torch.topk (fwd)", "M": m, "k": k, "seconds": floor,
                         "ratio": 1.0})
            for method in methods:
                opts = _options(method, n_samples)
                x = scores.clone().requires_grad_(True)

                def step(x=x, k=k, method=method, opts=opts, g=grad_out) -> None:
                    x.grad = None
                    topk_mask(x, k, method=method, **opts).backward(g)

                seconds = _time_per_call(step, repeats, clock)
                rows.append({"method": method, "M": m, "k": k, "seconds": seconds,
                             "ratio": seconds / floor})
    return rows


def format_table(rows: Sequence[dict]) -> str:
    lines = [f"{'method':<18} {'M':>5} {'k':>5} {'ms':>10} {'x topk':>9}"]
    for r in rows:
        lines.append(f"{r['method']:<18} {r['M']:>5} {r['k']:>5} {1e3 * r['seconds']:>10.3f} "
                     f"{r['ratio']:>9.1f}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv``, run the benchmark and print the table; returns an exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=4096, help="rows B (default 4096)")
    parser.add_argument("--members", type=int, nargs="+", default=[8, 64, 512],
                        help="values of M (default 8 64 512)")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats (default 3)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch.set_num_threads (default: torch's default)")
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--n-samples", type=int, default=100,
                        help="samples of the perturbed method (default 100)")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="wall time (default) or this process's CPU time, steadier on a "
                             "busy machine with --threads 1")
    args = parser.parse_args(argv)
    if args.batch < 1 or args.repeats < 1 or min(args.members) < 1:
        parser.error("--batch, --repeats and --members must be positive")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    clock = time.perf_counter if args.clock == "wall" else time.process_time
    print(f"# ensel.ops top-k, forward+backward: B={args.batch} rows, float32, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.clock} clock, "
          f"median of {args.repeats} repeats; 'x topk' = time / torch.topk forward "
          f"(same run, same tensor); perturbed: n_samples={args.n_samples}")
    rows = run(args.batch, args.members, args.repeats, args.methods, args.n_samples,
               clock=clock)
    print(format_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
