"""Real data for the benchmarks, from packages that ship it (no network at run time).

Two kinds:

* :data:`PANEL`, real numeric tables for the held-out reconstruction panel
  (``bench_panel.py``). Each table is the numeric columns of a data set that
  scikit-learn or statsmodels installs with itself; rows with a missing value
  and constant columns are dropped (:func:`load_table`), nothing else is done
  to it (standardizing is the benchmark's job, on its train split). Thirteen
  of the 24 have 16 to 72 rows: the size where an autoencoder overfits and
  PCA does not.
* :func:`image_patches`, 16x16 grey patches of the two photographs that
  scikit-learn ships (``load_sample_images``: china.jpg and flower.jpg, read
  with pillow), standardized per pixel on the train patches; train and test
  patches come from disjoint squares of the images.

The panel (n rows, d columns after the cleaning above; statsmodels 0.15,
scikit-learn 1.9):

================  ======  ==  =================================================
name              n       d   source
================  ======  ==  =================================================
diabetes          442     10  sklearn ``load_diabetes`` (data only)
breast_cancer     569     30  sklearn ``load_breast_cancer`` (data only)
wine              178     13  sklearn ``load_wine`` (data only)
iris              150      4  sklearn ``load_iris`` (data only)
digits            1797    61  sklearn ``load_digits`` (3 constant pixels dropped)
linnerud          20       6  sklearn ``load_linnerud`` (exercise + physiology)
longley           16       7  statsmodels ``longley`` (US macro 1947-62)
stackloss         21       4  statsmodels ``stackloss`` (Brownlee's plant)
cpunish           17       7  statsmodels ``cpunish`` (US executions 1997)
committee         20       6  statsmodels ``committee`` (House committees)
copper            25       6  statsmodels ``copper`` (world copper market)
scotland          32       8  statsmodels ``scotland`` (1997 referendum)
spector           32       4  statsmodels ``spector`` (Spector-Mazzeo grades)
statecrime        51       7  statsmodels ``statecrime`` (US states 2009)
danish_data       55       5  statsmodels ``danish_data`` (money demand)
elnino            61      13  statsmodels ``elnino`` (sea temperatures by month)
heart             69       3  statsmodels ``heart`` (Stanford transplants)
ccard             72       5  statsmodels ``ccard`` (credit card spending)
grunfeld          220      4  statsmodels ``grunfeld`` (firm name dropped)
macrodata         203     14  statsmodels ``macrodata`` (US macro 1959-2009)
star98            303     22  statsmodels ``star98`` (California schools)
anes96            944     11  statsmodels ``anes96`` (1996 election survey)
fair              6366     9  statsmodels ``fair`` (Fair's affairs survey)
randhie           20190   10  statsmodels ``randhie`` (RAND health insurance)
================  ======  ==  =================================================

``python -m benchmarks._datasets`` prints this table as measured from the
installed packages (statsmodels is needed for 18 of the tables:
``pip install statsmodels``, in the ``bench`` extra).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Table:
    """Where a panel table comes from and how to read its raw frame."""

    source: str
    load: Callable[[], object]  # -> pandas DataFrame or 2-D array
    note: str = ""


def _sklearn(name: str, with_target: bool = False) -> Callable[[], object]:
    def load():
        from sklearn import datasets

        bunch = getattr(datasets, f"load_{name}")()
        if not with_target:
            return bunch.data
        target = np.asarray(bunch.target, dtype=float)
        return np.column_stack([bunch.data, target.reshape(len(target), -1)])

    return load


def _statsmodels(name: str, drop: tuple[str, ...] = ()) -> Callable[[], object]:
    def load():
        import importlib

        module = importlib.import_module(f"statsmodels.datasets.{name}")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            frame = module.load_pandas().data
        return frame.drop(columns=list(drop))

    return load


PANEL: dict[str, Table] = {
    "diabetes": Table("scikit-learn load_diabetes", _sklearn("diabetes")),
    "breast_cancer": Table(
        "scikit-learn load_breast_cancer", _sklearn("breast_cancer")
    ),
    "wine": Table("scikit-learn load_wine", _sklearn("wine")),
    "iris": Table("scikit-learn load_iris", _sklearn("iris")),
    "digits": Table("scikit-learn load_digits", _sklearn("digits")),
    "linnerud": Table(
        "scikit-learn load_linnerud", _sklearn("linnerud", with_target=True)
    ),
    "longley": Table("statsmodels longley", _statsmodels("longley")),
    "stackloss": Table("statsmodels stackloss", _statsmodels("stackloss")),
    "cpunish": Table("statsmodels cpunish", _statsmodels("cpunish")),
    "committee": Table("statsmodels committee", _statsmodels("committee")),
    "copper": Table("statsmodels copper", _statsmodels("copper")),
    "scotland": Table("statsmodels scotland", _statsmodels("scotland")),
    "spector": Table("statsmodels spector", _statsmodels("spector")),
    "statecrime": Table("statsmodels statecrime", _statsmodels("statecrime")),
    "danish_data": Table("statsmodels danish_data", _statsmodels("danish_data")),
    "elnino": Table("statsmodels elnino", _statsmodels("elnino")),
    "heart": Table("statsmodels heart", _statsmodels("heart")),
    "ccard": Table("statsmodels ccard", _statsmodels("ccard")),
    "grunfeld": Table(
        "statsmodels grunfeld", _statsmodels("grunfeld"), "firm name dropped"
    ),
    "macrodata": Table("statsmodels macrodata", _statsmodels("macrodata")),
    "star98": Table("statsmodels star98", _statsmodels("star98")),
    "anes96": Table("statsmodels anes96", _statsmodels("anes96")),
    "fair": Table("statsmodels fair", _statsmodels("fair")),
    "randhie": Table("statsmodels randhie", _statsmodels("randhie")),
}


def clean_numeric(data) -> np.ndarray:
    """Numeric columns only, rows with a missing value dropped, constant columns
    dropped; float64."""
    if hasattr(data, "select_dtypes"):  # a pandas DataFrame
        data = data.select_dtypes("number").to_numpy(dtype=float)
    X = np.asarray(data, dtype=float)
    X = X[np.isfinite(X).all(axis=1)]
    X = X[:, np.ptp(X, axis=0) > 0]
    return np.ascontiguousarray(X)


def load_table(name: str) -> np.ndarray:
    """The panel table ``name`` (see :data:`PANEL`) as a float64 array."""
    try:
        table = PANEL[name]
    except KeyError:
        raise KeyError(
            f"unknown panel table {name!r}; choose from {list(PANEL)}"
        ) from None
    return clean_numeric(table.load())


def panel_info(names=None) -> list[dict]:
    """One row per table: name, source, n, d."""
    rows = []
    for name in names or PANEL:
        X = load_table(name)
        rows.append(
            {
                "table": name,
                "source": PANEL[name].source,
                "n": X.shape[0],
                "d": X.shape[1],
            }
        )
    return rows


TILE = 32


def _grey_images() -> list[np.ndarray]:
    """scikit-learn's two sample photographs as grey images in [0, 1]."""
    from sklearn.datasets import load_sample_images

    images = load_sample_images().images  # needs pillow
    weights = np.array([0.299, 0.587, 0.114])
    return [(img.astype(np.float64) / 255.0) @ weights for img in images]


def _tile_corners(shape, size, tile, test):
    """Top-left corners of all ``size``-patches lying inside one test (or train) tile.

    The image is cut into ``tile`` x ``tile`` squares; square ``(i, j)`` is a
    test square when ``(i + 2 j) % 5 == 0`` (one in five, spread evenly over
    the image). Patches never straddle two squares, so train and test patches
    share no pixel.
    """
    height, width = shape
    corners = []
    offsets = np.arange(tile - size + 1)
    for i, top in enumerate(range(0, height - tile + 1, tile)):
        for j, left in enumerate(range(0, width - tile + 1, tile)):
            if ((i + 2 * j) % 5 == 0) != test:
                continue
            r, c = np.meshgrid(top + offsets, left + offsets, indexing="ij")
            corners.append(np.column_stack([r.ravel(), c.ravel()]))
    return np.concatenate(corners)


def image_patches(
    n: int = 60000, size: int = 16, seed: int = 0, n_test: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Grey ``size`` x ``size`` patches of natural images: (train, test), float32.

    Patches are drawn without replacement, half from each of scikit-learn's
    two sample photographs (china.jpg, flower.jpg; 427 x 640). Each image is
    cut into 32 x 32 squares; one square in five (a regular lattice over the
    whole image) gives the test patches, the others the train patches, and no
    patch straddles two squares: no test pixel is seen in training, and both
    sides cover the whole picture. Pixels are in [0, 1] grey (ITU-R 601
    luma), then every pixel position is standardized with the train patches'
    mean and standard deviation. With the defaults ``PCA(32)``'s held-out
    error (mean over test patches of the squared norm of the residual) is
    6.70, its train error 7.9.

    Parameters
    ----------
    n : int, default=60000
        Train plus test patches.
    size : int, default=16
        Patch side; a row has ``size**2`` features.
    seed : int, default=0
        Seed of the draw.
    n_test : int or None, default=None
        Test patches; None means ``n // 6`` (10,000 of the default 60,000).

    Returns
    -------
    X_train : ndarray of shape (n - n_test, size**2), float32
    X_test : ndarray of shape (n_test, size**2), float32
    """
    n_test = n // 6 if n_test is None else int(n_test)
    n_train = n - n_test
    rng = np.random.RandomState(seed)
    images = _grey_images()
    parts = {False: [], True: []}
    for test, total in ((False, n_train), (True, n_test)):
        for i, img in enumerate(images):
            want = total // len(images) + (i < total % len(images))
            corners = _tile_corners(img.shape, size, TILE, test)
            if want > len(corners):
                raise ValueError(
                    f"only {len(corners)} distinct {size}x{size} "
                    f"{'test' if test else 'train'} patches in image {i}, "
                    f"{want} asked"
                )
            pick = corners[rng.choice(len(corners), want, replace=False)]
            offsets = np.arange(size)
            rows = pick[:, 0, None, None] + offsets[None, :, None]
            cols = pick[:, 1, None, None] + offsets[None, None, :]
            parts[test].append(img[rows, cols].reshape(want, size * size))
    X_train = np.concatenate(parts[False])
    X_test = np.concatenate(parts[True])
    X_train = X_train[rng.permutation(len(X_train))]
    mean = X_train.mean(axis=0)
    std = X_train.std(axis=0)
    std[std == 0] = 1.0
    X_train = ((X_train - mean) / std).astype(np.float32)
    X_test = ((X_test - mean) / std).astype(np.float32)
    return X_train, X_test


def main() -> None:
    from benchmarks._common import markdown_table

    print(markdown_table(panel_info()))
    X_train, X_test = image_patches()
    print(f"\nimage_patches(): train {X_train.shape}, test {X_test.shape}")


if __name__ == "__main__":
    main()
