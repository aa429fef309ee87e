"""Helpers shared by the benchmark scripts: timing, subprocesses, tables, machine.

Every script has ``run(...)`` returning a list of dict rows (so the smoke test
can call it at tiny sizes) and ``main(argv=None)`` that parses sizes, runs,
writes its raw results as JSON (:func:`start_recording` /
:func:`finish_recording`: ``benchmarks/results/<name>.json``, with the machine,
the libraries, threadpoolctl's view of the BLAS that ran and the load average
at start and end) and prints the markdown rendered from that JSON
(:func:`render_result`, which ``run_all.py --render-only`` also uses).
Contenders that must not share a process (thread pools, allocator state,
imported libraries) run through :func:`run_child`, which starts a fresh
``python -c`` importing this repository's ``benchmarks`` package and reads back
one JSON line.

A number measured several times is reported with its spread: a row holds the
median under the column's name and ``{"min", "median", "max", "n"}`` under
``<column>_spread`` (:func:`spread`); tables show ``median [min, max]``.
"""

from __future__ import annotations

import datetime
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
RESULTS_DIR = os.path.join(ROOT, "benchmarks", "results")
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


def _version(dist: str) -> str | None:
    """An installed distribution's version, without importing it (torch is slow)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return None


def loadavg() -> list[float] | None:
    return list(os.getloadavg()) if hasattr(os, "getloadavg") else None


def machine_info() -> dict:
    """The machine and libraries the numbers were measured with."""
    import numpy
    import scipy
    import sklearn
    from threadpoolctl import threadpool_info

    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
        "sklearn": sklearn.__version__,
        "torch": _version("torch"),
        "statsmodels": _version("statsmodels"),
        "openblas_env": {k: os.environ.get(k) for k in OPENBLAS_ENV},
        "loadavg": loadavg(),
        "blas": blas_info(),
        # Every pool threadpoolctl sees (BLAS and OpenMP), as loaded after
        # importing numpy and scipy.linalg: the kernel that ran is
        # ``architecture``.
        "threadpools": threadpool_info(),
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


def machine_line(info: dict) -> str:
    """One line of :func:`machine_info`: cores, libraries, the BLAS that ran."""

    def owner(lib):
        path = lib.get("filepath") or ""
        return "numpy" if "numpy" in path else ("scipy" if "scipy" in path else "")

    blas = {owner(lib): lib for lib in info.get("blas", [])}
    parts = []
    for name, key in (("numpy", "numpy"), ("scipy", "scipy")):
        lib = blas.get(name)
        extra = ""
        if lib:
            extra = (
                f" ({lib['internal_api']} {lib['version']}, {lib['architecture']}, "
                f"{lib['num_threads']} threads)"
            )
        parts.append(f"{name} {info.get(key)}{extra}")
    parts.append(f"scikit-learn {info.get('sklearn')}")
    if info.get("torch"):
        parts.append(f"torch {info['torch']}")
    env = ", ".join(f"{k}={v}" for k, v in info.get("openblas_env", {}).items() if v)
    return (
        f"Machine: {info.get('cpu_count')} cores; "
        + ", ".join(parts)
        + (f"; {env}" if env else "")
        + "."
    )


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


def spread(values: Sequence[float]) -> dict:
    """``{"min", "median", "max", "n"}`` of repeated measurements."""
    values = [float(v) for v in values]
    return {
        "min": min(values),
        "median": statistics.median(values),
        "max": max(values),
        "n": len(values),
    }


def with_spread(row: dict, column: str, values: Sequence[float], scale=1.0) -> dict:
    """Set ``row[column]`` to the median of ``values`` (times ``scale``) and
    ``row[column + "_spread"]`` to their spread; returns ``row``."""
    s = spread([v * scale for v in values])
    row[column] = s["median"]
    row[column + "_spread"] = s
    return row


def _cell(row: dict, column: str) -> str:
    s = row.get(column + "_spread")
    if isinstance(s, dict) and s.get("n", 0) > 1 and s["min"] != s["max"]:
        return f"{_fmt(s['median'])} [{_fmt(s['min'])}, {_fmt(s['max'])}]"
    return _fmt(row.get(column, ""))


def markdown_table(rows: Sequence[dict], columns: Sequence[str] | None = None) -> str:
    """Rows of dicts as a markdown table (columns default to the first row's keys).

    A column with a ``<column>_spread`` entry of more than one distinct value
    shows ``median [min, max]``.
    """
    if not rows:
        return "(no rows)"
    columns = list(columns or rows[0].keys())
    out = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        out.append("| " + " | ".join(_cell(row, c) for c in columns) + " |")
    return "\n".join(out)


def add_common_args(parser) -> None:
    parser.add_argument(
        "--unset-openblas-env",
        action="store_true",
        help="unset OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE in benchmark "
        "subprocesses (default: run with the environment as-is)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="tiny sizes, for a smoke run (results not saved unless --out)",
    )
    parser.add_argument(
        "--out",
        default=None,
        help="JSON file for the raw results (default: "
        "benchmarks/results/<name>.json; none for --quick)",
    )
    parser.add_argument(
        "--no-save", action="store_true", help="do not write the results JSON"
    )


def apply_common_args(args) -> None:
    global UNSET_OPENBLAS_ENV
    UNSET_OPENBLAS_ENV = bool(args.unset_openblas_env)


def _utc_now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=10,
    ).stdout.strip()
    return out.stdout.strip() + ("+dirty" if dirty else "")


def start_recording(name: str, argv: Sequence[str] | None) -> dict:
    """Note the start of benchmark ``name``: time, load average, command."""
    argv = list(sys.argv[1:] if argv is None else argv)
    shown, skip = [], False  # the command without where its output went
    for a in argv:
        if skip:
            skip = False
        elif a == "--out":
            skip = True
        elif not a.startswith("--out=") and a != "--no-save":
            shown.append(a)
    argv = shown
    return {
        "benchmark": name,
        "command": " ".join([f"python benchmarks/bench_{name}.py", *argv]),
        "started_utc": _utc_now(),
        "git_commit": _git_commit(),
        "loadavg_start": loadavg(),
        "_t0": time.perf_counter(),
    }


def results_path(name: str, args=None) -> str | None:
    """Where ``main`` writes the JSON: ``--out``, else results/<name>.json
    (none with ``--quick`` or ``--no-save``)."""
    if args is not None and getattr(args, "no_save", False):
        return None
    if args is not None and getattr(args, "out", None):
        return args.out
    if args is not None and getattr(args, "quick", False):
        return None
    return os.path.join(RESULTS_DIR, f"{name}.json")


def finish_recording(
    record: dict,
    title: str,
    tables: Sequence[dict],
    args=None,
    notes: Sequence[str] = (),
    raw=None,
    path: str | None = "default",
) -> dict:
    """Complete ``record`` and write it as JSON; returns the result dict.

    ``tables`` is a list of ``{"caption": str, "columns": [...], "rows": [...]}``
    (the first table's caption may be empty); ``notes`` are paragraphs shown
    after the tables; ``raw`` any further JSON-serialisable measurements.
    The machine is described as a benchmark subprocess sees it.
    """
    result = {k: v for k, v in record.items() if not k.startswith("_")}
    result.update(
        title=title,
        elapsed_s=time.perf_counter() - record["_t0"],
        loadavg_end=loadavg(),
        args={k: v for k, v in vars(args).items()} if args is not None else {},
        machine=child_machine_info(),
        tables=[dict(t) for t in tables],
        notes=list(notes),
    )
    if raw is not None:
        result["raw"] = raw
    if path == "default":
        path = results_path(record["benchmark"], args)
    if path:
        save_result(result, path)
        result["_path"] = path
    return result


def save_result(result: dict, path: str) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    data = {k: v for k, v in result.items() if not k.startswith("_")}
    with open(path, "w") as f:
        json.dump(data, f, indent=1, default=_json_default)
        f.write("\n")


def _json_default(value):
    try:  # numpy scalars and arrays
        return value.tolist()
    except AttributeError:
        raise TypeError(f"not JSON serialisable: {type(value).__name__}") from None


def load_result(name_or_path: str) -> dict:
    """A benchmark's saved result, by name (results/<name>.json) or path."""
    path = name_or_path
    if not path.endswith(".json"):
        path = os.path.join(RESULTS_DIR, f"{name_or_path}.json")
    with open(path) as f:
        return json.load(f)


def _load_text(values) -> str:
    if not values:
        return "?"
    return " / ".join(f"{x:.1f}" for x in values)


def render_result(result: dict, heading: str = "###") -> str:
    """Markdown for one saved result: title, how and when it ran, its tables."""
    flags = " (quick sizes)" if result.get("args", {}).get("quick") else ""
    commit = result.get("git_commit")
    lines = [
        f"{heading} {result['title']}",
        "",
        f"`{result['command']}`{flags}, {result['started_utc']}"
        + (f", skae at {commit}" if commit else "")
        + f": {result['elapsed_s']:.0f} s, load average (1/5/15 min) "
        f"{_load_text(result.get('loadavg_start'))} at start, "
        f"{_load_text(result.get('loadavg_end'))} at end.",
    ]
    if result.get("machine"):
        lines += ["", machine_line(result["machine"])]
    for table in result["tables"]:
        if table.get("caption"):
            lines += ["", table["caption"]]
        lines += ["", markdown_table(table["rows"], table.get("columns"))]
    for note in result.get("notes", []):
        lines += ["", note]
    return "\n".join(lines)


def finish_main(record, args, title, tables, notes=(), raw=None) -> dict:
    """End of a script's ``main``: record, save, print the rendered result."""
    result = finish_recording(record, title, tables, args, notes, raw)
    print(render_result(result, heading="##"))
    if result.get("_path"):
        print(f"\n(raw results: {os.path.relpath(result['_path'])})")
    return result


def script_setup() -> None:
    """Make ``import benchmarks`` work when a script is run by its path."""
    if ROOT not in sys.path:
        sys.path.insert(0, ROOT)
