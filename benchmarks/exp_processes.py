"""Research tool for issue 12's narrow-table target: threads against processes.

The target asks the narrow table (20,000 x 10, tanh ``10 -> 100 -> 3 -> 100
-> 10``) to evaluate 1.7x faster on 2 threads than on 1. skae's row-parallel
kernel (:class:`skae._kernel.BlockedObjective`) does not get there: a block
is about 40 numpy calls that each hold the GIL for their dispatch. This tool
measures what the same kernel gains when the rows are split between two
worker *processes* instead (each its own interpreter and GIL; each evaluates
its half with ``BlockedObjective(n_threads=1)``, BLAS at one thread; the
parameters go out and the gradients come back through pipes, the halves'
means averaged), beside 1 and 2 threads, all in the same run, and checks
that the gradient agrees.

Nothing here is part of skae: a process pool in the fit would be a design
decision (start-up cost per fit, lifecycle, fork safety), not a kernel
change. Output: ms per evaluation (median of 30 after 3 warm-ups), the
speed-ups, and the gradient's largest relative difference, per dtype and
round, to ``--out`` (JSON) and stdout.

    python benchmarks/exp_processes.py --rounds 3 \
        --out benchmarks/results/exp_processes.json
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np

from benchmarks._common import median_time

ARCH = (10, (100,), 3, "tanh", "identity", "identity")
SHAPE = ("lowrank", 20000, 10, 100, 3)


def _worker(conn, X, dtype):
    """Evaluate this half of the rows for every parameter vector received
    (None ends)."""
    from threadpoolctl import threadpool_limits

    from skae._kernel import BlockedObjective
    from skae._network import make_architecture

    threadpool_limits(1)
    f = BlockedObjective(make_architecture(*ARCH), X, X, dtype, n_threads=1, alpha=0.0)
    while True:
        theta = conn.recv()
        if theta is None:
            return
        conn.send(f(theta))


def _median_ms(func):
    return 1e3 * median_time(func, repeats=30, warmup=3)


def measure(dtype: str) -> dict:
    """One round: 1 thread, 2 threads, 2 processes on the narrow table."""
    from threadpoolctl import threadpool_limits

    from benchmarks.bench_kernel import _problem
    from skae._kernel import BlockedObjective

    X, arch, theta = _problem(SHAPE, dtype)
    with threadpool_limits(1):
        one = BlockedObjective(arch, X, X, dtype, n_threads=1, alpha=0.0)
        two = BlockedObjective(arch, X, X, dtype, n_threads=2, alpha=0.0)
        ms_one = _median_ms(lambda: one(theta))
        ms_threads = _median_ms(lambda: two(theta))
    ctx = mp.get_context("spawn")
    half = X.shape[0] // 2
    pipes, procs = [], []
    for part in (X[:half].copy(), X[half:].copy()):
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=_worker, args=(child, part, dtype))
        proc.start()
        pipes.append(parent)
        procs.append(proc)

    def processes():
        for conn in pipes:
            conn.send(theta)
        (J0, g0), (J1, g1) = (conn.recv() for conn in pipes)
        return 0.5 * (J0 + J1), 0.5 * (g0 + g1)

    try:
        g_ref = one(theta)[1]
        diff = float(np.max(np.abs(processes()[1] - g_ref)) / np.max(np.abs(g_ref)))
        ms_procs = _median_ms(processes)
    finally:
        for conn in pipes:
            conn.send(None)
        for proc in procs:
            proc.join()
    return {
        "dtype": dtype,
        "ms_1_thread": ms_one,
        "ms_2_threads": ms_threads,
        "ms_2_processes": ms_procs,
        "speedup_threads": ms_one / ms_threads,
        "speedup_processes": ms_one / ms_procs,
        "grad_rel_diff": diff,
        "loadavg": list(os.getloadavg()),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    rows = []
    for r in range(args.rounds):
        for dtype in ("float32", "float64"):
            row = dict(measure(dtype), round=r)
            rows.append(row)
            print(
                f"{dtype} round {r}: 1 thread {row['ms_1_thread']:.2f} ms, 2 threads "
                f"{row['ms_2_threads']:.2f} ms ({row['speedup_threads']:.2f}x), "
                f"2 processes {row['ms_2_processes']:.2f} ms "
                f"({row['speedup_processes']:.2f}x); grad rel diff "
                f"{row['grad_rel_diff']:.1e}",
                flush=True,
            )
    if args.out:
        with open(args.out, "w") as fh:
            json.dump({"shape": SHAPE, "rows": rows}, fh, indent=1)


if __name__ == "__main__":
    main()
