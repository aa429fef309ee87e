"""The command line's checks before any fitting: memory and output paths.

Each raises :class:`skae._tables.InputError` (one line on stderr, exit 2), so
that a bad option costs no fitting time and leaves no file half-written.
"""

from __future__ import annotations

import math
import os

from skae._tables import InputError

#: Fraction of the rows the command line holds out (its train/test split).
TEST_SIZE = 0.25


def _memory_limit() -> float | None:
    """Bytes this process can hold at most (physical memory, or a lower cgroup
    limit); ``None`` where the platform does not say."""
    try:
        limit = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):  # e.g. Windows
        return None
    for cgroup in [
        "/sys/fs/cgroup/memory.max",
        "/sys/fs/cgroup/memory/memory.limit_in_bytes",
    ]:
        try:
            with open(cgroup) as f:
                limit = min(limit, int(f.read().strip()))
        except (OSError, ValueError):  # absent, or "max"
            pass
    return float(limit)


def _fit_bytes(model, n_samples: int, n_features: int) -> float:
    """Rough peak memory of :func:`compare` for one model, in bytes.

    A fit holds every layer's output and one scratch block per training row
    (float64); L-BFGS-B keeps about 25 vectors of the parameters' size (10
    correction pairs and its work arrays) and skae's fit about a dozen more
    (iterate, gradient, best and fitted copies): 40 in all. The input, its
    standardized splits, the codes and PCA's SVD add a few copies of ``X``.
    """
    params = model.get_params()
    hidden = tuple(params["hidden_layer_sizes"])
    widths = [*hidden, params["n_components"], *hidden[::-1], n_features]
    sizes = [n_features, *widths]
    n_params = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))
    n_train = n_samples - math.ceil(TEST_SIZE * n_samples)
    per_row = sum(widths) + max(widths)
    return 8.0 * (n_train * per_row + 6 * n_samples * n_features + 40 * n_params)


def check_memory(models, X) -> None:
    limit = _memory_limit()
    if limit is None:
        return
    for model in models:
        need = _fit_bytes(model, *X.shape)
        if need > limit:
            raise InputError(
                f"--n-components {model.n_components} on {X.shape[0]} x "
                f"{X.shape[1]} data needs about {need / 2**30:.3g} GiB of memory, "
                f"more than the {limit / 2**30:.3g} GiB available; use a smaller "
                "--n-components (or fewer rows or columns)."
            )


def _check_writable(path, option) -> None:
    """Open ``path`` for appending (creating nothing that stays), so that an
    output that cannot be written fails before any fitting."""
    if os.path.isdir(path):
        raise InputError(f"cannot write {path} ({option}): it is a directory.")
    existed = os.path.exists(path)
    try:
        with open(path, "ab"):
            pass
    except OSError as exc:
        raise InputError(
            f"cannot write {path} ({option}): {exc.strerror or exc}."
        ) from exc
    if not existed:
        os.remove(path)


def _check_picture_format(path) -> bool:
    """Whether a picture will be drawn (matplotlib is installed); if so, check
    that the extension names a format matplotlib writes."""
    try:
        from matplotlib.backend_bases import FigureCanvasBase
    except ImportError:
        return False
    formats = FigureCanvasBase.get_supported_filetypes()
    ext = os.path.splitext(path)[1].lower().lstrip(".")
    if ext not in formats:
        shown = ", ".join(f".{f}" for f in ["png", "pdf", "svg", "jpg"])
        what = f"unknown picture format '.{ext}'" if ext else "no file extension"
        raise InputError(
            f"--png {path}: {what}; name a .png file (or another format "
            f"matplotlib writes: {shown}, ...)."
        )
    return True


def check_outputs(args, png) -> None:
    outputs = {"--out": args.out}
    if _check_picture_format(png):
        outputs["--png"] = png
    seen = {} if args.data is None else {os.path.abspath(args.data): "--data"}
    for option, path in outputs.items():
        if path is None:
            continue
        other = seen.setdefault(os.path.abspath(path), option)
        if other != option:
            raise InputError(f"{other} and {option} both name {path}; give two files.")
        _check_writable(path, option)
