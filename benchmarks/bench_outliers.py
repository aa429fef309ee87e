"""Outlier detection: skae's default detector against IsolationForest, LOF and
pyod's AutoEncoder, on anomaly setups built from datasets scikit-learn ships.

Each setup takes one labelled dataset, calls some classes the inliers and the
others the outliers (no download needed):

- ``digits 0``: digits (1797 x 64), the 0s are the inliers, every other
  digit an outlier;
- ``digits 8``: the same with the 8s (a digit that resembles several others);
- ``breast_cancer``: (569 x 30) benign tumours are the inliers, malignant
  the outliers;
- ``wine``: (178 x 13) cultivar 1 (class 0) is the inlier, cultivars 2 and 3
  the outliers;
- ``iris``: (150 x 4) setosa and versicolor are the inliers, virginica the
  outliers (virginica overlaps versicolor: the hard one);
- ``digits corrupted``: all digits are inliers; the outliers are held-out
  digits with 8 random pixels set to a random intensity (local, small
  anomalies, the case reconstruction error is built for).

Three more (``EXTRA_SETUPS``), added when the detector's default start
changed, to check that change on data it was not chosen on:

- ``digits 3`` and ``digits 9``: as ``digits 0``, with the 3s or the 9s
  (two digits that resemble others) as the inliers;
- ``wine 1``: cultivar 2 (class 1) is the inlier, cultivars 1 and 3 the
  outliers.

Protocol (novelty detection, the same for every contender and seed): the
inliers are split 70/30 by the seed; each detector is fitted on the 70 %
(inliers only), after a ``StandardScaler`` fitted on them, and scores a test
set of the 30 % held-out inliers plus outliers drawn by the seed, as many as
a quarter of the held-out inliers (all of them when fewer). Reported: ROC AUC
and average precision of ``-score_samples`` (outliers positive), and fit time
(median over the seeds, after one untimed warm-up fit). Each contender runs
each setup in its own fresh process (``_common.run_child``), all three seeds
there.

Contenders, at their defaults: ``AutoencoderOutlierDetector()``,
``IsolationForest(random_state=seed)``, ``LocalOutlierFactor(novelty=True)``,
``pyod.models.auto_encoder.AutoEncoder(random_state=seed, verbose=0)`` (pyod
3.x, needs torch; an optional extra: ``pip install pyod tqdm``; skipped when
missing). pyod's AutoEncoder standardises its input itself too (its
``preprocessing=True``), harmless on standardized data.

Run: ``python benchmarks/bench_outliers.py [--quick]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np

from benchmarks._common import (
    add_common_args,
    apply_common_args,
    finish_main,
    quiet_fit,
    run_child,
    start_recording,
)

SETUPS = ("digits 0", "digits 8", "breast_cancer", "wine", "iris", "digits corrupted")
#: Setups added when the detector's defaults changed (issue 13), to check the
#: change on data it was not chosen on; ``run`` reports them with the others.
EXTRA_SETUPS = ("digits 3", "digits 9", "wine 1")
CONTENDERS = ("skae", "iforest", "lof", "pyod_ae")
COLUMNS = ["setup", "contender", "roc_auc", "avg_precision", "fit_s", "n_train"]


def _corrupt(X, rng, n_pixels=8):
    X = X.copy()
    for row in X:
        cols = rng.choice(X.shape[1], n_pixels, replace=False)
        row[cols] = rng.uniform(0, 16, n_pixels)
    return X


def load_setup(name: str, seed: int):
    """``(X_train, X_test, y_test)`` of one setup: inliers only in train,
    ``y_test`` 1 for outliers."""
    from sklearn import datasets

    rng = np.random.RandomState(seed)
    if name.startswith("digits"):
        X, y = datasets.load_digits(return_X_y=True)
    else:
        X, y = getattr(datasets, f"load_{name.split()[0]}")(return_X_y=True)
    if name == "digits corrupted":
        inlier = np.ones(len(y), bool)
    elif name.startswith("digits"):
        inlier = y == int(name.split()[1])
    elif name == "breast_cancer":
        inlier = y == 1  # benign
    elif name.startswith("wine"):
        inlier = y == (int(name.split()[1]) if " " in name else 0)
    elif name == "iris":
        inlier = y != 2
    else:
        raise ValueError(name)
    X_in = X[inlier][rng.permutation(int(inlier.sum()))]
    n_tr = int(round(0.7 * len(X_in)))
    X_tr, X_te_in = X_in[:n_tr], X_in[n_tr:]
    n_out = len(X_te_in) // 4
    if name == "digits corrupted":
        X_out = _corrupt(X_te_in[rng.choice(len(X_te_in), n_out, replace=False)], rng)
    else:
        X_out = X[~inlier]
        X_out = X_out[rng.choice(len(X_out), min(n_out, len(X_out)), replace=False)]
    X_te = np.vstack([X_te_in, X_out])
    y_te = np.r_[np.zeros(len(X_te_in)), np.ones(len(X_out))]
    return X_tr.astype(float), X_te.astype(float), y_te


def _make(contender: str, seed: int):
    if contender == "skae":
        from skae import AutoencoderOutlierDetector

        return AutoencoderOutlierDetector(random_state=seed)
    if contender == "iforest":
        from sklearn.ensemble import IsolationForest

        return IsolationForest(random_state=seed)
    if contender == "lof":
        from sklearn.neighbors import LocalOutlierFactor

        return LocalOutlierFactor(novelty=True)
    if contender == "pyod_ae":
        from pyod.models.auto_encoder import AutoEncoder

        return AutoEncoder(random_state=seed, verbose=0)
    raise ValueError(contender)


def _scores(model, X):
    """Outlier scores, higher = more anomalous."""
    if hasattr(model, "score_samples"):
        return -model.score_samples(X)
    return model.decision_function(X)  # pyod: higher is more anomalous


def run_contender(contender: str, setup: str, seeds: list) -> dict:
    """One contender on one setup over ``seeds``, in this process."""
    from sklearn.metrics import average_precision_score, roc_auc_score
    from sklearn.preprocessing import StandardScaler

    aucs, aps, times = [], [], []
    n_train = 0
    # One untimed fit first: imports and first-call set-up (torch's above
    # all) are not the fit's cost.
    X_tr, _, _ = load_setup(setup, seeds[0])
    quiet_fit(_make(contender, seeds[0]), StandardScaler().fit_transform(X_tr))
    for seed in seeds:
        X_tr, X_te, y_te = load_setup(setup, seed)
        scaler = StandardScaler().fit(X_tr)
        X_tr, X_te = scaler.transform(X_tr), scaler.transform(X_te)
        model = _make(contender, seed)
        t0 = time.perf_counter()
        quiet_fit(model, X_tr)
        times.append(time.perf_counter() - t0)
        s = _scores(model, X_te)
        aucs.append(float(roc_auc_score(y_te, s)))
        aps.append(float(average_precision_score(y_te, s)))
        n_train = len(X_tr)
    return {
        "setup": setup,
        "contender": contender,
        "roc_auc": statistics.mean(aucs),
        "avg_precision": statistics.mean(aps),
        "fit_s": statistics.median(times),
        "n_train": n_train,
        "roc_auc_seeds": aucs,
    }


def available(contender: str) -> bool:
    if contender != "pyod_ae":
        return True
    try:
        import pyod.models.auto_encoder  # noqa: F401
    except ImportError:
        return False
    return True


def run(setups=SETUPS + EXTRA_SETUPS, contenders=CONTENDERS, seeds=(0, 1, 2)):
    """One row per (setup, contender), each from a fresh process."""
    rows = []
    for setup in setups:
        for contender in contenders:
            if not available(contender):
                continue
            rows.append(
                run_child(
                    "bench_outliers",
                    "run_contender",
                    {"contender": contender, "setup": setup, "seeds": list(seeds)},
                )
            )
    return rows


def summary(rows) -> list[dict]:
    """Per contender: median ROC AUC and fit time over setups; for skae, the
    targets against pyod's AutoEncoder."""
    out = []
    for c in dict.fromkeys(r["contender"] for r in rows):
        mine = [r for r in rows if r["contender"] == c]
        out.append(
            {
                "contender": c,
                "median_roc_auc": statistics.median(r["roc_auc"] for r in mine),
                "median_avg_precision": statistics.median(
                    r["avg_precision"] for r in mine
                ),
                "median_fit_s": statistics.median(r["fit_s"] for r in mine),
            }
        )
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(parser)
    args = parser.parse_args(argv)
    apply_common_args(args)
    record = start_recording("outliers", argv)
    if args.quick:
        rows = run(setups=("wine",), contenders=("skae", "iforest", "lof"), seeds=(0,))
    else:
        rows = run()
    tables = [
        {"caption": "", "columns": COLUMNS, "rows": rows},
        {
            "caption": "Medians over the setups",
            "columns": list(summary(rows)[0]),
            "rows": summary(rows),
        },
    ]
    finish_main(
        record,
        args,
        "Outlier detection: ROC AUC, average precision, fit time",
        tables,
        raw=rows,
    )
    return rows


if __name__ == "__main__":
    main()
