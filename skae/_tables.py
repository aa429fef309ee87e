"""The command line's tables: read a numeric CSV or ``.npy`` file, write codes.

Every problem (an unreadable file, a ragged, non-numeric, missing, infinite
or empty table) is an :class:`InputError` whose message is one line naming
the file, and for a CSV the line and the column, so that ``python -m skae``
can print it as its one line on stderr. The CSV reader parses in one pass
straight into a float64 buffer: its peak memory is about the array's size.
"""

from __future__ import annotations

import array
import csv
import math

import numpy as np

_MISSING = {"", "na", "nan", "n/a", "null", "none", "?"}


class InputError(Exception):
    """Bad input (data file, option value, output path), reported as one line."""


def _parse_float(cell: str):
    try:
        return float(cell)
    except ValueError:
        return None


def _bad_cell(path, line, row, names) -> InputError:
    """The error for the first cell of ``row`` that is not a finite number."""
    for j, cell in enumerate(row):
        cell = cell.strip()
        value = _parse_float(cell)
        where = f"{path}, line {line}"
        if cell.lower() in _MISSING or (value is not None and math.isnan(value)):
            shown = f" ({cell!r})" if cell else ""
            return InputError(
                f"{where}: missing value in column {names[j]!r}{shown}; impute or "
                "drop missing values first (e.g. sklearn.impute.SimpleImputer)."
            )
        if value is None:
            hint = ""
            for sep, sep_name in [(";", "semicolons"), ("\t", "tabs")]:
                if sep in cell:
                    hint = f" (the file seems separated by {sep_name}: commas are read)"
            return InputError(
                f"{where}: column {names[j]!r} is not numeric ({cell!r}){hint}; "
                "encode or drop non-numeric columns first."
            )
        if math.isinf(value):
            return InputError(
                f"{where}: infinite value ({cell!r}) in column {names[j]!r}; "
                "replace or drop it first."
            )
    raise AssertionError("every cell of the row is a finite number")


def _read_csv(path) -> np.ndarray:
    """One pass, parsed values straight into a float64 buffer: the peak is
    about the array itself, not Python lists of strings (~9x the file)."""
    values = array.array("d")
    header = width = None
    n_rows = 0
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        for row in reader:
            if not any(c.strip() for c in row):
                continue
            if width is None:
                width = len(row)
                first = [c.strip() for c in row]
                if all(
                    c.lower() not in _MISSING and _parse_float(c) is None for c in first
                ):
                    header = first
                    continue
            if len(row) != width:
                raise InputError(
                    f"{path}, line {reader.line_num}: {len(row)} fields where "
                    f"{width} were expected."
                )
            try:
                parsed = [float(c) for c in row]
            except ValueError:
                parsed = None
            # a finite sum means every value is finite (NaN and inf propagate)
            if parsed is None or not (
                math.isfinite(sum(parsed)) or all(map(math.isfinite, parsed))
            ):
                names = header or [str(j) for j in range(width)]
                raise _bad_cell(path, reader.line_num, row, names)
            values.extend(parsed)
            n_rows += 1
    if width is None:
        raise InputError(f"{path} holds no data.")
    if n_rows == 0:
        raise InputError(f"{path} has a header row but no data rows.")
    return np.frombuffer(values, dtype=np.float64).reshape(n_rows, width)


def _first_line(exc) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _read_npy(path) -> np.ndarray:
    try:
        X = np.load(path, allow_pickle=False)
    except (ValueError, EOFError) as exc:  # not .npy, truncated, object array
        msg = f"cannot load {path} as a .npy array: {_first_line(exc)}."
        raise InputError(msg) from exc
    if not isinstance(X, np.ndarray):  # an .npz archive under a .npy name
        X.close()
        raise InputError(f"{path} is an .npz archive; save one array with np.save.")
    if X.dtype.kind not in "biuf":
        raise InputError(
            f"{path}: dtype {X.dtype} is not numeric (bool, int or float expected)."
        )
    if X.ndim != 2:
        raise InputError(
            f"{path}: expected a 2-D array (n_samples, n_features), got shape "
            f"{X.shape}."
        )
    X = X.astype(np.float64)
    for test, what, advice in [
        (np.isnan, "missing (NaN) values", "impute or drop them first"),
        (np.isinf, "infinite values", "replace or drop them first"),
    ]:
        bad = test(X)
        if bad.any():
            i, j = np.argwhere(bad)[0]
            raise InputError(
                f"{path}: {int(bad.sum())} {what} (first at row {i}, column {j}); "
                f"{advice}."
            )
    return X


def load_table(path) -> np.ndarray:
    """Read a numeric 2-D table from a CSV or ``.npy`` file; :class:`InputError`
    with a one-line message on any problem."""
    try:
        if str(path).endswith(".npy"):
            X = _read_npy(path)
        else:
            X = _read_csv(path)
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}.") from exc
    except (UnicodeDecodeError, csv.Error) as exc:
        raise InputError(
            f"cannot read {path} as CSV text: {exc}; pass a CSV or .npy file."
        ) from exc
    if X.shape[1] == 0:
        raise InputError(f"{path}: shape {X.shape}, no columns.")
    if X.shape[0] < 4:
        raise InputError(f"{path}: {X.shape[0]} rows; at least 4 are needed.")
    return X


def write_codes(path, Z) -> None:
    """Write codes to ``path``: ``.npy``, else CSV with a ``code0,...`` header."""
    try:
        if str(path).endswith(".npy"):
            np.save(path, Z)
        else:
            header = ",".join(f"code{j}" for j in range(Z.shape[1]))
            np.savetxt(path, Z, delimiter=",", header=header, comments="")
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror or exc}.") from exc
