"""Helpers shared by the benchmark scripts: timing, subprocesses, tables, machine.

Every script has ``run(...)`` returning a list of dict rows (so the smoke test
can call it at tiny sizes) and ``main(argv=None)`` that parses sizes, runs and
prints a markdown table. Contenders that must not share a process (thread
pools, allocator state, imported libraries) run through :func:`run_child`,
which starts a fresh ``python -c`` importing this repository's ``benchmarks``
package and reads back one JSON line.
"""

from __future__ import annotations

import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OPENBLAS_ENV = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
_JSON_TAG = "@@BENCH_JSON@@"

# Set by main() of each script (--unset-openblas-env); read by run_child.
UNSET_OPENBLAS_ENV = False
# The smoke test sets this to run "children" in its own process (fast, tiny).
IN_PROCESS = False


def median_time(func: Callable[[], object], repeats: int = 5, warmup: int = 1) -> float:
    """Median wall time of ``func()`` in seconds over ``repeats`` calls."""
    for _ in range(warmup):
        func()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        func()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def interleaved_times(
    funcs: dict[str, Callable[[], object]], repeats: int = 5, warmup: int = 1
) -> dict[str, list[float]]:
    """Times of each function over ``repeats`` rounds, calls interleaved so that
    a shared machine's drifting load hits all alike."""
    for _ in range(warmup):
        for f in funcs.values():
            f()
    times: dict[str, list[float]] = {k: [] for k in funcs}
    for _ in range(repeats):
        for k, f in funcs.items():
            t0 = time.perf_counter()
            f()
            times[k].append(time.perf_counter() - t0)
    return times


def interleaved_medians(
    funcs: dict[str, Callable[[], object]], repeats: int = 5, warmup: int = 1
) -> dict[str, float]:
    """Median time of each function, calls interleaved (see interleaved_times)."""
    times = interleaved_times(funcs, repeats, warmup)
    return {k: statistics.median(v) for k, v in times.items()}


def low_rank_data(n_samples, n_features, rank=50, noise=0.1, dtype="float64", seed=0):
    """Standardized random low-rank matrix plus Gaussian noise (structured data)."""
    import numpy as np

    rng = np.random.RandomState(seed)
    X = rng.standard_normal((n_samples, rank)) @ rng.standard_normal((rank, n_features))
    X += noise * np.sqrt(rank) * rng.standard_normal((n_samples, n_features))
    X -= X.mean(axis=0)
    X /= X.std(axis=0)
    return np.ascontiguousarray(X, dtype=dtype)


def digits(standardize=True):
    """scikit-learn's bundled digits (no download), standardized by default."""
    from sklearn.datasets import load_digits
    from sklearn.preprocessing import StandardScaler

    X = load_digits().data
    return StandardScaler().fit_transform(X) if standardize else X


def quiet_fit(estimator, X, y=None):
    """``estimator.fit`` with ConvergenceWarning silenced (fixed budgets)."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", UserWarning)
        if y is None:
            return estimator.fit(X)
        return estimator.fit(X, y)


def child_env(unset_openblas_env: bool | None = None) -> dict[str, str]:
    """Environment of a benchmark subprocess: as-is, or without OPENBLAS_*."""
    if unset_openblas_env is None:
        unset_openblas_env = UNSET_OPENBLAS_ENV
    env = dict(os.environ)
    if unset_openblas_env:
        for name in OPENBLAS_ENV:
            env.pop(name, None)
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    return env


def run_child(module: str, func: str, kwargs: dict, timeout: float = 1800) -> dict:
    """Run ``benchmarks.<module>.<func>(**kwargs)`` in a fresh interpreter.

    The function must return a JSON-serialisable value; it is printed on a
    tagged line and parsed here. Errors in the child are raised here. With
    ``IN_PROCESS`` set, the function is called here instead (smoke tests).
    """
    if IN_PROCESS:
        import importlib

        mod = importlib.import_module(f"benchmarks.{module}")
        return json.loads(json.dumps(getattr(mod, func)(**kwargs)))
    code = (
        "import json, sys\n"
        f"from benchmarks.{module} import {func} as f\n"
        f"kw = json.loads(sys.argv[1])\n"
        f"print({_JSON_TAG!r} + json.dumps(f(**kw)), flush=True)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, json.dumps(kwargs)],
        cwd=ROOT,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"benchmark child {module}.{func}({kwargs}) failed "
            f"(exit {proc.returncode}):\n{proc.stderr[-4000:]}"
        )
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(_JSON_TAG):
            return json.loads(line[len(_JSON_TAG) :])
    raise RuntimeError(f"benchmark child {module}.{func} printed no result")


def blas_info() -> list[dict]:
    """threadpoolctl's view of the BLAS libraries loaded (numpy's and scipy's)."""
    import numpy  # noqa: F401
    import scipy.linalg  # noqa: F401  (loads scipy's BLAS)
    from threadpoolctl import threadpool_info

    keys = ("internal_api", "version", "architecture", "num_threads", "filepath")
    return [
        {k: lib.get(k) for k in keys}
        for lib in threadpool_info()
        if lib.get("user_api") == "blas"
    ]


def machine_info() -> dict:
    """The machine and libraries the numbers were measured with."""
    import numpy
    import scipy
    import sklearn

    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
        "sklearn": sklearn.__version__,
        "openblas_env": {k: os.environ.get(k) for k in OPENBLAS_ENV},
        "loadavg": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "blas": blas_info(),
    }


def child_machine_info() -> dict:
    """:func:`machine_info` as seen by a benchmark subprocess (its environment)."""
    return run_child("_common", "machine_info", {})


def describe_machine(info: dict) -> str:
    lines = [
        f"- Python {info['python']} on {info['platform']}, {info['cpu_count']} cores",
        f"- numpy {info['numpy']}, scipy {info['scipy']}, "
        f"scikit-learn {info['sklearn']}",
        "- environment: "
        + ", ".join(f"{k}={v}" for k, v in info["openblas_env"].items()),
    ]
    for lib in info["blas"]:
        owner = (
            "numpy"
            if "numpy" in (lib["filepath"] or "")
            else ("scipy" if "scipy" in (lib["filepath"] or "") else "other")
        )
        lines.append(
            f"- {owner}'s BLAS: {lib['internal_api']} {lib['version']}, "
            f"kernel (threadpoolctl `architecture`) {lib['architecture']}, "
            f"{lib['num_threads']} threads"
        )
    return "\n".join(lines)


def _fmt(value) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if value == 0:
            return "0"
        a = abs(value)
        if a >= 1000:
            return f"{value:.0f}"
        if a >= 100:
            return f"{value:.1f}"
        if a >= 0.01:
            return f"{value:.3g}" if a < 10 else f"{value:.2f}"
        return f"{value:.3g}"
    return str(value)


def markdown_table(rows: Sequence[dict], columns: Sequence[str] | None = None) -> str:
    """Rows of dicts as a markdown table (columns default to the first row's keys)."""
    if not rows:
        return "(no rows)"
    columns = list(columns or rows[0].keys())
    out = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        out.append("| " + " | ".join(_fmt(row.get(c, "")) for c in columns) + " |")
    return "\n".join(out)


def add_common_args(parser) -> None:
    parser.add_argument(
        "--unset-openblas-env",
        action="store_true",
        help="unset OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE in benchmark "
        "subprocesses (default: run with the environment as-is)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="tiny sizes, for a smoke run"
    )


def apply_common_args(args) -> None:
    global UNSET_OPENBLAS_ENV
    UNSET_OPENBLAS_ENV = bool(args.unset_openblas_env)


def script_setup() -> None:
    """Make ``import benchmarks`` work when a script is run by its path."""
    if ROOT not in sys.path:
        sys.path.insert(0, ROOT)
