"""``python -m skae``: the digits demo and the user's own data (issue 7)."""

import subprocess
import sys

import numpy as np
import pytest
from sklearn.datasets import load_iris

from skae.__main__ import main

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


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


def _error(capsys, argv):
    assert main(argv) == 2
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
    proc = subprocess.run(
        [sys.executable, "-m", "skae", "--data", "d.csv"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert proc.stdout == ""


def test_help_lists_options():
    proc = subprocess.run(
        [sys.executable, "-m", "skae", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0
    for option in ["--data", "--n-components", "--kind", "--out", "--png"]:
        assert option in proc.stdout
