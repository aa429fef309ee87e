"""Smoke test of the benchmark scripts: they import and run at tiny sizes.

No timing is asserted (the machine is shared and noisy); only the structure of
the result tables. Benchmark "children" run in this process here
(``benchmarks._common.IN_PROCESS``) to keep the test fast; one test runs a
real subprocess to check that mechanism.
"""

import math

import numpy as np
import pytest

from benchmarks import _common


@pytest.fixture
def in_process(monkeypatch):
    monkeypatch.setattr(_common, "IN_PROCESS", True)


def _positive_finite(x):
    return isinstance(x, float | int) and math.isfinite(x) and x > 0


def _check_rows(rows, columns, n_rows, ratio_columns):
    assert len(rows) == n_rows
    for row in rows:
        assert set(columns) <= set(row), set(columns) - set(row)
        for c in ratio_columns:
            assert _positive_finite(row[c]), (c, row[c])
    table = _common.markdown_table(rows, columns)
    assert len(table.splitlines()) == n_rows + 2


def test_run_child_subprocess():
    info = _common.run_child("_common", "machine_info", {})
    assert info["cpu_count"] >= 1
    assert all("architecture" in lib for lib in info["blas"])
    assert "OPENBLAS_CORETYPE" in _common.describe_machine(info)


def test_child_env_unset_openblas(monkeypatch):
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    assert _common.child_env(False)["OPENBLAS_CORETYPE"] == "Haswell"
    env = _common.child_env(True)
    assert "OPENBLAS_CORETYPE" not in env and "OPENBLAS_L2_SIZE" not in env


def test_bench_overhead(in_process):
    from benchmarks import bench_overhead

    rows = bench_overhead.run(
        n_samples=60,
        n_features=10,
        n_components=3,
        hiddens=((), (5,)),
        dtypes=("float64", "float32"),
        repeats=2,
    )
    _check_rows(
        rows, bench_overhead.COLUMNS, 8, ["loss_grad_ms", "products_ms", "ratio"]
    )
    assert [r["threads"] for r in rows] == ["default"] * 4 + ["1"] * 4


def test_bench_threads(in_process):
    from benchmarks import bench_threads

    rows = bench_threads.run(
        problems=[
            dict(
                problem="lowrank",
                n_samples=60,
                n_features=8,
                n_components=3,
                max_iter=3,
            )
        ],
        repeats=1,
    )
    _check_rows(
        rows,
        bench_threads.COLUMNS,
        2,
        ["limited_ms_per_eval", "default_ms_per_eval", "default/limited"],
    )
    assert [r["contender"] for r in rows] == ["skae", "MLPRegressor"]


def test_bench_mlp(in_process):
    from benchmarks import bench_mlp

    rows = bench_mlp.run(
        problems=[dict(problem="lowrank", n_samples=60, n_features=8, k=3, max_iter=3)],
        runs=1,
    )
    _check_rows(
        rows, bench_mlp.COLUMNS, 2, ["skae_ms_per_iter", "mlp_ms_per_iter", "mlp/skae"]
    )
    assert [r["threads"] for r in rows] == ["default", "1"]


def test_bench_crossover(in_process):
    from benchmarks import bench_crossover

    # any table of benchmarks._datasets; diabetes ships with scikit-learn
    # (randhie and fair need statsmodels, not a test extra)
    rows = bench_crossover.run(
        ["diabetes"], {"diabetes": [150, 300]}, seeds=[0, 1], quick=True
    )
    _check_rows(
        rows,
        bench_crossover.COLUMNS,
        2,
        ["lbfgs/pca", "adam/pca", "adam/lbfgs", "lbfgs_s", "adam_s"],
    )
    assert [r["n"] for r in rows] == [150, 300]
    assert all(len(r["raw"]["adam"]) == 2 for r in rows)  # one fit per seed


def test_bench_pca():
    import numpy as np

    from benchmarks import bench_pca

    X = np.random.RandomState(0).standard_normal((40, 6))
    rows = bench_pca.run(
        datasets={"tiny": X}, code_sizes=(2, 3), hidden=(4,), max_iter=3, runs=1
    )
    _check_rows(
        rows,
        bench_pca.COLUMNS,
        2,
        ["pca_fit_s", "ae_fit_s", "ae/pca_error", "ae/pca_time"],
    )


def test_bench_scaling(in_process):
    from benchmarks import bench_scaling

    rows = bench_scaling.run(
        sizes=(30, 60), n_features=6, hidden=(4,), k=2, max_iter=2, runs=1
    )
    _check_rows(
        rows,
        bench_scaling.COLUMNS,
        2,
        ["skae_ms_per_iter", "mlp_ms_per_iter", "skae_peak/X", "mlp_peak/X"],
    )


def test_bench_memory(in_process):
    from benchmarks import bench_memory

    rows = bench_memory.run(sizes=(300,), n_features=6, hidden=(4,), k=2)
    _check_rows(rows, bench_memory.COLUMNS, 5, ["peak_MB", "model_MB", "peak/model"])


_TORCH_CONFIG = dict(
    problem="lowrank", n_samples=40, n_features=6, hidden=[4], k=2, max_iter=5
)


def test_bench_torch_without_torch(in_process):
    from benchmarks import bench_torch

    rows = bench_torch.run(
        config=dict(_TORCH_CONFIG), runs=1, with_torch=False, time_cap=5.0
    )
    _check_rows(rows, bench_torch.COLUMNS, 4, ["seconds", "time/skae64"])
    assert [r["threads"] for r in rows] == ["default"] * 2 + ["1"] * 2


@pytest.mark.slow
def test_bench_torch(in_process):
    pytest.importorskip("torch")
    from benchmarks import bench_torch

    rows = bench_torch.run(
        config=dict(_TORCH_CONFIG), runs=1, with_torch=True, time_cap=0.5
    )
    _check_rows(rows, bench_torch.COLUMNS, 10, ["seconds", "time/skae64"])
    assert rows[0]["target_loss"] > 0


def test_run_all_writes_readme_section(in_process, monkeypatch, tmp_path):
    from benchmarks import run_all

    monkeypatch.setattr(_common, "UNSET_OPENBLAS_ENV", False)
    section, rows = run_all.run_all(["pca"], quick=True)
    assert set(rows) == {"pca"} and len(rows["pca"]) == 2
    assert "architecture" in section and "| dataset |" in section
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{run_all.START}\nold\n{run_all.END}\noutro\n")
    run_all.write_readme(section, str(readme))
    text = readme.read_text()
    assert "old" not in text and "| dataset |" in text
    assert text.startswith("intro\n") and text.endswith("outro\n")


def test_bench_torch_per_eval(in_process):
    pytest.importorskip("torch")
    from benchmarks import bench_torch

    rows = bench_torch.run_eval(dict(_TORCH_CONFIG), repeats=2)
    _check_rows(
        rows,
        bench_torch.EVAL_COLUMNS,
        4,
        ["skae_ms_per_eval", "torch_ms_per_eval", "torch/skae"],
    )


def test_bench_kernel(in_process):
    from benchmarks import bench_kernel

    shape = ["lowrank", 600, 10, 12, 3]
    contenders = ["skae", "skae_whole", "skae_blocked"]
    if bench_kernel.have_torch():
        contenders.append("torch")
    raw = []
    for c in contenders:
        res = bench_kernel.eval_case(c, shape, "float64", 1, repeats=2)
        assert _positive_finite(res["ms"]["median"])
        assert res["blas_kernels"]
        raw.append(dict(res, shape="tiny", round=0))
    assert raw[0]["ran"] == "skae_whole"  # too few rows to block
    assert raw[2]["ran"] == "skae_blocked"
    if bench_kernel.have_torch():
        rows = bench_kernel.eval_table(raw)
        assert len(rows) == 1 and _positive_finite(rows[0]["skae/torch (medians)"])
    res = bench_kernel.adam_case("skae", 1, n_samples=300, n_features=12, passes=1)
    assert _positive_finite(res["s_per_pass"]["median"])


def test_bench_outliers(in_process):
    from benchmarks import bench_outliers

    rows = bench_outliers.run(
        setups=("wine", "iris"),
        contenders=("skae", "iforest", "lof"),
        seeds=(0,),
    )
    _check_rows(rows, bench_outliers.COLUMNS, 6, ["roc_auc", "fit_s"])
    for setup in bench_outliers.SETUPS + bench_outliers.EXTRA_SETUPS:
        X_tr, X_te, y_te = bench_outliers.load_setup(setup, 0)
        assert X_tr.shape[1] == X_te.shape[1] and 0 < y_te.mean() <= 0.25


def test_bench_kernel_command_line():
    """The command line parses (its options and the common ones together) and
    a quick run completes without writing the committed results."""
    from benchmarks import bench_kernel

    result = bench_kernel.main(["--quick", "--only", "eval", "--contenders", "skae"])
    assert {r["contender"] for r in result["eval"]} == {"skae"}


def test_bench_quality_time_skae_contenders():
    """Each skae contender of the time-to-quality benchmark runs on this
    checkout (quick digits): the partial_fit one broke silently when
    partial_fit's hyperparameters moved to the constructor."""
    from benchmarks import bench_quality_time as bench

    passes = bench.partial_fit_case("digits", 0.3, quick=True)
    assert passes["n_iter"] >= 1 and len(passes["points"]) >= 1
    default = bench.skae_case("digits", {}, 0.3, quick=True)
    assert default["n_iter"] >= 1


def test_bench_impute(in_process):
    from benchmarks import bench_impute

    kw = dict(tables=("wine",), rates=(0.2,), seeds=(0,), big_rows=500)
    results = bench_impute.run(**kw, rounds=2)  # times pooled over the rounds
    assert all(len(r["times"]) == 2 == r["time_s_spread"]["n"] for r in results)
    cells = bench_impute.cell_rows(results)
    assert len(cells) == 1
    _check_rows(cells, ["skae_rmse", "mean_rmse", "skae/best"], 1, ["skae_rmse"])
    X_nan, mask = bench_impute.remove(bench_impute.load("wine"), 0.9, 0)
    assert not mask.all(axis=1).any() and np.isnan(X_nan).sum() == mask.sum()
    assert bench_impute.summary_rows(cells, results)[0]["value"].endswith("%)")
