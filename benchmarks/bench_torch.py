"""skae against PyTorch on the CPU: wall time to reach the same training loss.

The network is 64-128-8-128-64 with ``tanh`` hidden layers, a linear code and
a linear output, on standardized digits, objective
``1/(2m) sum ||x - x_hat||^2`` (``alpha=0`` so both sides minimise exactly the
same function), every contender starting from the same Glorot weights
(skae's ``init_params`` with seed 0, output bias at the mean).

The target is the training loss skae's ``AutoencoderTransformer`` (float64)
reaches after ``max_iter=500`` L-BFGS iterations; that fit's wall time is its
time. Then each contender runs until its training loss is at or below the
target (or a time cap) and reports the wall time to get there:

* skae float32 (``X`` in float32; stopped by the ``callback`` at the target);
* ``torch.optim.LBFGS`` float64 and float32 (``history_size=10`` as scipy's
  L-BFGS-B, strong-Wolfe line search, full batch), stopped at the first
  evaluation whose loss is at or below the target;
* ``torch.optim.Adam`` float32 (lr 1e-3, mini-batches of 64, reshuffled each
  epoch), full training loss checked after every epoch (included in its time).

Each contender runs in its own fresh process, median over runs; with default
thread settings (numpy, scipy, torch all at their defaults) and with every
pool limited to one thread (steadier on a loaded machine). torch is optional
(``pip install ".[bench]"``); without it only the skae rows are produced.

Run: ``python benchmarks/bench_torch.py [--quick] [--unset-openblas-env]``.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import sys
import time

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks._common import (
    add_common_args,
    apply_common_args,
    digits,
    finish_main,
    low_rank_data,
    quiet_fit,
    run_child,
    spread,
    start_recording,
    with_spread,
)

COLUMNS = [
    "threads",
    "contender",
    "reached",
    "seconds",
    "iterations",
    "final_loss",
    "target_loss",
    "time/skae64",
]


def _data(problem, n_samples, n_features):
    if problem == "digits":
        return digits()
    return low_rank_data(n_samples, n_features)


def _init(X, hidden, k):
    import numpy as np

    from skae._network import init_params, make_architecture, unpack

    arch = make_architecture(X.shape[1], hidden, k, "tanh", "identity", "identity")
    theta = init_params(arch, np.random.RandomState(0), output_bias=X.mean(axis=0))
    return arch, theta, unpack(theta, arch)


def skae_case(
    problem="digits",
    n_samples=1797,
    n_features=64,
    hidden=(128,),
    k=8,
    max_iter=500,
    dtype="float64",
    target=None,
    time_cap=120.0,
):
    """Fit skae; with ``target``, stop at the first iteration whose loss <= it."""
    import numpy as np

    from skae import AutoencoderTransformer

    X = _data(problem, n_samples, n_features).astype(dtype)
    arch, theta, (coefs, intercepts) = _init(X.astype(np.float64), tuple(hidden), k)

    def make(n_iter, callback=None):
        ae = AutoencoderTransformer(
            k,
            hidden_layer_sizes=tuple(hidden),
            activation="tanh",
            alpha=0.0,
            init="random",  # the plain network torch fits, no PCA skip path
            solver="lbfgs",
            early_stopping=False,
            max_iter=n_iter,
            tol=0.0,
            max_fun=10**6,
            callback=callback,
            warm_start=True,
        )
        # Start from the shared initial weights (warm_start reads coefs_).
        ae.coefs_ = [W.astype(dtype) for W in coefs]
        ae.intercepts_ = [b.astype(dtype) for b in intercepts]
        ae.skip_coefs_ = []
        return ae

    quiet_fit(make(2), X)  # warm-up
    state = {"reached": target is None, "t0": None}

    def stop(iteration, loss, est):
        if target is not None and loss <= target:
            state["reached"] = True
            return True
        return time.perf_counter() - state["t0"] > time_cap

    ae = make(max_iter if target is None else 20 * max_iter, stop)
    state["t0"] = time.perf_counter()
    quiet_fit(ae, X)
    seconds = time.perf_counter() - state["t0"]
    return {
        "seconds": seconds,
        "iterations": int(ae.n_iter_),
        "final_loss": float(ae.loss_),
        "reached": bool(state["reached"]),
    }


def torch_case(
    optimizer="lbfgs",
    dtype="float32",
    target=1.0,
    problem="digits",
    n_samples=1797,
    n_features=64,
    hidden=(128,),
    k=8,
    time_cap=120.0,
    lr=1e-3,
    batch_size=64,
):
    """Train the same network in torch until the training loss <= ``target``."""
    import numpy as np
    import torch

    torch.manual_seed(0)
    tdtype = getattr(torch, dtype)
    X_np = _data(problem, n_samples, n_features)
    arch, theta, (coefs, intercepts) = _init(X_np, tuple(hidden), k)
    X = torch.tensor(X_np, dtype=tdtype)
    params = []
    for W, b in zip(coefs, intercepts):
        params.append(torch.tensor(np.array(W), dtype=tdtype, requires_grad=True))
        params.append(torch.tensor(np.array(b), dtype=tdtype, requires_grad=True))
    acts = arch.activations

    def loss_fn(batch):
        A = batch
        for i, name in enumerate(acts):
            A = torch.addmm(params[2 * i + 1], A, params[2 * i])
            if name == "tanh":
                A = torch.tanh(A)
        return 0.5 * ((A - batch) ** 2).sum() / batch.shape[0]

    # Warm-up: one forward/backward outside the clock.
    loss_fn(X).backward()
    for p in params:
        p.grad = None

    reached, iterations, last = False, 0, float("inf")
    t0 = time.perf_counter()
    if optimizer == "lbfgs":
        # One step() runs the whole optimisation; the closure stops it (by an
        # exception) at the first evaluated parameters whose loss <= target.
        # (torch's LBFGS with max_iter=1 per step() re-evaluates every iterate
        # and, with the default max_eval, breaks its line search.)
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
        evals = [0, float("inf")]

        class _Stop(Exception):
            pass

        def closure():
            opt.zero_grad()
            loss = loss_fn(X)
            loss.backward()
            value = loss.detach().item()
            evals[0] += 1
            evals[1] = min(evals[1], value)
            if value <= target or time.perf_counter() - t0 > time_cap:
                raise _Stop
            return loss

        try:
            opt.step(closure)
        except _Stop:
            pass
        last = evals[1]
        reached = last <= target
        iterations = int(opt.state[params[0]].get("n_iter", 0))
    else:
        opt = torch.optim.Adam(params, lr=lr)
        n = X.shape[0]
        while time.perf_counter() - t0 < time_cap:
            perm = torch.randperm(n)
            for start in range(0, n, batch_size):
                batch = X[perm[start : start + batch_size]]
                opt.zero_grad()
                loss_fn(batch).backward()
                opt.step()
            iterations += 1  # epochs
            with torch.no_grad():
                last = float(loss_fn(X))
            if last <= target:
                reached = True
                break
    seconds = time.perf_counter() - t0
    return {
        "seconds": seconds,
        "iterations": iterations,
        "final_loss": last,
        "reached": reached,
    }


def eval_case(
    dtype="float64",
    threads="default",
    problem="digits",
    n_samples=1797,
    n_features=64,
    hidden=(128,),
    k=8,
    repeats=31,
):
    """Median ms of one loss-and-gradient evaluation, skae vs torch, same process.

    Calls interleaved round by round, so a drifting load hits both alike: the
    steadiest comparison on a shared machine. torch's includes collecting the
    gradient into one array, as an L-BFGS step needs.
    """
    import contextlib

    import numpy as np
    import torch
    from threadpoolctl import threadpool_limits

    from benchmarks._common import interleaved_times
    from skae._network import Workspace, loss_grad

    X = _data(problem, n_samples, n_features)
    arch, theta, (coefs, intercepts) = _init(X, tuple(hidden), k)
    Xd = np.ascontiguousarray(X, dtype=dtype)
    ws = Workspace(arch, X.shape[0], dtype)
    tdtype = getattr(torch, dtype)
    Xt = torch.tensor(Xd)
    params = []
    for W, b in zip(coefs, intercepts):
        params.append(torch.tensor(np.array(W), dtype=tdtype, requires_grad=True))
        params.append(torch.tensor(np.array(b), dtype=tdtype, requires_grad=True))

    def torch_eval():
        for p in params:
            p.grad = None
        A = Xt
        for i, name in enumerate(arch.activations):
            A = torch.addmm(params[2 * i + 1], A, params[2 * i])
            if name == "tanh":
                A = torch.tanh(A)
        loss = 0.5 * ((A - Xt) ** 2).sum() / Xt.shape[0]
        loss.backward()
        return torch.cat([p.grad.reshape(-1) for p in params])

    def skae_eval():
        return loss_grad(theta, Xd, Xd, ws)

    old = torch.get_num_threads()
    with contextlib.ExitStack() as stack:
        if threads != "default":
            stack.enter_context(threadpool_limits(int(threads)))
            torch.set_num_threads(int(threads))
            stack.callback(torch.set_num_threads, old)
        t = interleaved_times({"skae": skae_eval, "torch": torch_eval}, repeats)
    ratios = [b / a for a, b in zip(t["skae"], t["torch"])]
    row = {"threads": threads, "dtype": dtype}
    with_spread(row, "skae_ms_per_eval", t["skae"], 1e3)
    with_spread(row, "torch_ms_per_eval", t["torch"], 1e3)
    return with_spread(row, "torch/skae", ratios)


EVAL_COLUMNS = [
    "threads",
    "dtype",
    "skae_ms_per_eval",
    "torch_ms_per_eval",
    "torch/skae",
]


def run_eval(config=None, threads=("default", "1"), repeats=31):
    """Per-evaluation rows (threads x dtype), each in a fresh process."""
    config = dict(config or dict(problem="digits", hidden=[128], k=8))
    config.pop("max_iter", None)
    return [
        run_child(
            "bench_torch",
            "eval_case",
            dict(config, dtype=dt, threads=th, repeats=repeats),
        )
        for th in threads
        for dt in ("float64", "float32")
    ]


def have_torch() -> bool:
    return importlib.util.find_spec("torch") is not None


def threaded_case(func, threads="default", **kwargs):
    """``func(**kwargs)`` (skae_case or torch_case) at the given thread setting.

    ``threads="1"``: every BLAS/OpenMP pool (threadpoolctl) and torch's
    intra-op pool limited to one thread.
    """
    import contextlib

    from threadpoolctl import threadpool_limits

    case = {"skae_case": skae_case, "torch_case": torch_case}[func]
    if threads == "default":
        return case(**kwargs)
    n = int(threads)
    with contextlib.ExitStack() as stack:
        stack.enter_context(threadpool_limits(n))
        if func == "torch_case":
            import torch

            old = torch.get_num_threads()
            torch.set_num_threads(n)
            stack.callback(torch.set_num_threads, old)
        return case(**kwargs)


def _run_one(config, runs, with_torch, time_cap, threads):
    config = dict(config)
    max_iter = config.pop("max_iter", 500)

    def child(func, **kw):
        return run_child(
            "bench_torch",
            "threaded_case",
            dict(config, func=func, threads=threads, time_cap=time_cap, **kw),
        )

    base = [child("skae_case", max_iter=max_iter) for _ in range(runs)]
    target = statistics.median(r["final_loss"] for r in base)
    contenders = {"skae float32 (L-BFGS-B)": ("skae_case", dict(dtype="float32"))}
    if with_torch:
        for name, opt, dt in [
            ("torch LBFGS float64", "lbfgs", "float64"),
            ("torch LBFGS float32", "lbfgs", "float32"),
            ("torch Adam float32 (epochs)", "adam", "float32"),
        ]:
            contenders[name] = ("torch_case", dict(optimizer=opt, dtype=dt))
    results = {"skae float64 (L-BFGS-B, 500 it)": base}
    for name, (func, kw) in contenders.items():
        if func == "skae_case":
            kw = dict(kw, max_iter=max_iter)
        results[name] = [child(func, target=target, **kw) for _ in range(runs)]
    t_base = statistics.median(r["seconds"] for r in base)
    rows = []
    for name, rs in results.items():
        t = statistics.median(r["seconds"] for r in rs)
        rows.append(
            {
                "threads": threads,
                "contender": name,
                "reached": f"{sum(r['reached'] for r in rs)}/{len(rs)}",
                "seconds": t,
                "seconds_spread": spread([r["seconds"] for r in rs]),
                "iterations": int(statistics.median(r["iterations"] for r in rs)),
                "final_loss": statistics.median(r["final_loss"] for r in rs),
                "target_loss": target,
                "time/skae64": t / t_base,
            }
        )
    return rows


def run(config=None, runs=3, with_torch=None, time_cap=120.0, threads=("default", "1")):
    """Rows per (threads, contender): median wall time to reach skae float64's
    loss (its loss after ``max_iter`` iterations at that thread setting)."""
    if config is None:
        config = dict(problem="digits", hidden=[128], k=8)
    if with_torch is None:
        with_torch = have_torch()
    rows = []
    for th in threads:
        rows += _run_one(config, runs, with_torch, time_cap, th)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(parser)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-torch", action="store_true")
    parser.add_argument(
        "--threads", default="default,1", help="comma-separated: default, 1"
    )
    parser.add_argument("--time-cap", type=float, default=60.0)
    args = parser.parse_args(argv)
    apply_common_args(args)
    record = start_recording("torch", argv)
    with_torch = have_torch() and not args.no_torch
    threads = tuple(t.strip() for t in args.threads.split(","))
    if args.quick:
        quick = dict(problem="lowrank", n_samples=100, n_features=10, hidden=[6], k=2)
        rows = run(
            config=dict(quick, max_iter=10),
            runs=1,
            with_torch=with_torch,
            time_cap=10.0,
        )
        eval_rows = run_eval(quick, threads, repeats=3) if with_torch else []
    else:
        rows = run(
            runs=args.runs,
            with_torch=with_torch,
            time_cap=args.time_cap,
            threads=threads,
        )
        eval_rows = run_eval(threads=threads) if with_torch else []
    tables = [{"columns": COLUMNS, "rows": rows}]
    if eval_rows:
        tables.append(
            {
                "caption": "One loss-and-gradient evaluation of the same network, "
                "skae vs torch, interleaved in one process (median [min, max] "
                "over rounds):",
                "columns": EVAL_COLUMNS,
                "rows": eval_rows,
            }
        )
    finish_main(
        record,
        args,
        "skae vs PyTorch (CPU): wall time to reach skae's training loss after "
        "500 L-BFGS iterations (64-128-8-128-64 tanh, digits)",
        tables,
    )
    return rows


if __name__ == "__main__":
    main()
