"""ONNX export: the exported model's size, and onnxruntime against skae's
``transform`` on 10,000 rows.

Issue 15's measurement. An ``AutoencoderTransformer`` is fitted (a few
iterations: inference time does not depend on convergence) on standardized
low-rank data and saved twice: pickled, and exported by
``skl2onnx.to_onnx`` (codes only, skae's default export) for float32 and for
float64 input. Then, each contender in its own fresh interpreter
(:func:`benchmarks._common.run_child`), the median wall time over runs of

* ``estimator.transform(X)`` for the unpickled estimator (numpy, BLAS), and
* ``session.run(None, {"X": X})`` for an ``onnxruntime.InferenceSession`` of
  the exported file (CPU provider),

on the same 10,000 rows of that dtype, with each library's thread pool at its
default and at one thread (``threadpool_limits(1)`` for skae,
``intra_op_num_threads=1`` for onnxruntime). Also reported: the ``.onnx``
file's size beside the pickle's and the time to create the session.

Run: ``python benchmarks/bench_onnx.py [--quick] [--repeats R]`` (needs
skae's ``onnx`` extra).
"""

from __future__ import annotations

import argparse
import os
import pickle
import sys
import tempfile
import time

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks._common import (
    add_common_args,
    apply_common_args,
    low_rank_data,
    markdown_table,
    median_time,
    quiet_fit,
    run_child,
)

COLUMNS = [
    "network",
    "dtype",
    "threads",
    "n_rows",
    "onnx_KB",
    "pickle_KB",
    "ort_load_ms",
    "skae_ms",
    "onnxruntime_ms",
    "skae/onnxruntime",
]

#: (n_features, hidden_layer_sizes, n_components) of the networks measured.
NETWORKS = [(64, (128,), 8), (784, (256,), 32)]


def _data(n_rows, n_features, dtype):
    return low_rank_data(n_rows, n_features, rank=min(50, n_features), dtype=dtype)


def time_skae(path, n_rows, n_features, dtype, threads, repeats):
    """Median seconds of ``transform`` on ``n_rows`` rows (in a child)."""
    from threadpoolctl import threadpool_limits

    with open(path, "rb") as f:
        estimator = pickle.load(f)
    X = _data(n_rows, n_features, dtype)
    limit = None if threads == "default" else int(threads)
    with threadpool_limits(limit):
        seconds = median_time(lambda: estimator.transform(X), repeats, warmup=2)
    return {"seconds": seconds}


def time_onnxruntime(path, n_rows, n_features, dtype, threads, repeats):
    """Session creation and median seconds of ``run`` (in a child)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    if threads != "default":
        options.intra_op_num_threads = int(threads)
    X = _data(n_rows, n_features, dtype)
    t0 = time.perf_counter()
    session = onnxruntime.InferenceSession(
        path, options, providers=["CPUExecutionProvider"]
    )
    load = time.perf_counter() - t0
    seconds = median_time(lambda: session.run(None, {"X": X}), repeats, warmup=2)
    return {"seconds": seconds, "load_seconds": load}


def _export(folder, n_features, hidden, n_components, fit_rows, max_iter):
    """Fit, pickle and export one network; return the files' paths."""
    from skl2onnx import to_onnx

    from skae import AutoencoderTransformer
    from skae.onnx import register_converters

    register_converters()
    X = _data(fit_rows, n_features, "float64")
    estimator = AutoencoderTransformer(
        n_components,
        hidden_layer_sizes=hidden,
        activation="tanh",
        max_iter=max_iter,
        random_state=0,
    )
    quiet_fit(estimator, X)
    name = f"{n_features}-{'-'.join(map(str, hidden))}-{n_components}"
    paths = {"pickle": os.path.join(folder, f"{name}.pkl")}
    with open(paths["pickle"], "wb") as f:
        pickle.dump(estimator, f)
    for dtype in ("float32", "float64"):
        paths[dtype] = os.path.join(folder, f"{name}-{dtype}.onnx")
        with open(paths[dtype], "wb") as f:
            f.write(to_onnx(estimator, X[:1].astype(dtype)).SerializeToString())
    return name, paths


def run(
    networks=NETWORKS,
    n_rows=10_000,
    dtypes=("float32", "float64"),
    threads=("default", 1),
    repeats=7,
    fit_rows=2000,
    max_iter=5,
):
    """One row per (network, dtype, threads)."""
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for n_features, hidden, n_components in networks:
            name, paths = _export(
                folder, n_features, hidden, n_components, fit_rows, max_iter
            )
            for dtype in dtypes:
                for t in threads:
                    kwargs = dict(
                        n_rows=n_rows,
                        n_features=n_features,
                        dtype=dtype,
                        threads=str(t),
                        repeats=repeats,
                    )
                    skae = run_child(
                        "bench_onnx", "time_skae", dict(path=paths["pickle"], **kwargs)
                    )
                    ort = run_child(
                        "bench_onnx",
                        "time_onnxruntime",
                        dict(path=paths[dtype], **kwargs),
                    )
                    rows.append(
                        {
                            "network": name,
                            "dtype": dtype,
                            "threads": str(t),
                            "n_rows": n_rows,
                            "onnx_KB": os.path.getsize(paths[dtype]) / 1024,
                            "pickle_KB": os.path.getsize(paths["pickle"]) / 1024,
                            "ort_load_ms": 1e3 * ort["load_seconds"],
                            "skae_ms": 1e3 * skae["seconds"],
                            "onnxruntime_ms": 1e3 * ort["seconds"],
                            "skae/onnxruntime": skae["seconds"] / ort["seconds"],
                        }
                    )
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(parser)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)
    apply_common_args(args)
    if args.quick:
        rows = run(networks=[(8, (4,), 2)], n_rows=500, repeats=1, fit_rows=60)
    else:
        rows = run(repeats=args.repeats)
    print("## ONNX: exported size, onnxruntime vs skae transform\n")
    print(markdown_table(rows, COLUMNS))
    return rows


if __name__ == "__main__":
    main()
