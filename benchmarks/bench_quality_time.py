"""Time to quality: held-out reconstruction error against seconds (issues 11, 12).

Every contender trains the same plain network ``d -> h -> k -> h -> d``
(``tanh`` hidden layers, linear code and output) on the same standardized
train rows and is scored on the same held-out rows (mean over rows of
``||x - x_hat||^2``) at checkpoints spaced geometrically in time (every 20 %
of the elapsed time, from 0.05 s on); computing that score is taken off the
clock. Each contender runs in its own fresh process until it stops by itself
or its time budget runs out; the last point is its final model.

Problems:

* ``digits``: scikit-learn's digits, 75/25 split, ``k=8``, ``h=128``,
  float64, budget 20 s;
* ``patches``: 50,000 + 10,000 16x16 natural-image patches
  (:func:`benchmarks._datasets.image_patches`), ``k=32``, ``h=256``, float32,
  budget 120 s.

Contenders:

* ``PCA(k)``: a horizontal line at its held-out error (its fit time noted);
* skae's ``AutoencoderTransformer(n_components=k, hidden_layer_sizes=(h,),
  random_state=0, **params)`` for each entry of :data:`SKAE` (``default``: no
  params; ``lbfgs`` / ``adam``: ``{"solver": ...}`` with an unbounded
  iteration budget). A parameter this checkout of skae does not have fails
  that contender alone, with a clear message in the results;
* skae ``partial_fit`` passes (minibatch Adam, batch 128, lr 1e-3), which
  exist today;
* torch (CPU) Adam (lr 1e-3, batches of 128, reshuffled every epoch) and
  full-batch LBFGS (history 10, strong Wolfe), Glorot-uniform start, zero
  biases, objective ``0.5 * mean ||x - x_hat||^2`` (no weight decay). LBFGS
  points are scored at evaluated parameters whose loss is the best so far.

Writes ``results/quality_time.json`` (every curve) and a figure, by default
``docs/_static/quality_time.png`` (``--figure``; ``--plot-only JSON`` redraws
it from a results file). The table gives each contender's error at fixed
times, its best and final error over PCA's, and when it first got below PCA.

Run: ``python benchmarks/bench_quality_time.py [--quick] [--budget S]
[--problems digits] [--skae 'name={"solver": "adam"}']``. The full run takes
about ``(20 + 120) s x`` the number of contenders.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks._common import (
    ROOT,
    add_common_args,
    apply_common_args,
    finish_main,
    run_child,
    start_recording,
)

TITLE = "Time to quality: held-out error against seconds"
FIGURE = os.path.join(ROOT, "docs", "_static", "quality_time.png")

PROBLEMS = {
    "digits": dict(k=8, hidden=128, dtype="float64", budget=20.0),
    "patches": dict(k=32, hidden=256, dtype="float32", budget=120.0),
}
# skae contenders: constructor parameters on top of the shared network.
SKAE = {
    "default": {},
    "lbfgs": {"solver": "lbfgs", "max_iter": 10**6, "tol": 0.0},
    "adam": {"solver": "adam", "max_iter": 10**6, "tol": 0.0},
}
TORCH = {"adam": {"lr": 1e-3, "batch_size": 128}, "lbfgs": {}}
PARTIAL_FIT = {"batch_size": 128, "learning_rate_init": 1e-3}
TIMES = (1.0, 3.0, 10.0, 30.0, 100.0)


# --------------------------------------------------------------------------
# Data and scoring (in each child)
# --------------------------------------------------------------------------


def load_problem(problem: str, quick: bool = False):
    """(X_train, X_test) of a problem, standardized on the train rows."""
    import numpy as np

    dtype = PROBLEMS[problem]["dtype"]
    if problem == "digits":
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
        from sklearn.preprocessing import StandardScaler

        X = load_digits().data
        X_tr, X_te = train_test_split(X, test_size=0.25, random_state=0)
        if quick:
            X_tr, X_te = X_tr[:300], X_te[:100]
        scaler = StandardScaler().fit(X_tr)
        X_tr, X_te = scaler.transform(X_tr), scaler.transform(X_te)
    elif problem == "patches":
        from benchmarks._datasets import image_patches

        n = 3000 if quick else 60000
        X_tr, X_te = image_patches(n=n, seed=0)
    else:
        raise ValueError(f"unknown problem {problem!r}; choose from {list(PROBLEMS)}")
    return (
        np.ascontiguousarray(X_tr, dtype=dtype),
        np.ascontiguousarray(X_te, dtype=dtype),
    )


def _error(X, X_hat) -> float:
    import numpy as np

    R = np.asarray(X, dtype=np.float64) - np.asarray(X_hat, dtype=np.float64)
    return float(np.mean(np.sum(R**2, axis=1)))


class Clock:
    """Wall time since start, minus the time spent scoring (off the clock).

    ``due()`` says whether the next checkpoint (geometric: each 20 % later
    than the previous, first at 0.05 s) has been reached; ``record`` scores
    and stores a point ``(seconds, error, iteration, train_loss)``.
    """

    def __init__(self, budget: float, score):
        self.budget = budget
        self.score = score
        self.points: list[list[float]] = []
        self.off = 0.0
        self.next = 0.05
        self.t0 = time.perf_counter()

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0 - self.off

    def over(self) -> bool:
        return self.elapsed() >= self.budget

    def due(self) -> bool:
        return self.elapsed() >= self.next

    def record(self, iteration=None, loss=None) -> None:
        now = self.elapsed()
        t = time.perf_counter()
        err = self.score()
        self.off += time.perf_counter() - t
        self.points.append([now, err, iteration, loss])
        self.next = max(now * 1.2, now + 0.01)


# --------------------------------------------------------------------------
# Contenders (each run in a child process)
# --------------------------------------------------------------------------


def _check_params(params: dict) -> None:
    from skae import AutoencoderTransformer

    known = AutoencoderTransformer().get_params()
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise ValueError(
            f"this skae's AutoencoderTransformer has no parameter {unknown} "
            "(the contender needs it)"
        )


def pca_case(problem: str, quick: bool = False) -> dict:
    from sklearn.decomposition import PCA

    X_tr, X_te = load_problem(problem, quick)
    k = PROBLEMS[problem]["k"]
    PCA(k).fit(X_tr[:100])  # warm-up
    t0 = time.perf_counter()
    pca = PCA(k, random_state=0).fit(X_tr)
    fit_s = time.perf_counter() - t0
    return {
        "fit_s": fit_s,
        "error": _error(X_te, pca.inverse_transform(pca.transform(X_te))),
        "train_error": _error(X_tr, pca.inverse_transform(pca.transform(X_tr))),
    }


def skae_case(problem: str, params: dict, budget: float, quick: bool = False):
    """skae's fit with ``params``, stopped by its callback at the budget."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    from skae import AutoencoderTransformer

    _check_params(params)
    X_tr, X_te = load_problem(problem, quick)
    cfg = PROBLEMS[problem]

    def make(**extra):
        kwargs = dict(hidden_layer_sizes=(cfg["hidden"],), random_state=0)
        kwargs.update(params)
        kwargs.update(extra)
        return AutoencoderTransformer(n_components=cfg["k"], **kwargs)

    with warnings.catch_warnings():  # warm-up: imports, BLAS start
        warnings.simplefilter("ignore")
        make(max_iter=2).fit(X_tr[:200])

    clock = None
    # the callback receives a copy of the estimator holding the current
    # parameters (the estimator itself is fitted only when fit returns)
    current = {}

    def callback(iteration, loss, estimator):
        current["est"] = estimator
        if clock.due():
            clock.record(int(iteration), float(loss))
        return clock.over()

    est = make(callback=callback)

    def held_out_error():
        model = current.get("est", est)
        return _error(X_te, model.inverse_transform(model.transform(X_te)))

    clock = Clock(budget, held_out_error)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est.fit(X_tr)
    fit_s = clock.elapsed()
    current["est"] = est  # the fitted model (e.g. the best iterate kept)
    clock.record(int(getattr(est, "n_iter_", -1)), float(getattr(est, "loss_", "nan")))
    clock.points[-1][0] = fit_s
    return {
        "points": clock.points,
        "fit_s": fit_s,
        "n_iter": int(getattr(est, "n_iter_", -1)),
        "stopped_by": getattr(est, "stopped_by_", None),
        "convergence_warning": any(
            issubclass(w.category, ConvergenceWarning) for w in caught
        ),
    }


def partial_fit_case(problem: str, budget: float, quick: bool = False, **opts):
    """Passes of skae's ``partial_fit`` (minibatch Adam) until the budget."""
    from skae import AutoencoderTransformer

    X_tr, X_te = load_problem(problem, quick)
    cfg = PROBLEMS[problem]
    opts = {**PARTIAL_FIT, **opts}

    def make(callback=None):  # partial_fit's hyperparameters: the constructor's
        return AutoencoderTransformer(
            n_components=cfg["k"],
            hidden_layer_sizes=(cfg["hidden"],),
            random_state=0,
            callback=callback,
            **opts,
        )

    make().partial_fit(X_tr[:256])  # warm-up
    clock = None
    current = {}  # as in skae_case: the callback's copy holds the current weights

    def callback(step, loss, estimator):
        current["est"] = estimator
        if clock.due():
            clock.record(int(step), float(loss))
        return clock.over()

    est = make(callback)

    def held_out_error():
        model = current.get("est", est)
        return _error(X_te, model.inverse_transform(model.transform(X_te)))

    clock = Clock(budget, held_out_error)
    passes = 0
    while not clock.over():
        est.partial_fit(X_tr)
        passes += 1
        if est.stopped_by_ == "callback":
            break
    fit_s = clock.elapsed()
    current["est"] = est
    clock.record(passes, float(est.loss_))
    clock.points[-1][0] = fit_s
    return {"points": clock.points, "fit_s": fit_s, "n_iter": passes}


def _torch_net(d, hidden, k, dtype, seed=0):
    import numpy as np
    import torch

    torch.manual_seed(seed)
    rng = np.random.RandomState(seed)
    sizes = [d, hidden, k, hidden, d]
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        bound = math.sqrt(6.0 / (fan_in + fan_out))
        W = rng.uniform(-bound, bound, (fan_in, fan_out))
        params.append(torch.tensor(W, dtype=dtype, requires_grad=True))
        params.append(torch.zeros(fan_out, dtype=dtype, requires_grad=True))
    acts = ["tanh", "identity", "tanh", "identity"]

    def forward(X):
        A = X
        for i, act in enumerate(acts):
            A = torch.addmm(params[2 * i + 1], A, params[2 * i])
            if act == "tanh":
                A = torch.tanh(A)
        return A

    def loss_fn(X):
        return 0.5 * ((forward(X) - X) ** 2).sum() / X.shape[0]

    return params, forward, loss_fn


def torch_case(
    problem: str, optimizer: str, budget: float, quick: bool = False, **opts
):
    """torch Adam (minibatch) or LBFGS (full batch) on the same network."""
    import torch

    X_tr_np, X_te_np = load_problem(problem, quick)
    cfg = PROBLEMS[problem]
    dtype = getattr(torch, cfg["dtype"])
    X_tr = torch.tensor(X_tr_np, dtype=dtype)
    X_te = torch.tensor(X_te_np, dtype=dtype)
    params, forward, loss_fn = _torch_net(X_tr.shape[1], cfg["hidden"], cfg["k"], dtype)

    def score():
        with torch.no_grad():
            return float(((forward(X_te) - X_te) ** 2).sum(1).mean())

    loss_fn(X_tr[:128]).backward()  # warm-up
    for p in params:
        p.grad = None

    # Optimizers are built before the clock starts: the first construction
    # imports parts of torch (seconds on a loaded machine).
    if optimizer == "adam":
        opts = {**TORCH["adam"], **opts}
        opt = torch.optim.Adam(params, lr=opts["lr"])
    else:
        opt = torch.optim.LBFGS(
            params,
            lr=1.0,
            max_iter=10**9,
            max_eval=10**9,
            history_size=10,
            line_search_fn="strong_wolfe",
            tolerance_grad=0.0,
            tolerance_change=0.0,
        )
    clock = Clock(budget, score)
    iterations = 0
    if optimizer == "adam":
        n, bs = X_tr.shape[0], int(opts["batch_size"])
        step = 0
        while not clock.over():
            perm = torch.randperm(n)
            for start in range(0, n, bs):
                batch = X_tr[perm[start : start + bs]]
                opt.zero_grad()
                loss = loss_fn(batch)
                loss.backward()
                opt.step()
                step += 1
                if clock.due():
                    clock.record(step, float(loss.detach()))
                if clock.over():
                    break
            iterations += 1  # epochs
    else:
        best = [math.inf, 0]

        class _Stop(Exception):
            pass

        def closure():
            opt.zero_grad()
            loss = loss_fn(X_tr)
            loss.backward()
            value = float(loss.detach())
            best[1] += 1
            if value <= best[0]:
                best[0] = value
                if clock.due():
                    clock.record(best[1], value)
            if clock.over():
                raise _Stop
            return loss

        try:
            opt.step(closure)
        except _Stop:
            pass
        iterations = int(opt.state[params[0]].get("n_iter", 0))
    fit_s = clock.elapsed()
    clock.record(iterations, None)
    clock.points[-1][0] = fit_s
    return {
        "points": clock.points,
        "fit_s": fit_s,
        "n_iter": iterations,
        "threads": torch.get_num_threads(),
    }


# --------------------------------------------------------------------------
# The benchmark
# --------------------------------------------------------------------------


def contenders(skae=None, with_torch=True, partial_fit=True) -> dict[str, dict]:
    """Name -> child call (function name and keyword arguments)."""
    out = {}
    for name, params in (SKAE if skae is None else skae).items():
        out[f"skae {name}"] = {"func": "skae_case", "kw": {"params": params}}
    if partial_fit:
        out["skae partial_fit (Adam)"] = {"func": "partial_fit_case", "kw": {}}
    if with_torch:
        for name in TORCH:
            out[f"torch {name}"] = {"func": "torch_case", "kw": {"optimizer": name}}
    return out


def run(
    problems=("digits", "patches"), budgets=None, which=None, quick=False, log=None
):
    """Every contender on every problem, each in its own process."""
    which = which or contenders()
    budgets = budgets or {}
    out = {}
    for problem in problems:
        budget = float(budgets.get(problem, PROBLEMS[problem]["budget"]))
        pca = run_child(
            "bench_quality_time", "pca_case", dict(problem=problem, quick=quick)
        )
        curves = {}
        for name, call in which.items():
            kw = dict(call["kw"], problem=problem, budget=budget, quick=quick)
            try:
                curves[name] = run_child("bench_quality_time", call["func"], kw)
            except RuntimeError as exc:  # e.g. a parameter skae does not have yet
                lines = [ln for ln in str(exc).splitlines() if ln.strip()]
                curves[name] = {"failed": lines[-1] if lines else str(exc)}
            if log is not None:
                c = curves[name]
                msg = c.get("failed") or (
                    f"final {c['points'][-1][1]:.4g} after {c['fit_s']:.1f} s"
                )
                log(f"{problem:>8} {name:>24}: {msg}")
        out[problem] = {
            "config": dict(PROBLEMS[problem], budget=budget),
            "pca": pca,
            "curves": curves,
        }
    return out


def _at(points, t):
    """Error of the last point at or before ``t`` seconds (None before any)."""
    err = None
    for s, e, *_ in points:
        if s <= t:
            err = e
    return err


def table_rows(data, times=TIMES) -> tuple[list[dict], list[str]]:
    rows = []
    for problem, d in data.items():
        pca_err = d["pca"]["error"]
        budget = d["config"]["budget"]
        marks = [t for t in times if t < budget]
        rows.append(
            {
                "problem": problem,
                "contender": f"PCA({d['config']['k']})",
                **{f"err@{t:g}s": pca_err for t in marks},
                "final_error": pca_err,
                "final/pca": 1.0,
                "best/pca": 1.0,
                "s_to_pca": d["pca"]["fit_s"],
                "s_to_0.95pca": "",
                "seconds": d["pca"]["fit_s"],
                "n_iter": "",
            }
        )
        for name, c in d["curves"].items():
            if "failed" in c:
                rows.append({"problem": problem, "contender": name, "n_iter": "failed"})
                continue
            pts = c["points"]
            best = min(e for _, e, *_ in pts)
            below = [s for s, e, *_ in pts if e <= pca_err]
            below95 = [s for s, e, *_ in pts if e <= 0.95 * pca_err]
            row = {"problem": problem, "contender": name}
            for t in marks:
                row[f"err@{t:g}s"] = _at(pts, t) if _at(pts, t) is not None else ""
            row.update(
                {
                    "final_error": pts[-1][1],
                    "final/pca": pts[-1][1] / pca_err,
                    "best/pca": best / pca_err,
                    "s_to_pca": below[0] if below else "never",
                    "s_to_0.95pca": below95[0] if below95 else "never",
                    "seconds": c["fit_s"],
                    "n_iter": c.get("n_iter", ""),
                }
            )
            rows.append(row)
    marks = sorted(
        {k for r in rows for k in r if k.startswith("err@")},
        key=lambda k: float(k[4:-1]),
    )
    columns = [
        "problem",
        "contender",
        *marks,
        "final_error",
        "final/pca",
        "best/pca",
        "s_to_pca",
        "s_to_0.95pca",
        "seconds",
        "n_iter",
    ]
    return rows, columns


def plot(data, path) -> str:
    """Held-out error against seconds, one panel per problem; saved to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    fig, axes = plt.subplots(1, len(data), figsize=(6 * len(data), 4.5), squeeze=False)
    for ax, (problem, d) in zip(axes[0], data.items()):
        pca_err = d["pca"]["error"]
        cfg = d["config"]
        for name, c in d["curves"].items():
            if "failed" in c:
                continue
            s = [max(p[0], 1e-3) for p in c["points"]]
            e = [p[1] for p in c["points"]]
            style = "-" if name.startswith("skae") else "--"
            ax.plot(s, e, style, marker=".", markersize=3, label=name)
        ax.axhline(pca_err, color="k", linewidth=1, label=f"PCA({cfg['k']})")
        ax.set_xscale("log")
        ax.set_xticks([0.01, 0.03, 0.1, 0.3, 1, 3, 10, 30, 100, 300])
        ax.xaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_xlabel("seconds (scoring off the clock)")
        ax.set_ylabel("held-out error (mean ||x - x_hat||^2)")
        errors = [
            p[1] for c in d["curves"].values() if "points" in c for p in c["points"]
        ]
        if errors:
            low = min(min(errors), pca_err)
            ax.set_ylim(low * 0.9, min(max(errors), 3 * pca_err) * 1.05)
        starts = [
            p[0] for c in d["curves"].values() if "points" in c for p in c["points"]
        ]
        if starts:
            ax.set_xlim(min(starts) * 0.8, max(starts) * 1.25)
        ax.set_title(
            f"{problem}: k={cfg['k']}, h={cfg['hidden']}, {cfg['dtype']}, "
            f"budget {cfg['budget']:g} s"
        )
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _parse_skae(values):
    """``--skae name=JSON`` entries, on top of (or, with --only-skae, instead of)
    the default skae contenders."""
    out = {}
    for v in values or []:
        name, sep, params = v.partition("=")
        if not sep:
            raise SystemExit(f"--skae wants name=JSON, got {v!r}")
        out[name] = json.loads(params)
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(parser)
    parser.add_argument("--problems", default="digits,patches")
    parser.add_argument(
        "--budget", type=float, default=None, help="seconds, every problem"
    )
    parser.add_argument("--skae", action="append", help="name=JSON params, repeatable")
    parser.add_argument(
        "--only-skae", action="store_true", help="only the --skae contenders of skae"
    )
    parser.add_argument("--no-torch", action="store_true")
    parser.add_argument("--no-partial-fit", action="store_true")
    parser.add_argument("--figure", default=None, help=f"PNG path (default {FIGURE})")
    parser.add_argument("--no-figure", action="store_true")
    parser.add_argument("--plot-only", default=None, help="redraw from a results JSON")
    args = parser.parse_args(argv)
    apply_common_args(args)

    if args.plot_only:
        with open(args.plot_only) as f:
            data = json.load(f)["raw"]
        print(plot(data, args.figure or FIGURE))
        return []

    import importlib.util

    record = start_recording("quality_time", argv)
    skae = dict(SKAE) if not args.only_skae else {}
    skae.update(_parse_skae(args.skae))
    with_torch = not args.no_torch and importlib.util.find_spec("torch") is not None
    which = contenders(skae, with_torch, not args.no_partial_fit)
    problems = [p.strip() for p in args.problems.split(",") if p.strip()]
    budgets = {}
    if args.quick:
        budgets = {p: 1.0 for p in problems}
    if args.budget is not None:
        budgets = {p: args.budget for p in problems}

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    data = run(problems, budgets, which, args.quick, log)
    rows, columns = table_rows(data)
    notes = []
    figure = None
    if not args.no_figure and (args.figure or not args.quick):
        figure = plot(data, args.figure or FIGURE)
        rel = os.path.relpath(figure, os.path.join(ROOT, "benchmarks"))
        notes.append(f"![held-out error against seconds]({rel})")
    failed = {
        f"{p} / {n}": c["failed"]
        for p, d in data.items()
        for n, c in d["curves"].items()
        if "failed" in c
    }
    if failed:
        notes.append(
            "Contenders that could not run: "
            + "; ".join(f"{k}: `{v}`" for k, v in failed.items())
        )
    notes.append(
        "err@Ns: held-out error of the last checkpoint at or before N seconds; "
        "s_to_pca: first checkpoint at or below PCA's held-out error. skae "
        f"contenders' parameters: `{json.dumps(skae)}` (on top of "
        "`hidden_layer_sizes=(h,), random_state=0`)."
    )
    finish_main(record, args, TITLE, [{"columns": columns, "rows": rows}], notes, data)
    return rows


if __name__ == "__main__":
    main()
