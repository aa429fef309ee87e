"""Where ``solver="auto"`` should switch from L-BFGS to Adam (issue 11).

For growing training sizes n, the default ``AutoencoderTransformer`` is fitted
with ``solver="lbfgs"`` and with ``solver="adam"`` (every other parameter at
its default, so early stopping is ``"auto"``: cross-validation up to 1,000
rows, a held-out 10 % above), each fit in its own fresh process. Recorded:
fit time, iterations (epochs for Adam), whether a ``ConvergenceWarning`` was
raised, and the held-out error over ``PCA(k)``'s on the same rows.

Problems (the first n train rows of each; held-out rows fixed):

* ``patches``: 16x16 natural-image patches (:func:`benchmarks._datasets.
  image_patches`), float32, ``k=32``, default network (100 hidden units),
  10,000 held-out patches; n = 2,000 ... 50,000;
* ``randhie``: statsmodels' RAND health insurance table (20,190 x 10),
  standardized, ``k=3``, 30 % held out; n = 1,000 ... 14,133 (all).

``skae._fit.ADAM_MIN_ROWS`` (where ``solver="auto"`` switches) is set from
this table: the size from which Adam's held-out error is no higher than
L-BFGS's on every problem, at a time cost the user would accept.

Run: ``python benchmarks/bench_crossover.py [--quick] [--problems patches]``.
About 10 minutes on the 2-core machine.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import time
import warnings

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks._common import (
    add_common_args,
    apply_common_args,
    finish_main,
    run_child,
    start_recording,
)

SIZES = {
    "patches": [2000, 5000, 10000, 20000, 50000],
    "randhie": [1000, 2000, 3000, 5000, 7000, 10000, 14133],
    "fair": [1000, 2000, 3000, 4456],
}
SOLVERS = ["lbfgs", "adam"]
COLUMNS = [
    "problem",
    "n",
    "lbfgs/pca",
    "adam/pca",
    "adam/lbfgs",
    "lbfgs_s",
    "adam_s",
    "adam_s/lbfgs_s",
    "lbfgs_iter",
    "adam_epochs",
    "warnings (lbfgs, adam)",
]


@functools.cache
def _patches(quick: bool):
    """The image patches (train, test), cut once per process."""
    from benchmarks._datasets import image_patches

    n = 3000 if quick else 60000
    return image_patches(n, n_test=1000 if quick else 10000)


def _problem(problem: str, seed: int, quick: bool = False):
    """(train, test, k) of ``problem``; the split of a table depends on seed."""
    if problem == "patches":
        return (*_patches(quick), 32)
    from benchmarks._datasets import load_table
    from benchmarks.bench_panel import _split

    X_tr, X_te = _split(load_table(problem), seed=seed)
    return X_tr, X_te, max(1, X_tr.shape[1] // 3)


def fit_case(problem: str, n: int, solver: str, seeds, quick: bool = False) -> list:
    """Default fits on the first ``n`` train rows, one per seed (one process)."""
    from sklearn.decomposition import PCA
    from sklearn.exceptions import ConvergenceWarning

    from skae import AutoencoderTransformer

    out = []
    for seed in seeds:
        X_tr, X_te, k = _problem(problem, seed, quick)
        X = X_tr[:n]
        pca = PCA(k).fit(X)
        R = X_te - pca.inverse_transform(pca.transform(X_te))
        est = AutoencoderTransformer(k, solver=solver, random_state=seed)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            start = time.perf_counter()
            est.fit(X)
            seconds = time.perf_counter() - start
        warned = any(issubclass(w.category, ConvergenceWarning) for w in caught)
        out.append(
            dict(
                n=int(X.shape[0]),
                seconds=seconds,
                n_iter=int(est.n_iter_),
                warned=bool(warned),
                ratio=float(-est.score(X_te) / (R**2).sum(axis=1).mean()),
            )
        )
    return out


def run(problems=tuple(SIZES), sizes=None, seeds=(0, 1, 2), quick=False) -> list:
    import statistics

    sizes = sizes or SIZES
    rows = []
    for problem in problems:
        for n in sizes[problem]:
            kw = dict(problem=problem, n=n, seeds=list(seeds), quick=quick)
            got = {
                s: run_child("bench_crossover", "fit_case", dict(kw, solver=s))
                for s in SOLVERS
            }
            lb, ad = got["lbfgs"], got["adam"]

            def med(runs, key):
                return statistics.median(r[key] for r in runs)

            rows.append(
                {
                    "problem": problem,
                    "n": lb[0]["n"],
                    "lbfgs/pca": med(lb, "ratio"),
                    "adam/pca": med(ad, "ratio"),
                    "adam/lbfgs": statistics.median(
                        a["ratio"] / b["ratio"] for a, b in zip(ad, lb)
                    ),
                    "lbfgs_s": med(lb, "seconds"),
                    "adam_s": med(ad, "seconds"),
                    "adam_s/lbfgs_s": med(ad, "seconds") / med(lb, "seconds"),
                    "lbfgs_iter": med(lb, "n_iter"),
                    "adam_epochs": med(ad, "n_iter"),
                    "warnings (lbfgs, adam)": (
                        f"{sum(r['warned'] for r in lb)}, "
                        f"{sum(r['warned'] for r in ad)}"
                    ),
                    "raw": got,
                }
            )
            print({k: v for k, v in rows[-1].items() if k != "raw"}, flush=True)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(parser)
    parser.add_argument("--problems", default=",".join(SIZES))
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args(argv)
    apply_common_args(args)
    record = start_recording("crossover", argv)
    problems = args.problems.split(",")
    if args.quick:
        small = {"patches": [500], "randhie": [300], "fair": [300]}
        rows = run(problems, small, seeds=[0], quick=True)
    else:
        rows = run(problems, seeds=range(args.seeds))
    finish_main(
        record,
        args,
        "solver='lbfgs' vs solver='adam' at their defaults, by training size",
        [{"columns": COLUMNS, "rows": rows}],
        notes=[
            "Each (problem, n, solver) in its own fresh process, seeds in it; "
            "ratios are held-out errors over PCA(k)'s fitted on the same n "
            "rows, medians over seeds (adam/lbfgs: median of the per-seed "
            "ratios); times: medians over seeds; the table's split depends "
            "on the seed, the patches' does not (the seed is the network's)."
        ],
    )
    return rows


if __name__ == "__main__":
    main()
