"""``python -m skae``: the digits demo and the user's own data (issue 7)."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.decomposition import PCA

import skae
from skae import AutoencoderTransformer, DenoisingAutoencoder, SparseAutoencoder
from skae.__main__ import _parser, main

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

ROOT = Path(__file__).resolve().parents[1]


def _run_cli(*argv):
    """``python -m skae ARGV`` in a new process, on this checkout's skae."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, "-m", "skae", *argv],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def iris_csv(in_tmp):
    X = load_iris().data
    path = in_tmp / "iris.csv"
    lines = ["sepal_l,sepal_w,petal_l,petal_w"]
    lines += [",".join(f"{v:g}" for v in row) for row in X]
    path.write_text("\n".join(lines) + "\n")
    return path


def _table_rows(out):
    return [line for line in out.splitlines() if line.strip()[:1].isdigit()]


def test_digits_demo_prints_table_and_writes_png(in_tmp, capsys):
    pytest.importorskip("matplotlib")
    assert main(["--n-components", "2", "4", "--max-iter", "15"]) == 0
    out = capsys.readouterr().out
    assert "Held-out reconstruction error on digits" in out
    assert "PCA error" in out and "AE error" in out
    assert [r.split("|")[0].strip() for r in _table_rows(out)] == ["2", "4"]
    assert (in_tmp / "skae_digits.png").stat().st_size > 1000
    assert "Wrote skae_digits.png" in out


def test_data_csv_with_header_writes_codes_and_png(iris_csv, in_tmp, capsys):
    pytest.importorskip("matplotlib")
    argv = ["--data", str(iris_csv), "--n-components", "2", "--out", "codes.csv"]
    assert main(argv + ["--max-iter", "50"]) == 0
    out = capsys.readouterr().out
    assert "Held-out reconstruction error on iris" in out
    row = _table_rows(out)[0].split("|")
    assert float(row[1].split()[0]) > 0  # PCA error
    assert float(row[2].split()[0]) > 0  # autoencoder error
    codes = np.loadtxt(in_tmp / "codes.csv", delimiter=",", skiprows=1)
    assert codes.shape == (150, 2)
    header = (in_tmp / "codes.csv").read_text().splitlines()[0]
    assert header == "code0,code1"
    assert (in_tmp / "skae_iris.png").stat().st_size > 1000


@pytest.mark.parametrize("kind", ["autoencoder", "denoising", "sparse"])
def test_data_npy_every_kind(in_tmp, kind, capsys):
    np.save(in_tmp / "x.npy", load_iris().data)
    argv = ["--data", "x.npy", "--kind", kind, "--n-components", "3"]
    argv += ["--out", "z.npy", "--max-iter", "30", "--png", "pic.png"]
    assert main(argv) == 0
    assert np.load(in_tmp / "z.npy").shape == (150, 3)
    assert len(_table_rows(capsys.readouterr().out)) == 1


def test_csv_without_header(in_tmp):
    np.savetxt(in_tmp / "plain.csv", load_iris().data, delimiter=",")
    assert main(["--data", "plain.csv", "--out", "z.csv", "--max-iter", "20"]) == 0
    assert np.loadtxt(in_tmp / "z.csv", delimiter=",", skiprows=1).shape == (150, 2)


def test_overcomplete_code_has_no_pca_column(in_tmp, capsys):
    np.save(in_tmp / "x.npy", load_iris().data)
    argv = ["--data", "x.npy", "--kind", "sparse", "--n-components", "6"]
    assert main(argv + ["--max-iter", "20", "--png", "p.png"]) == 0
    row = _table_rows(capsys.readouterr().out)[0]
    assert row.split("|")[1].split() == ["-", "-"]


def _exit_code(argv) -> int:
    try:
        return main(argv)
    except SystemExit as exc:  # argparse's own errors (and --help, --version)
        return exc.code


def _error(capsys, argv):
    assert _exit_code(argv) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("python -m skae: error: ")
    assert "Traceback" not in captured.err
    return err


def test_error_missing_file(in_tmp, capsys):
    err = _error(capsys, ["--data", "nope.csv"])
    assert "cannot read nope.csv" in err


def test_error_unreadable_binary(in_tmp, capsys):
    (in_tmp / "junk.csv").write_bytes(bytes(range(256)) * 4)
    assert "cannot read" in _error(capsys, ["--data", "junk.csv"])
    (in_tmp / "junk.npy").write_bytes(b"not an npy file at all")
    assert "junk.npy" in _error(capsys, ["--data", "junk.npy"])


def test_error_non_numeric_column(in_tmp, capsys):
    (in_tmp / "d.csv").write_text("a,b,colour\n1,2,red\n3,4,blue\n5,6,red\n7,8,red\n")
    err = _error(capsys, ["--data", "d.csv"])
    assert "column 'colour' is not numeric" in err and "line 2" in err


def test_error_missing_values_csv_and_npy(in_tmp, capsys):
    (in_tmp / "d.csv").write_text("a,b\n1,2\n3,\n5,6\n7,8\n")
    err = _error(capsys, ["--data", "d.csv"])
    assert "missing value in column 'b'" in err and "line 3" in err
    X = load_iris().data.copy()
    X[4, 1] = np.nan
    np.save(in_tmp / "d.npy", X)
    err = _error(capsys, ["--data", "d.npy"])
    assert "missing" in err and "row 4, column 1" in err


def test_error_bad_shapes(in_tmp, capsys):
    (in_tmp / "ragged.csv").write_text("1,2\n3,4,5\n")
    assert "fields where 2 were expected" in _error(capsys, ["--data", "ragged.csv"])
    np.save(in_tmp / "v.npy", np.arange(10.0))
    assert "2-D array" in _error(capsys, ["--data", "v.npy"])
    np.save(in_tmp / "s.npy", np.array([["a", "b"], ["c", "d"]]))
    assert "not numeric" in _error(capsys, ["--data", "s.npy"])


def test_subprocess_exit_code_and_one_line(in_tmp):
    (in_tmp / "d.csv").write_text("a,b\n1,x\n")
    proc = _run_cli("--data", "d.csv")
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert proc.stdout == ""


def test_help_lists_options():
    proc = _run_cli("--help")
    assert proc.returncode == 0
    for action in _parser()._actions:
        for option in action.option_strings:
            assert option in proc.stdout
    assert "Exit status" in proc.stdout


# ------------------------------------------- every bad input: one line, exit 2
def _iris_with(value, row=3, col=1):
    X = load_iris().data.copy()
    X[row, col] = value
    return X


def _almost_constant():
    X = np.ones((20, 3))
    X[0] = [1.0, 2.0, 3.0]  # lands in the held-out quarter with random_state=2
    return X


def _npz_bytes(tmp):
    np.savez(tmp / "a.npz", X=np.ones((5, 2)))
    return (tmp / "a.npz").read_bytes()


#: files the table's rows read, by name
_FILES = {
    "big200.npy": lambda tmp: _iris_with(1e200),
    "big308.npy": lambda tmp: _iris_with(1e308),
    "neg308.npy": lambda tmp: _iris_with(-1e308, row=100),
    "constant.npy": lambda tmp: np.ones((20, 3)),
    "train_constant.npy": lambda tmp: _almost_constant(),
    "no_columns.npy": lambda tmp: np.zeros((10, 0)),
    "no_rows.npy": lambda tmp: np.zeros((0, 3)),
    "iris.npy": lambda tmp: load_iris().data,
    "empty.npy": lambda tmp: b"",
    "archive.npy": _npz_bytes,
    "complex.npy": lambda tmp: np.ones((5, 2), dtype=complex),
    "neg_nan.csv": lambda tmp: "a,b\n1,2\n3,4\n-nan,6\n7,8\n9,10\n",
    "inf.csv": lambda tmp: "a,b\n1,2\n3,inf\n5,6\n7,8\n",
    "overflow.csv": lambda tmp: "a,b\n1,2\n3,1e999\n5,6\n7,8\n",
    "big.csv": lambda tmp: "a,b\n1,2\n3,1e200\n5,6\n7,8\n9,1\n",
    "semicolons.csv": lambda tmp: "1;2\n3;4\n5;6\n7;8\n",
    "header_only.csv": lambda tmp: "a,b\n\n",
    "dir.png": lambda tmp: (tmp / "dir.png").mkdir(),
}

#: (argv, a fragment of the one line on stderr); every row is checked before
#: any model is fitted
BAD_INPUTS = [
    # the inputs of issue 16, item 2
    pytest.param(["--data", "big200.npy"], "too large to standardize", id="1e200"),
    pytest.param(["--data", "big308.npy"], "too large to standardize", id="1e308"),
    pytest.param(["--data", "constant.npy"], "constant data", id="constant"),
    pytest.param(["--max-iter", "0"], "--max-iter: must be an integer >= 1", id="it0"),
    pytest.param(["--max-iter", "-5"], "--max-iter: must be an integer", id="it-5"),
    pytest.param(["--random-state", "-1"], "--random-state: must be", id="seed-1"),
    pytest.param(["--random-state", str(2**40)], "[0, 4294967295]", id="seed2**40"),
    pytest.param(["--png", "no/such/dir/p.png"], "cannot write", id="png-unwritable"),
    pytest.param(["--png", "p.xyz"], "unknown picture format '.xyz'", id="png-ext"),
    pytest.param(["--data", "no_columns.npy"], "no columns", id="shape-10x0"),
    pytest.param(["--n-components", "1000000000"], "GiB of memory", id="k-1e9"),
    pytest.param(["--data", "neg_nan.csv"], "column 'a' ('-nan')", id="-nan"),
    # the same classes, for the other inputs and options
    pytest.param(["--data", "neg308.npy"], "too large to standardize", id="-1e308"),
    pytest.param(["--data", "big.csv"], "too large to standardize", id="csv-1e200"),
    pytest.param(
        ["--data", "train_constant.npy", "--random-state", "2"],
        "training rows",
        id="train-split-constant",
    ),
    pytest.param(["--data", "no_rows.npy"], "0 rows", id="shape-0x3"),
    pytest.param(["--data", "empty.npy"], "cannot load empty.npy", id="npy-empty"),
    pytest.param(["--data", "archive.npy"], ".npz archive", id="npz-as-npy"),
    pytest.param(["--data", "complex.npy"], "int or float expected", id="complex"),
    pytest.param(["--data", "inf.csv"], "infinite value ('inf')", id="csv-inf"),
    pytest.param(["--data", "overflow.csv"], "infinite value ('1e999')", id="1e999"),
    pytest.param(["--data", "semicolons.csv"], "semicolons", id="semicolons"),
    pytest.param(["--data", "header_only.csv"], "no data rows", id="header-only"),
    pytest.param(["--data", "."], "cannot read", id="data-dir"),
    pytest.param(["--max-iter", "ten"], "expected an integer", id="it-text"),
    pytest.param(["--n-components", "0"], "--n-components: must be", id="k0"),
    pytest.param(["--n-components", "2", "-3"], "--n-components", id="k-neg"),
    pytest.param(
        ["--data", "iris.npy", "--n-components", "30000000"], "GiB", id="k-3e7"
    ),
    pytest.param(["--kind", "pca"], "invalid choice: 'pca'", id="kind"),
    pytest.param(["--epochs", "3"], "unrecognized arguments", id="unknown-option"),
    pytest.param(["--png", "p"], "no file extension", id="png-no-ext"),
    pytest.param(["--png", "dir.png"], "directory", id="png-dir"),
    pytest.param(["--out", "no/such/dir/z.csv"], "cannot write", id="out-unwritable"),
    pytest.param(["--out", "."], "directory", id="out-dir"),
    pytest.param(["--out", "p.png", "--png", "p.png"], "both name", id="out=png"),
    pytest.param(
        ["--data", "iris.npy", "--out", "iris.npy"],
        "--data and --out both name",
        id="out=data",
    ),
    pytest.param(
        ["--data", "x.png", "--png", "x.png"], "--data and --png", id="png=data"
    ),
]


@pytest.mark.filterwarnings("error")  # a warning would be a second stderr line
@pytest.mark.parametrize("argv, fragment", BAD_INPUTS)
def test_bad_input_one_line_exit_2_nothing_fitted(
    in_tmp, capsys, monkeypatch, argv, fragment
):
    for name in argv:
        if name in _FILES:
            content = _FILES[name](in_tmp)
            if content is None:  # made by the builder
                continue
            if isinstance(content, np.ndarray):
                np.save(in_tmp / name, content)
            elif isinstance(content, bytes):
                (in_tmp / name).write_bytes(content)
            else:
                (in_tmp / name).write_text(content)

    def no_fit(self, *args, **kwargs):
        raise AssertionError(f"{type(self).__name__} fitted on bad input")

    for cls in [PCA, AutoencoderTransformer, DenoisingAutoencoder, SparseAutoencoder]:
        monkeypatch.setattr(cls, "fit", no_fit)
    before = set(in_tmp.iterdir())
    err = _error(capsys, argv)
    assert fragment in err
    assert set(in_tmp.iterdir()) == before  # no output written, nothing half-done


@pytest.mark.parametrize(
    "argv",
    [["--max-iter", "0"], ["--data", "big308.npy"], ["--png", "p.xyz"]],
    ids=["argparse", "data", "output"],
)
def test_bad_input_subprocess_stderr_is_one_line(in_tmp, argv):
    """The real process: no warning or usage text joins the one line."""
    np.save(in_tmp / "big308.npy", _iris_with(1e308))
    proc = _run_cli(*argv)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith("python -m skae: error: ")
    assert proc.stdout == ""


def test_codes_are_written_before_the_picture(in_tmp, capsys, monkeypatch):
    """A picture that fails late (a full disk) costs the picture only."""
    import skae.__main__ as cli

    def full_disk(fig, path, **kwargs):
        raise cli.InputError(f"cannot write {path}: No space left on device.")

    monkeypatch.setattr(cli, "_save", full_disk)
    np.save(in_tmp / "x.npy", load_iris().data)
    argv = ["--data", "x.npy", "--out", "z.npy", "--max-iter", "5"]
    assert "No space left" in _error(capsys, argv)
    assert np.load(in_tmp / "z.npy").shape == (150, 2)


def test_memory_error_past_the_estimate_is_one_line(in_tmp, capsys, monkeypatch):
    import skae.__main__ as cli

    def no_memory(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(cli, "compare", no_memory)
    np.save(in_tmp / "x.npy", load_iris().data)
    assert "out of memory" in _error(capsys, ["--data", "x.npy"])


def test_version():
    proc = _run_cli("--version")
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"skae {skae.__version__}"


def test_duplicate_code_sizes_fit_once(in_tmp, capsys):
    np.save(in_tmp / "x.npy", load_iris().data)
    argv = ["--data", "x.npy", "--n-components", "2", "2", "--max-iter", "5"]
    assert main(argv + ["--png", "p.png"]) == 0
    assert len(_table_rows(capsys.readouterr().out)) == 1


def test_blank_lines_do_not_shift_reported_line_numbers(in_tmp, capsys):
    (in_tmp / "d.csv").write_text("a,b\n\n1,2\n\n3,4\n5,x\n7,8\n")
    assert "line 6:" in _error(capsys, ["--data", "d.csv"])


def test_csv_values_round_trip_exactly(in_tmp):
    from skae.__main__ import load_table

    X = np.random.RandomState(0).normal(size=(50, 3)) * 10.0 ** np.arange(3)
    np.savetxt(in_tmp / "x.csv", X, delimiter=",", header="a,b,c", comments="")
    np.testing.assert_array_equal(load_table(in_tmp / "x.csv"), X)
