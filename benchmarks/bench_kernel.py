"""skae's evaluation kernels against PyTorch CPU, one contender per fresh process.

Two measurements (issue 12):

* **per evaluation**: ms per loss-and-gradient evaluation of the tanh network
  ``d -> h -> k -> h -> d`` (linear code and output, skae's Glorot start), on
  the shapes of issue 12's table, float32 and float64, at 1 and 2 threads.
  skae's contender is what :func:`skae._kernel.use_blocked` picks: the
  blocked, row-parallel :class:`~skae._kernel.BlockedObjective` (BLAS at one
  thread inside) or one whole-data ``loss_grad`` with BLAS at the given
  threads; ``skae_whole`` and ``skae_blocked`` force one of them. torch runs
  the same network (``addmm``/``tanh``, autograd, the gradient concatenated
  into one vector as an L-BFGS step needs) with ``torch.set_num_threads``.
* **one Adam pass** over 50,000 x 256 float32 rows (h=256, k=32, batches of
  128, reshuffled): skae's :class:`~skae._minibatch.BatchGradient` and
  :func:`~skae._adam.adam_step`, parameters and moments in float32 as the fit
  runs them (``skae_f64``: in float64, as before; ``skae_blas``: no row
  split, BLAS's own threads inside the batch products; ``skae_fit``: the
  estimator's own Adam fit, ``AutoencoderTransformer(solver="adam",
  init="random", alpha=0, early_stopping=False)``, timed between its
  callback's calls after a first epoch, the BLAS guard's decisions recorded;
  ``--adam-contenders``), against a torch Adam epoch.

Every (contender, shape, dtype, threads) runs in its own interpreter, twice
by default (``--rounds``); each reports min / median / max over its repeats,
the load average before and after, and the BLAS kernel that ran
(threadpoolctl's ``architecture``). Raw results go to
``benchmarks/results/bench_kernel.json``.

Run: ``python benchmarks/bench_kernel.py [--quick] [--only eval,adam]
[--shapes digits,narrow] [--adam-contenders skae,skae_f64,torch]
[--unset-openblas-env]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks._common import (
    ROOT,
    add_common_args,
    apply_common_args,
    child_machine_info,
    markdown_table,
    run_child,
)

#: name -> (problem, n_samples, n_features, hidden, k)
SHAPES = {
    "digits": ("digits", 1797, 64, 128, 8),
    "narrow": ("lowrank", 20000, 10, 100, 3),
    "784x10k": ("lowrank", 10000, 784, 256, 32),
    "784x60k": ("lowrank", 60000, 784, 256, 32),
}
QUICK_SHAPES = {
    "tiny": ("lowrank", 600, 10, 12, 3),
    "tiny-wide": ("lowrank", 300, 40, 16, 4),
}


def _loadavg():
    return list(os.getloadavg()) if hasattr(os, "getloadavg") else None


def _kernels():
    from threadpoolctl import threadpool_info

    return sorted(
        {
            f"{lib.get('internal_api')} {lib.get('architecture')}"
            for lib in threadpool_info()
            if lib.get("user_api") == "blas"
        }
    )


def _problem(shape, dtype):
    import numpy as np

    from benchmarks._common import digits, low_rank_data
    from skae._network import init_params, make_architecture

    problem, n, d, h, k = shape
    X = digits() if problem == "digits" else low_rank_data(n, d, rank=min(50, d))
    X = np.ascontiguousarray(X, dtype=dtype)
    arch = make_architecture(X.shape[1], (h,), k, "tanh", "identity", "identity")
    theta = init_params(
        arch, np.random.RandomState(0), output_bias=X.mean(axis=0, dtype=np.float64)
    )
    return X, arch, theta


def _spread(times):
    ms = [1e3 * t for t in times]
    return {"min": min(ms), "median": statistics.median(ms), "max": max(ms)}


def _timed(func, repeats, warmup=2, budget=20.0):
    for _ in range(warmup):
        func()
    times = []
    t_end = time.perf_counter() + budget
    for _ in range(repeats):
        t0 = time.perf_counter()
        func()
        times.append(time.perf_counter() - t0)
        if time.perf_counter() > t_end and len(times) >= 3:
            break
    return times


def _torch_params(arch, theta, dtype):
    import numpy as np
    import torch

    from skae._network import unpack

    coefs, intercepts = unpack(theta, arch)
    tdtype = getattr(torch, dtype)
    params = []
    for W, b in zip(coefs, intercepts):
        params.append(torch.tensor(np.array(W), dtype=tdtype, requires_grad=True))
        params.append(torch.tensor(np.array(b), dtype=tdtype, requires_grad=True))
    return params


def _torch_loss(params, activations, batch):
    import torch

    A = batch
    for i, name in enumerate(activations):
        A = torch.addmm(params[2 * i + 1], A, params[2 * i])
        if name == "tanh":
            A = torch.tanh(A)
    return 0.5 * ((A - batch) ** 2).sum() / batch.shape[0]


def eval_case(contender, shape, dtype, threads, repeats=15):
    """ms per loss-and-gradient evaluation of one contender (run in a child)."""
    import contextlib

    from threadpoolctl import threadpool_limits

    load_before = _loadavg()
    X, arch, theta = _problem(tuple(shape), dtype)
    threads = int(threads)
    chosen = contender
    with contextlib.ExitStack() as stack:
        if contender == "torch":
            import torch

            torch.set_num_threads(threads)
            stack.enter_context(threadpool_limits(threads))
            params = _torch_params(arch, theta, dtype)
            Xt = torch.from_numpy(X)

            def func():
                for p in params:
                    p.grad = None
                _torch_loss(params, arch.activations, Xt).backward()
                return torch.cat([p.grad.reshape(-1) for p in params])

        else:
            from skae._kernel import BlockedObjective, use_blocked
            from skae._network import Workspace, loss_grad

            if contender == "skae":
                blocked = use_blocked(arch, X.shape[0], dtype, threads)
                chosen = "skae_blocked" if blocked else "skae_whole"
            if chosen == "skae_blocked":
                f = BlockedObjective(arch, X, X, dtype, n_threads=threads)
                stack.callback(f.close)

                def func():
                    return f(theta)

            else:
                stack.enter_context(threadpool_limits(threads))
                ws = Workspace(arch, X.shape[0], dtype)

                def func():
                    return loss_grad(theta, X, X, ws)

        times = _timed(func, repeats)
        kernels = _kernels()
    return {
        "contender": contender,
        "ran": chosen,
        "dtype": dtype,
        "threads": threads,
        "ms": _spread(times),
        "n_repeats": len(times),
        "blas_kernels": kernels,
        "loadavg_before": load_before,
        "loadavg_after": _loadavg(),
    }


def adam_case(contender, threads, n_samples=50000, n_features=256, passes=3):
    """Seconds per Adam pass (batch 128) over float32 data (run in a child)."""
    import contextlib

    import numpy as np
    from threadpoolctl import threadpool_limits

    load_before = _loadavg()
    shape = ("lowrank", n_samples, n_features, 256, 32)
    X, arch, theta = _problem(shape, "float32")
    threads = int(threads)
    batch = 128
    with contextlib.ExitStack() as stack:
        if contender == "torch":
            import torch

            stack.enter_context(threadpool_limits(threads))
            torch.set_num_threads(threads)
            torch.manual_seed(0)
            params = _torch_params(arch, theta, "float32")
            Xt = torch.from_numpy(X)
            opt = torch.optim.Adam(params, lr=1e-3)

            def one_pass():
                perm = torch.randperm(Xt.shape[0])
                for start in range(0, Xt.shape[0], batch):
                    xb = Xt[perm[start : start + batch]]
                    opt.zero_grad()
                    _torch_loss(params, arch.activations, xb).backward()
                    opt.step()

        elif contender == "skae_fit":
            times, history = _fit_passes(X, threads, batch, passes)
        else:
            from skae._adam import AdamState, adam_step
            from skae._minibatch import BatchGradient

            # BLAS at one thread: a batch's products are too small to share;
            # the threads split the batch's rows and the Adam step instead.
            # "skae_blas": one part, BLAS's own threads inside the products.
            blas = contender == "skae_blas"
            stack.enter_context(threadpool_limits(threads if blas else 1))
            rng = np.random.RandomState(0)
            parts = 1 if blas else threads
            f = BatchGradient(arch, X, X, "float32", batch, n_threads=parts)
            stack.callback(f.close)
            # parameters and moments in the data's dtype, as the fit runs Adam;
            # "skae_f64": in float64, as skae did before (gradient cast per batch)
            dtype = np.float64 if contender == "skae_f64" else X.dtype
            state = AdamState.fresh(arch.n_params, rng, dtype)
            buf = np.empty(arch.n_params, dtype)
            theta = theta.astype(dtype)

            def one_pass():
                perm = rng.permutation(X.shape[0])
                for start in range(0, X.shape[0], batch):
                    _, grad = f(theta, perm[start : start + batch])
                    adam_step(theta, grad, state, 1e-3, buf, pool=f.pool)

        if contender != "skae_fit":
            times = _timed(one_pass, passes, warmup=1, budget=60.0)
            history = None
        kernels = _kernels()
    return {
        "contender": contender,
        "threads": threads,
        "s_per_pass": {k: v / 1e3 for k, v in _spread(times).items()},
        "n_repeats": len(times),
        "guard_history": history,
        "blas_kernels": kernels,
        "loadavg_before": load_before,
        "loadavg_after": _loadavg(),
    }


def _fit_passes(X, threads, batch, passes):
    """``(seconds per pass, guard history)`` of the estimator's own Adam fit (its
    epochs, BatchGradient, minimize_adam and the BLAS guard,
    :mod:`skae._guard`) on the benchmark network (``init="random"``: no PCA
    skip path, as torch's; ``alpha=0``, no held-out rows): the times between
    the callback's calls after the first epoch (the warm-up), and the
    decisions of the fit's guard."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from threadpoolctl import threadpool_limits

    import skae._guard
    from skae import AutoencoderTransformer

    guards, Guard = [], skae._guard.ThreadGuard

    class Recorded(Guard):
        def __init__(self, *args, **kw):
            super().__init__(*args, **kw)
            guards.append(self)

    stamps = []

    def callback(iteration, loss, est):
        stamps.append(time.perf_counter())
        return False

    est = AutoencoderTransformer(
        32,
        hidden_layer_sizes=(256,),
        solver="adam",
        batch_size=batch,
        max_iter=passes + 1,
        early_stopping=False,
        alpha=0.0,
        init="random",
        random_state=0,
        callback=callback,
    )
    skae._guard.ThreadGuard = Recorded
    try:
        with threadpool_limits(threads), warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est.fit(X)
    finally:
        skae._guard.ThreadGuard = Guard
    times = [b - a for a, b in zip(stamps[:-1], stamps[1:])]
    return times, guards[0].history if guards else None


def run_eval(shapes, dtypes, threads, contenders, rounds, repeats, raw=None, save=None):
    """Every (shape, dtype, threads, contender) in a fresh process, ``rounds``
    times; results appended to ``raw``, ``save()`` called after each."""
    raw = [] if raw is None else raw
    for r in range(rounds):
        for name, shape in shapes.items():
            for dt in dtypes:
                for th in threads:
                    for c in contenders:
                        res = run_child(
                            "bench_kernel",
                            "eval_case",
                            dict(
                                contender=c,
                                shape=list(shape),
                                dtype=dt,
                                threads=th,
                                repeats=repeats,
                            ),
                        )
                        res.update(shape=name, round=r)
                        raw.append(res)
                        if save:
                            save()
                        print(
                            f"  {name} {dt} t={th} {c}->{res['ran']}: "
                            f"{res['ms']['median']:.2f} ms (min {res['ms']['min']:.2f})"
                            f" load {res['loadavg_before'][0]:.1f}",
                            file=sys.stderr,
                            flush=True,
                        )
    return raw


def eval_table(raw):
    """One row per (shape, dtype, threads): skae and torch ms (min-median over
    rounds of each process's median), the ratio of medians, and the ratio of
    the best process minima."""
    rows = []
    keys = sorted(
        {(r["shape"], r["dtype"], r["threads"]) for r in raw},
        key=lambda k: (list(SHAPES).index(k[0]) if k[0] in SHAPES else 0, k[1], k[2]),
    )
    for shape, dt, th in keys:
        cell = [
            r for r in raw if (r["shape"], r["dtype"], r["threads"]) == (shape, dt, th)
        ]
        by = {}
        for r in cell:
            by.setdefault(r["contender"], []).append(r)
        if "skae" not in by or "torch" not in by:
            continue
        sk = [r["ms"]["median"] for r in by["skae"]]
        to = [r["ms"]["median"] for r in by["torch"]]
        sk_min = min(r["ms"]["min"] for r in by["skae"])
        to_min = min(r["ms"]["min"] for r in by["torch"])
        rows.append(
            {
                "data": shape,
                "dtype": dt,
                "threads": th,
                "skae_kernel": by["skae"][0]["ran"].replace("skae_", ""),
                "skae_ms": "-".join(f"{v:.3g}" for v in sorted(sk)),
                "torch_ms": "-".join(f"{v:.3g}" for v in sorted(to)),
                "skae/torch (medians)": statistics.median(sk) / statistics.median(to),
                "skae/torch (minima)": sk_min / to_min,
                "load": max(r["loadavg_before"][0] for r in cell),
            }
        )
    return rows


def speedups(raw):
    """1 -> 2 thread speedup of each contender's median, per shape and dtype."""
    out = []
    for shape in sorted({r["shape"] for r in raw}):
        for dt in ("float32", "float64"):
            for c in sorted({r["contender"] for r in raw}):
                t = {}
                for th in (1, 2):
                    ms = [
                        r["ms"]["median"]
                        for r in raw
                        if (r["shape"], r["dtype"], r["threads"], r["contender"])
                        == (shape, dt, th, c)
                    ]
                    if ms:
                        t[th] = statistics.median(ms)
                if len(t) == 2:
                    out.append(
                        {
                            "data": shape,
                            "dtype": dt,
                            "contender": c,
                            "1->2": t[1] / t[2],
                        }
                    )
    return out


def run_adam(threads, rounds, quick, raw=None, save=None, contenders=("skae", "torch")):
    raw = [] if raw is None else raw
    kw = dict(n_samples=2000, n_features=32, passes=2) if quick else {}
    for r in range(rounds):
        for th in threads:
            for c in contenders:
                res = run_child(
                    "bench_kernel", "adam_case", dict(contender=c, threads=th, **kw)
                )
                res["round"] = r
                raw.append(res)
                if save:
                    save()
                print(
                    f"  adam t={th} {c}: {res['s_per_pass']['median']:.3f} s "
                    f"load {res['loadavg_before'][0]:.1f}",
                    file=sys.stderr,
                    flush=True,
                )
    rows = []
    for th in threads:
        runs = {
            c: {
                r["round"]: r["s_per_pass"]["median"]
                for r in raw
                if r["threads"] == th and r["contender"] == c
            }
            for c in contenders
        }
        row = {"threads": th}
        for c in contenders:
            row[f"{c}_s"] = "-".join(f"{v:.3g}" for v in sorted(runs[c].values()))
        torch = runs.get("torch", {})
        for c in contenders:
            if c == "torch" or not runs[c] or not torch:
                continue
            row[f"{c}/torch"] = statistics.median(runs[c].values()) / statistics.median(
                torch.values()
            )
            # the same round's processes ran next to each other: their ratios
            per_round = sorted(runs[c][k] / torch[k] for k in runs[c] if k in torch)
            row[f"{c}/torch by round"] = "-".join(f"{v:.3g}" for v in per_round)
        rows.append(row)
    return raw, rows


def have_torch() -> bool:
    import importlib.util

    return importlib.util.find_spec("torch") is not None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(parser)
    parser.add_argument("--only", default="eval,adam")
    parser.add_argument("--shapes", default=",".join(SHAPES))
    parser.add_argument("--dtypes", default="float32,float64")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--contenders", default="skae,torch")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument(
        "--adam-contenders",
        default="skae,torch",
        help="skae_fit (the estimator's own Adam fit, BLAS's threads chosen "
        "by timing), skae (Adam in the data's dtype, as the fit runs it), skae_f64 "
        "(parameters and moments in float64, as before), skae_blas (no row "
        "split: BLAS's own threads in the batch products), torch",
    )
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    if args.out is None:  # --out comes with the common arguments
        args.out = os.path.join("benchmarks", "results", "bench_kernel.json")
    apply_common_args(args)
    only = set(args.only.split(","))
    threads = [int(t) for t in args.threads.split(",")]
    contenders = args.contenders.split(",")
    if not have_torch():
        contenders = [c for c in contenders if c != "torch"]
    if args.quick:
        shapes, rounds, repeats = QUICK_SHAPES, 1, 3
    else:
        shapes = {k: SHAPES[k] for k in args.shapes.split(",")}
        rounds, repeats = args.rounds, args.repeats
    t0 = time.time()
    result = {
        "machine": child_machine_info(),
        "started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(t0)),
    }
    write = not (args.no_write or args.no_save or args.quick)

    def save():  # after every child, so that an interrupted run keeps its data
        if write:
            result["seconds"] = time.time() - t0
            _write(result, args.out)

    if "eval" in only:
        raw = result["eval"] = []
        run_eval(
            shapes,
            args.dtypes.split(","),
            threads,
            contenders,
            rounds,
            repeats,
            raw,
            save,
        )
        print("\n### ms per loss-and-gradient evaluation, skae vs torch\n")
        print(markdown_table(eval_table(raw)))
        print("\n### 1 -> 2 threads\n")
        print(markdown_table(speedups(raw)))
    if "adam" in only and have_torch():
        result["adam"] = []
        raw, rows = run_adam(
            threads,
            rounds,
            args.quick,
            result["adam"],
            save,
            args.adam_contenders.split(","),
        )
        print("\n### one Adam pass (batch 128), 50,000 x 256 float32, h=256, k=32\n")
        print(markdown_table(rows))
    save()
    return result


def _write(result, out):
    path = os.path.join(ROOT, out)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as fh:
        json.dump(result, fh, indent=1)


if __name__ == "__main__":
    main()
