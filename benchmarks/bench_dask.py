"""Map-reduce L-BFGS on a dask array against the in-memory fit of the same data.

Issue 5's measurement: ``n_samples x n_features`` synthetic rows (default
1,000,000 x 100, float64: 800 MB) in a dask array chunked by ``chunk`` rows
(default 100,000), generated *on the workers* of a 2-worker ``LocalCluster``
(loopback, one thread and one process per worker), are fitted by
``AutoencoderTransformer(...).fit(X_dask)`` for a fixed number of L-BFGS
iterations. The same rows, generated in memory (bit-identical, same per-chunk
seeds), are then fitted in a fresh process with the same settings. Reported:

* seconds per L-BFGS iteration (fit time over ``n_iter_``; each iteration
  holds one or more loss-and-gradient evaluations) of each path;
* the final loss of each path (they minimise the same objective from the same
  start, so they agree to floating-point summation order);
* the in-memory fit once with numpy's BLAS on its default threads (all
  cores) and once limited to one thread: on a shared, loaded machine a
  multi-threaded BLAS can collapse, and the one-thread row is the stable
  baseline;
* peak resident memory of the *client* process during the dask fit (sampled
  every 5 ms from ``/proc/self/statm``), its rise over the client's memory
  before the fit, and the workers' total resident memory after it; the peak
  of the in-memory process for comparison. The data never reaches the client,
  so the client's rise stays far below the data's size.

Each path runs in its own interpreter (:func:`benchmarks._common.run_child`)
so neither's memory or thread pools affect the other. The dask workers get one
BLAS thread each (dask's nanny default), the in-memory fit numpy's default
(all cores): both use the machine's cores.

Run: ``python benchmarks/bench_dask.py [--quick] [--n-samples N] [--chunk C]``.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import threading
import time

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np

from benchmarks._common import (
    add_common_args,
    apply_common_args,
    markdown_table,
    quiet_fit,
    run_child,
)

COLUMNS = [
    "path",
    "n_samples",
    "n_features",
    "chunk",
    "data_MB",
    "n_iter",
    "s_per_iter",
    "fit_s",
    "final_loss",
    "client_peak_MB",
    "client_rise_MB",
    "workers_MB",
]

RANK = 10


def make_block(i: int, rows: int, n_features: int, seed: int = 0) -> np.ndarray:
    """Rows of chunk ``i``: a rank-10 tanh manifold plus noise, from its own
    seed so that any process generates the same chunk."""
    basis = np.random.RandomState(seed).standard_normal((RANK, n_features))
    rng = np.random.RandomState([seed, i])
    Z = rng.standard_normal((rows, RANK))
    X = np.tanh(Z @ basis / np.sqrt(RANK))
    X += 0.1 * rng.standard_normal((rows, n_features))
    return X


def _generated_block(n_features, sizes, block_id=None):
    i = block_id[0]
    return make_block(i, sizes[i], n_features)


def _chunk_sizes(n_samples, chunk):
    sizes = [chunk] * (n_samples // chunk)
    if n_samples % chunk:
        sizes.append(n_samples % chunk)
    return sizes


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:  # not Linux: the lifetime peak is the best we have
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class PeakSampler:
    """Peak resident memory of this process while the ``with`` block runs."""

    def __init__(self, interval=0.005):
        self.interval, self.peak = interval, 0
        self._stop = threading.Event()

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, _rss_bytes())
            time.sleep(self.interval)

    def __enter__(self):
        self.peak = _rss_bytes()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss_bytes())


def _estimator(hidden, n_components, max_iter):
    from skae import AutoencoderTransformer

    return AutoencoderTransformer(
        n_components,
        hidden_layer_sizes=tuple(hidden),
        solver="lbfgs",  # seconds per L-BFGS iteration, whatever the size
        early_stopping=False,
        max_iter=max_iter,
        tol=0.0,
        random_state=0,
    )


def measure_dask(n_samples, n_features, chunk, hidden, n_components, max_iter):
    """The dask fit, in this (fresh) process as the client of a new cluster."""
    import dask.array as da
    from dask.distributed import Client, LocalCluster, wait

    sizes = _chunk_sizes(n_samples, chunk)
    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        ) as cluster,
        Client(cluster) as client,
    ):
        X = da.map_blocks(
            _generated_block,
            n_features=n_features,
            sizes=sizes,
            chunks=(tuple(sizes), (n_features,)),
            dtype=np.float64,
            meta=np.empty((0, 0)),
        ).persist()
        client.wait_for_workers(2)
        wait(X)
        est = _estimator(hidden, n_components, max_iter)
        before = _rss_bytes()
        with PeakSampler() as sampler:
            t0 = time.perf_counter()
            quiet_fit(est, X)
            fit_s = time.perf_counter() - t0
        workers = client.run(_rss_bytes)
    return {
        "path": "dask, 2 workers",
        "n_samples": n_samples,
        "n_features": n_features,
        "chunk": chunk,
        "data_MB": n_samples * n_features * 8 / 2**20,
        "n_iter": est.n_iter_,
        "s_per_iter": fit_s / est.n_iter_,
        "fit_s": fit_s,
        "final_loss": est.loss_,
        "client_peak_MB": sampler.peak / 2**20,
        "client_rise_MB": (sampler.peak - before) / 2**20,
        "workers_MB": sum(workers.values()) / 2**20,
    }


def measure_memory(
    n_samples, n_features, chunk, hidden, n_components, max_iter, blas_threads=None
):
    """The in-memory fit of the same rows, in this (fresh) process, with numpy's
    BLAS on its default threads or limited to ``blas_threads``."""
    from threadpoolctl import threadpool_limits

    sizes = _chunk_sizes(n_samples, chunk)
    X = np.vstack([make_block(i, r, n_features) for i, r in enumerate(sizes)])
    est = _estimator(hidden, n_components, max_iter)
    before = _rss_bytes()
    with PeakSampler() as sampler, threadpool_limits(blas_threads, "blas"):
        t0 = time.perf_counter()
        quiet_fit(est, X)
        fit_s = time.perf_counter() - t0
    threads = "default" if blas_threads is None else blas_threads
    return {
        "path": f"in memory, BLAS threads: {threads}",
        "n_samples": n_samples,
        "n_features": n_features,
        "chunk": "",
        "data_MB": X.nbytes / 2**20,
        "n_iter": est.n_iter_,
        "s_per_iter": fit_s / est.n_iter_,
        "fit_s": fit_s,
        "final_loss": est.loss_,
        "client_peak_MB": sampler.peak / 2**20,
        "client_rise_MB": (sampler.peak - before) / 2**20,
        "workers_MB": "",
    }


def run(
    n_samples=1_000_000,
    chunk=100_000,
    n_features=100,
    hidden=(100,),
    n_components=10,
    max_iter=10,
    in_memory=True,
    in_memory_blas_threads=(None, 1),
):
    """Rows for the dask fit and (unless ``in_memory=False``) the in-memory fit,
    once per entry of ``in_memory_blas_threads`` (None: numpy's default)."""
    kw = dict(
        n_samples=n_samples,
        n_features=n_features,
        chunk=chunk,
        hidden=list(hidden),
        n_components=n_components,
        max_iter=max_iter,
    )
    rows = [run_child("bench_dask", "measure_dask", kw)]
    if in_memory:
        for threads in in_memory_blas_threads:
            kw_mem = dict(kw, blas_threads=threads)
            rows.append(run_child("bench_dask", "measure_memory", kw_mem))
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_common_args(parser)
    parser.add_argument("--n-samples", type=int, default=1_000_000)
    parser.add_argument("--chunk", type=int, default=100_000)
    parser.add_argument("--n-features", type=int, default=100)
    parser.add_argument("--max-iter", type=int, default=10)
    args = parser.parse_args(argv)
    apply_common_args(args)
    if args.quick:
        args.n_samples, args.chunk, args.n_features = 20_000, 5_000, 20
    rows = run(
        n_samples=args.n_samples,
        chunk=args.chunk,
        n_features=args.n_features,
        max_iter=args.max_iter,
    )
    print(markdown_table(rows, COLUMNS))
    return rows


if __name__ == "__main__":
    main()
