"""A panel of real tables: held-out reconstruction error against PCA, fit time
against MLPRegressor (issue 11).

For every table of :data:`benchmarks._datasets.PANEL` (24 numeric tables that
scikit-learn and statsmodels ship) and every seed: a 70/30 split
(``train_test_split(random_state=seed)``), ``StandardScaler`` fitted on the
train rows, ``k = max(1, d // 3)``, then each contender is fitted on the train
rows and scored on the test rows by its held-out error, the mean over test rows
of ``||x - x_hat||^2``:

* ``pca``: ``PCA(k)``; ``x_hat = inverse_transform(transform(x))``;
* ``skae``: ``AutoencoderTransformer(n_components=k, random_state=seed,
  **params)`` (``params`` empty: the default a user gets);
* ``mlp``: ``MLPRegressor(hidden_layer_sizes=(100, k, 100), solver="lbfgs",
  random_state=seed)`` fitted X to X at its other defaults; ``x_hat =
  predict(x)``.

Reported per table: each contender's error as a ratio to PCA's (ratio of the
seed means, with the per-seed ratios' [min, max]), skae's ``ConvergenceWarning``
count and iterations, fit times and skae's fit time over the MLP's. The summary
gives, per contender, the worst and the median table ratio (also over the small
tables, n < 100, and the others), the share of fits without a
``ConvergenceWarning`` and the median skae/MLP fit-time ratio: the numbers of
issue 11's targets.

Fit times: by default every contender runs in a fresh process per table (all
seeds of that table in it, after a warm-up fit on 30 train rows), so that
thread pools and imports of one contender never touch another's clock.
``--same-process`` runs everything in this process (quicker; times labelled as
such).

Candidate defaults, compared quickly (the PCA and MLP fits of an earlier run
reused with ``--reuse``)::

    python benchmarks/bench_panel.py                                # baseline
    python benchmarks/bench_panel.py --params '{"init": "pca"}' \\
        --reuse benchmarks/results/panel.json
    python benchmarks/bench_panel.py --estimator \\
        "skae:AutoencoderTransformer(n_components=k, random_state=seed)"
    python benchmarks/bench_panel.py --config candidates.json --same-process

``--config`` names several candidates at once: a JSON object ``{"label":
{"params": {...}}, "other": {"estimator": "module:expression"}}``. In an
``--estimator`` expression the names ``k``, ``seed``, ``n`` (train rows) and
``d`` are defined besides the module's own. An estimator with ``transform``
and ``inverse_transform`` reconstructs through them; one with only ``predict``
is fitted X to X. Unknown skae parameters fail before anything runs.

Without ``--out``, a run with candidates writes ``results/panel_<labels>.json``
and the baseline run ``results/panel.json``. While it runs, the fits so far
are kept in ``<out>.partial``; a run that dies resumes with ``--reuse
<out>.partial`` (the fits of every contender whose spec matches are reused).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import warnings

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks._common import (
    RESULTS_DIR,
    add_common_args,
    apply_common_args,
    finish_main,
    run_child,
    spread,
    start_recording,
)

TITLE = "Panel of real tables: held-out error / PCA's, fit time / MLPRegressor's"
SMALL = 100  # rows; the summary reports tables below this separately
MLP_CONTENDER = {"kind": "mlp", "params": {}}
PCA_CONTENDER = {"kind": "pca"}


# --------------------------------------------------------------------------
# One table, one contender (in a child process or here)
# --------------------------------------------------------------------------


def _split(X, seed, test_size=0.3):
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    X_tr, X_te = train_test_split(X, test_size=test_size, random_state=seed)
    scaler = StandardScaler().fit(X_tr)
    return scaler.transform(X_tr), scaler.transform(X_te)


def check_skae_params(params: dict) -> None:
    """Fail clearly when ``params`` names a parameter skae does not have."""
    from skae import AutoencoderTransformer

    known = AutoencoderTransformer().get_params()
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise ValueError(
            f"AutoencoderTransformer has no parameter {unknown} in this checkout "
            f"(skae at {os.path.dirname(__import__('skae').__file__)}); "
            f"its parameters: {sorted(known)}"
        )


def make_estimator(spec: dict, k: int, seed: int, n: int, d: int):
    """The estimator a contender spec describes, for this table and seed."""
    kind = spec["kind"]
    if kind == "pca":
        from sklearn.decomposition import PCA

        return PCA(n_components=k, random_state=seed)
    if kind == "mlp":
        from sklearn.neural_network import MLPRegressor

        kwargs = dict(hidden_layer_sizes=(100, k, 100), solver="lbfgs")
        kwargs.update(spec.get("params", {}))
        return MLPRegressor(random_state=seed, **kwargs)
    if kind == "skae":
        from skae import AutoencoderTransformer

        params = dict(spec.get("params", {}))
        check_skae_params(params)
        params.setdefault("random_state", seed)
        return AutoencoderTransformer(n_components=k, **params)
    if kind == "expr":
        import importlib

        module, _, expression = spec["estimator"].partition(":")
        if not expression:
            raise ValueError(
                f"--estimator wants 'module:expression', got {spec['estimator']!r}"
            )
        namespace = dict(vars(importlib.import_module(module)))
        namespace.update(k=k, seed=seed, n=n, d=d)
        return eval(expression, namespace)  # a developer's command line
    raise ValueError(f"unknown contender kind {kind!r}")


def _reconstruct(est, X):
    if hasattr(est, "transform") and hasattr(est, "inverse_transform"):
        return est.inverse_transform(est.transform(X))
    return est.predict(X)


def _fit(est, X):
    if hasattr(est, "transform") and hasattr(est, "inverse_transform"):
        return est.fit(X)
    return est.fit(X, X)  # a regressor, fitted X to X


def _error(X, X_hat) -> float:
    import numpy as np

    R = np.asarray(X, dtype=np.float64) - np.asarray(X_hat, dtype=np.float64)
    return float(np.mean(np.sum(R**2, axis=1)))


def table_case(
    table: str, spec: dict, seeds, process: str = "fresh", threads: int | None = None
) -> list[dict]:
    """Fit contender ``spec`` on ``table`` for each seed; one record per fit.

    ``threads``: every BLAS and OpenMP pool limited to that many threads
    (threadpoolctl) around the fits; None leaves the defaults.
    """
    import contextlib

    from sklearn.base import clone
    from threadpoolctl import threadpool_limits

    from benchmarks._datasets import load_table

    X = load_table(table)
    d = X.shape[1]
    k = max(1, d // 3)
    limit = contextlib.nullcontext()
    if threads is not None:
        limit = threadpool_limits(int(threads))
    with limit:
        records = _fits(table, spec, seeds, process, X, d, k, clone)
    for r in records:
        r["threads"] = "default" if threads is None else int(threads)
    return records


def _fits(table, spec, seeds, process, X, d, k, clone):
    from sklearn.exceptions import ConvergenceWarning

    records = []
    warmed = False
    for seed in seeds:
        X_tr, X_te = _split(X, seed)
        est = make_estimator(spec, k, seed, X_tr.shape[0], d)
        if not warmed:  # first-call costs (imports, BLAS start) off the clock
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                _fit(clone(est), X_tr[: min(30, len(X_tr))])
            warmed = True
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            t0 = time.perf_counter()
            _fit(est, X_tr)
            fit_s = time.perf_counter() - t0
        conv = [w for w in caught if issubclass(w.category, ConvergenceWarning)]
        other = sorted(
            {w.category.__name__ for w in caught} - {ConvergenceWarning.__name__}
        )
        n_iter = getattr(est, "n_iter_", None)
        records.append(
            {
                "table": table,
                "seed": seed,
                "n": X.shape[0],
                "d": d,
                "k": k,
                "n_train": X_tr.shape[0],
                "error": _error(X_te, _reconstruct(est, X_te)),
                "train_error": _error(X_tr, _reconstruct(est, X_tr)),
                "fit_s": fit_s,
                "convergence_warning": bool(conv),
                "other_warnings": other,
                "n_iter": None if n_iter is None else int(n_iter),
                "stopped_by": getattr(est, "stopped_by_", None),
                "process": process,
            }
        )
    return records


# --------------------------------------------------------------------------
# The panel
# --------------------------------------------------------------------------


def _candidate_specs(params=None, estimator=None, config=None, label=None):
    """Label -> contender spec for the skae candidates asked on the command line."""
    specs = {}
    if config:
        with open(config) as f:
            for name, c in json.load(f).items():
                if "estimator" in c:
                    specs[name] = {"kind": "expr", "estimator": c["estimator"]}
                else:
                    specs[name] = {"kind": "skae", "params": c.get("params", {})}
    if estimator:
        specs[label or "candidate"] = {"kind": "expr", "estimator": estimator}
    if params is not None:
        specs[label or "skae"] = {"kind": "skae", "params": params}
    if not specs:
        specs["skae"] = {"kind": "skae", "params": {}}
    for spec in specs.values():
        if spec["kind"] == "skae":
            check_skae_params(spec["params"])
    return specs


def _reusable(path, contender, spec, threads=None):
    """Records of ``contender`` from an earlier panel JSON, if its spec and the
    thread setting match; never skae's, whose code changes between runs."""
    if not path or contender not in ("pca", "mlp"):
        return {}
    with open(path) as f:
        old = json.load(f)
    if old.get("raw", {}).get("specs", {}).get(contender) != spec:
        return {}
    return {
        (r["table"], r["seed"]): r
        for r in old["raw"]["fits"]
        if r["contender"] == contender
        and r.get("threads", "default") == ("default" if threads is None else threads)
    }


def run(
    tables=None,
    seeds=(0, 1, 2),
    candidates=None,
    mlp_params=None,
    same_process=False,
    reuse=None,
    log=None,
    threads=None,
    partial=None,
):
    """Fit every contender on every table; returns ``(fits, specs)``.

    ``candidates`` maps labels to contender specs (default: skae at its
    defaults); ``fits`` holds one record per (table, contender, seed). With
    ``partial`` (a path), the fits so far are saved there after every table,
    in a form ``reuse`` accepts: a run that dies can be resumed.
    """
    from benchmarks._datasets import PANEL

    tables = list(tables or PANEL)
    candidates = candidates or {"skae": {"kind": "skae", "params": {}}}
    specs = {"pca": PCA_CONTENDER, "mlp": {"kind": "mlp", "params": mlp_params or {}}}
    specs.update(candidates)
    fits = []
    for contender, spec in specs.items():
        old = _reusable(reuse, contender, spec, threads)
        for table in tables:
            if all((table, s) in old for s in seeds):
                got = [dict(old[(table, s)], reused=True) for s in seeds]
            elif same_process:
                got = table_case(table, spec, list(seeds), "same", threads)
            else:
                got = run_child(
                    "bench_panel",
                    "table_case",
                    dict(table=table, spec=spec, seeds=list(seeds), threads=threads),
                )
            for r in got:
                r["contender"] = contender
            fits += got
            if partial:
                _save_partial(partial, specs, seeds, fits)
            if log is not None:
                e = statistics.mean(r["error"] for r in got)
                t = statistics.median(r["fit_s"] for r in got)
                log(f"{contender:>12} {table:>14}: error {e:.4g}, fit {t:.3g} s")
    return fits, specs


def _save_partial(path, specs, seeds, fits):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path + ".tmp", "w") as f:
        json.dump({"raw": {"specs": specs, "seeds": list(seeds), "fits": fits}}, f)
    os.replace(path + ".tmp", path)


def _by(fits, contender, table):
    return sorted(
        (r for r in fits if r["contender"] == contender and r["table"] == table),
        key=lambda r: r["seed"],
    )


def table_rows(fits, specs) -> tuple[list[dict], list[str]]:
    """One row per table: ratios to PCA, warnings, iterations, fit times."""
    tables = list(dict.fromkeys(r["table"] for r in fits))
    others = [c for c in specs if c != "pca"]
    skaes = [c for c in specs if c not in ("pca", "mlp")]
    rows = []
    for table in tables:
        pca = _by(fits, "pca", table)
        first = pca[0]
        row = {
            "table": table,
            "n": first["n"],
            "d": first["d"],
            "k": first["k"],
            "pca_error": statistics.mean(r["error"] for r in pca),
        }
        for c in others:
            rs = _by(fits, c, table)
            per_seed = [r["error"] / p["error"] for r, p in zip(rs, pca)]
            s = spread(per_seed)
            row[f"{c}/pca"] = statistics.mean(r["error"] for r in rs) / row["pca_error"]
            row[f"{c}/pca_spread"] = dict(s, median=row[f"{c}/pca"])
        mlp_t = [r["fit_s"] for r in _by(fits, "mlp", table)]
        row["mlp_fit_s"] = statistics.median(mlp_t)
        row["mlp_fit_s_spread"] = spread(mlp_t)
        for c in skaes:
            rs = _by(fits, c, table)
            ts = [r["fit_s"] for r in rs]
            row[f"{c}_warn"] = f"{sum(r['convergence_warning'] for r in rs)}/{len(rs)}"
            iters = [r["n_iter"] for r in rs if r["n_iter"] is not None]
            row[f"{c}_iter"] = int(statistics.median(iters)) if iters else ""
            row[f"{c}_fit_s"] = statistics.median(ts)
            row[f"{c}_fit_s_spread"] = spread(ts)
            row[f"{c}/mlp_time"] = row[f"{c}_fit_s"] / row["mlp_fit_s"]
        rows.append(row)
    columns = ["table", "n", "d", "k", "pca_error"]
    columns += [f"{c}/pca" for c in others]
    for c in skaes:
        columns += [f"{c}_warn", f"{c}_iter", f"{c}_fit_s"]
    columns += ["mlp_fit_s"] + [f"{c}/mlp_time" for c in skaes]
    return rows, columns


def summary_rows(fits, specs, rows) -> tuple[list[dict], list[str]]:
    """Per contender: issue 11's numbers over the panel."""
    out = []
    for c in specs:
        if c == "pca":
            continue
        ratios = {r["table"]: r[f"{c}/pca"] for r in rows}
        small = [r[f"{c}/pca"] for r in rows if r["n"] < SMALL]
        large = [r[f"{c}/pca"] for r in rows if r["n"] >= SMALL]
        worst = max(ratios, key=ratios.get)
        mine = [r for r in fits if r["contender"] == c]
        clean = sum(not r["convergence_warning"] for r in mine)
        time_ratios = [r[f"{c}/mlp_time"] for r in rows if f"{c}/mlp_time" in r]
        out.append(
            {
                "contender": c,
                "worst_ratio": ratios[worst],
                "worst_table": worst,
                "median_ratio": statistics.median(ratios.values()),
                f"median_n<{SMALL}": statistics.median(small) if small else "",
                f"median_n>={SMALL}": statistics.median(large) if large else "",
                "tables_<=1.05": f"{sum(v <= 1.05 for v in ratios.values())}"
                f"/{len(ratios)}",
                "fits_without_warning": clean / len(mine),
                "median_time/mlp": statistics.median(time_ratios)
                if time_ratios
                else "",
                "total_fit_s": sum(r["fit_s"] for r in mine),
            }
        )
    columns = list(out[0]) if out else []
    return out, columns


def _describe(specs) -> str:
    parts = []
    for c, spec in specs.items():
        if spec["kind"] == "skae":
            parts.append(
                f"`{c}` = `AutoencoderTransformer(n_components=k, "
                f"random_state=seed, **{json.dumps(spec['params'])})`"
            )
        elif spec["kind"] == "expr":
            parts.append(f"`{c}` = `{spec['estimator']}`")
        elif spec["kind"] == "mlp":
            extra = json.dumps(spec["params"]) if spec["params"] else "defaults"
            parts.append(
                "`mlp` = `MLPRegressor(hidden_layer_sizes=(100, k, 100), "
                f'solver="lbfgs", random_state=seed)` X to X, {extra}'
            )
    return "; ".join(parts) + "."


def _default_out(specs, args) -> str | None:
    if args.no_save:
        return None
    if args.out:
        return args.out
    if args.quick:
        return None
    labels = [c for c in specs if c not in ("pca", "mlp")]
    suffix = "" if args.threads is None else f"_threads{args.threads}"
    if args.tables:
        suffix += "_subset"
    if labels == ["skae"] and specs["skae"] == {"kind": "skae", "params": {}}:
        if not suffix:
            return os.path.join(RESULTS_DIR, "panel.json")
        return os.path.join(RESULTS_DIR, f"panel{suffix}.json")
    safe = "_".join("".join(ch if ch.isalnum() else "-" for ch in c) for c in labels)
    return os.path.join(RESULTS_DIR, f"panel_{safe}{suffix}.json")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(parser)
    parser.add_argument("--tables", default=None, help="comma-separated subset")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument(
        "--params",
        type=json.loads,
        default=None,
        help='JSON kwargs for AutoencoderTransformer, e.g. \'{"init": "pca"}\'',
    )
    parser.add_argument("--estimator", default=None, help="'module:expression'")
    parser.add_argument("--config", default=None, help="JSON file of candidates")
    parser.add_argument("--label", default=None, help="name of the one candidate")
    parser.add_argument(
        "--same-process",
        action="store_true",
        help="every fit in this process (faster; fit times then share a process)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="limit every BLAS/OpenMP pool to N threads around the fits "
        "(steadier times on a loaded machine; default: the libraries' defaults)",
    )
    parser.add_argument(
        "--reuse",
        default=None,
        help="earlier panel JSON whose pca/mlp fits (same spec) are reused",
    )
    args = parser.parse_args(argv)
    apply_common_args(args)
    record = start_recording("panel", argv)
    candidates = _candidate_specs(args.params, args.estimator, args.config, args.label)
    seeds = tuple(range(args.seeds))
    tables = args.tables.split(",") if args.tables else None
    mlp_params = None
    if args.quick:
        tables = tables or ["longley", "iris", "stackloss"]
        seeds = (0,)
        for spec in candidates.values():
            if spec["kind"] == "skae":
                spec["params"] = {"max_iter": 5, **spec["params"]}
        mlp_params = {"max_iter": 5}

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    specs_preview = {"pca": PCA_CONTENDER, "mlp": MLP_CONTENDER, **candidates}
    args.out = _default_out(specs_preview, args)
    args.no_save = args.out is None
    partial = None if args.out is None else args.out + ".partial"
    fits, specs = run(
        tables,
        seeds,
        candidates,
        mlp_params,
        args.same_process,
        args.reuse,
        log,
        args.threads,
        partial,
    )
    rows, columns = table_rows(fits, specs)
    summary, summary_columns = summary_rows(fits, specs, rows)
    timing = (
        "every fit in one process (`--same-process`)"
        if args.same_process
        else "each contender in a fresh process per table (seeds in it)"
    )
    if args.threads is not None:
        timing += f", every BLAS/OpenMP pool limited to {args.threads} thread(s)"
    reused = sum(bool(r.get("reused")) for r in fits)
    notes = [
        f"Contenders: {_describe(specs)} Seeds {list(seeds)}; fit times: {timing}"
        + (f"; {reused} fits reused from `{args.reuse}`" if reused else "")
        + ". Ratios are the seed-mean error over PCA's seed-mean error, "
        "[min, max] over the per-seed ratios; times median [min, max] over seeds."
    ]
    finish_main(
        record,
        args,
        TITLE,
        [
            {"caption": "", "columns": summary_columns, "rows": summary},
            {"caption": "Per table:", "columns": columns, "rows": rows},
        ],
        notes,
        raw={"specs": specs, "seeds": list(seeds), "fits": fits},
    )
    if partial and os.path.exists(partial):
        os.remove(partial)
    return rows


if __name__ == "__main__":
    main()
