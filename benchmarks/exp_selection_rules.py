"""Replay selection rules on the fits :mod:`benchmarks.exp_selection` recorded.

    python benchmarks/exp_selection_rules.py /tmp/exp/h100_k5 [more dirs]

For each directory, each fold patience and each rule: the chosen iteration
per (table, seed), the refit's test error there over PCA's (the start), the
table ratios (seed means, as bench_panel), their worst and median (with the
two large tables' ratios of the last panel run added, which this path does
not touch), and the cost: iterations (folds + refit) and an estimated time.
"""

from __future__ import annotations

import glob
import os
import statistics
import sys

import numpy as np

# full-table rows, as bench_panel's "n" (SMALL = 100 splits the summary)
N = dict(
    diabetes=442,
    breast_cancer=569,
    wine=178,
    iris=150,
    linnerud=20,
    longley=16,
    stackloss=21,
    cpunish=17,
    committee=20,
    copper=25,
    scotland=32,
    spector=32,
    statecrime=51,
    danish_data=55,
    elnino=61,
    heart=69,
    ccard=72,
    grunfeld=220,
    macrodata=203,
    star98=303,
    anes96=944,
)
LARGE = {"digits": 0.439, "fair": 0.468, "randhie": 0.039}  # panel.json: holdout path
TOL = 1e-4


def truncate(fold: np.ndarray, patience: int, tol: float = TOL) -> np.ndarray:
    """The rows a fold with this patience would have recorded."""
    m = fold.mean(axis=1)
    best, count = m[0], 0
    for i in range(1, len(m)):
        if m[i] < best - tol * abs(best):
            count = 0
        else:
            count += 1
        best = min(best, m[i])
        if count >= patience:
            return fold[: i + 1]
    return fold


def shared_truncate(folds, patience, tol=TOL):
    """Every fold stopped together once the pooled held-out error (all rows,
    a finished fold padded with its last errors) has not improved for
    ``patience`` iterations."""
    E = stack(folds)
    stop = len(truncate(E, patience, tol))
    return [f[:stop] for f in folds]


def stack(folds):
    length = max(len(f) for f in folds)
    return np.hstack(
        [np.vstack([f, np.repeat(f[-1:], length - len(f), axis=0)]) for f in folds]
    )


def _se(diff):
    n = diff.shape[0]
    return diff.std(ddof=1) / np.sqrt(n) if n > 1 else np.inf


def earliest(E, se_factor):
    means = E.mean(axis=1)
    best = int(np.argmin(means))
    for t in range(best):
        d = E[t] - E[best]
        if d.mean() <= se_factor * _se(d):
            return t
    return best


def best_if_significant(E, se_factor):
    """The best iteration if it beats the start by se_factor SE, else 0."""
    means = E.mean(axis=1)
    best = int(np.argmin(means))
    d = E[0] - E[best]
    return best if d.mean() > se_factor * _se(d) else 0


def sig_then_earliest(E, se_factor, inner=1.0):
    """Keep the start unless the best beats it by se_factor SE; then the
    earliest iteration within ``inner`` SE of the best."""
    if best_if_significant(E, se_factor) == 0:
        return 0
    return earliest(E, inner)


RULES = {
    "earliest_se2": lambda E: earliest(E, 2.0),
    "earliest_se1": lambda E: earliest(E, 1.0),
    "best_sig2": lambda E: best_if_significant(E, 2.0),
    "best_sig1": lambda E: best_if_significant(E, 1.0),
    "sig2_earliest1": lambda E: sig_then_earliest(E, 2.0, 1.0),
    "sig2_earliest0.5": lambda E: sig_then_earliest(E, 2.0, 0.5),
}


def early_exit(folds, c):
    """The folds run before a sequential exit: after each fold but the last,
    stop when the best pooled iteration so far beats the start by at most
    ``c`` standard errors of the paired differences (the start is then kept)."""
    for j in range(1, len(folds)):
        E = stack(folds[:j])
        means = E.mean(axis=1)
        best = int(np.argmin(means))
        d = E[0] - E[best]
        if best == 0 or d.mean() <= c * _se(d):
            return folds[:j], True
    return folds, False


def evaluate(directory, patience, rule, max_folds=None, shared=False, exit_c=None):
    per_table = {}
    for path in sorted(glob.glob(os.path.join(directory, "*.npz"))):
        z = np.load(path)
        table, seed = os.path.basename(path)[:-4].rsplit("_", 1)
        nf = int(z["n_folds"])
        folds = [z[f"fold{i}"] for i in range(nf)][:max_folds]
        stamps = [z[f"fold{i}_t"] for i in range(nf)][:max_folds]
        tails = [
            float(z["fold_s"][i]) - float(stamps[i][-1]) for i in range(len(folds))
        ]
        if shared:
            folds = shared_truncate(folds, patience)
        else:
            folds = [truncate(f, patience) for f in folds]
        exited = False
        if exit_c is not None:
            folds, exited = early_exit(folds, exit_c)
        E = stack(folds)
        t = 0 if exited else RULES[rule](E)
        test = z["test"]
        err = test[min(t, len(test) - 1)]
        final_t = z["final_t"]
        iters = sum(len(f) - 1 for f in folds)
        cost = sum(s[len(f) - 1] + tail for f, s, tail in zip(folds, stamps, tails))
        cost += float(final_t[min(t, len(final_t) - 1)]) if t else 0.0
        mlp = float(z["mlp_s"])
        per_table.setdefault(table, []).append((err, test[0], t, iters + t, cost, mlp))
    rows = {}
    for table, rs in per_table.items():
        ratio = np.mean([r[0] for r in rs]) / np.mean([r[1] for r in rs])
        rows[table] = dict(
            ratio=ratio,
            chosen=[r[2] for r in rs],
            iters=statistics.median(r[3] for r in rs),
            cost=statistics.median(r[4] for r in rs),
            time_ratio=statistics.median(r[4] for r in rs)
            / statistics.median(r[5] for r in rs),
        )
    return rows


def summary(rows):
    ratios = {t: r["ratio"] for t, r in rows.items()}
    ratios.update({t: v for t, v in LARGE.items()})
    small = [v for t, v in ratios.items() if N.get(t, 10**6) < 100]
    large = [v for t, v in ratios.items() if N.get(t, 10**6) >= 100]
    worst = max(ratios, key=ratios.get)
    return dict(
        worst=round(ratios[worst], 3),
        worst_table=worst,
        median=round(statistics.median(ratios.values()), 3),
        small=round(statistics.median(small), 3),
        large=round(statistics.median(large), 3),
        iters=statistics.median(r["iters"] for r in rows.values()),
        cost_s=round(statistics.median(r["cost"] for r in rows.values()), 3),
        time_vs_mlp=round(statistics.median(r["time_ratio"] for r in rows.values()), 2),
    )


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    verbose = "-v" in argv
    dirs = [a for a in argv if a != "-v"]
    for directory in dirs:
        modes = [(p, 0, c) for p in (20, 10, 5) for c in (None, 0.0, 1.0)]
        modes += [(p, 1, None) for p in (20, 10, 5)]
        for patience, shared, exit_c in modes:
            for rule in RULES:
                rows = evaluate(
                    directory, patience, rule, shared=bool(shared), exit_c=exit_c
                )
                s = summary(rows)
                mode = (
                    f"p{patience}"
                    + ("shared" if shared else "")
                    + ("" if exit_c is None else f"_exit{exit_c:g}")
                )
                print(os.path.basename(directory), mode, rule, s)
                if verbose:
                    for t, r in sorted(rows.items(), key=lambda x: x[1]["ratio"]):
                        print(
                            f"    {t:14s} {r['ratio']:.3f} {r['chosen']} "
                            f"it={r['iters']} cost={r['cost']:.3f} "
                            f"t/mlp={r['time_ratio']:.2f}"
                        )


if __name__ == "__main__":
    main()
