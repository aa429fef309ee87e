"""skae.plotting draws what it says, on the Agg backend (issue 7)."""

import numpy as np
import pytest
from sklearn.decomposition import PCA

from skae import AutoencoderTransformer, SparseAutoencoder

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from skae import plotting  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def fitted(digits_unit):
    X = digits_unit[:300]
    ae = AutoencoderTransformer(
        4, hidden_layer_sizes=(16,), max_iter=20, early_stopping=False, random_state=0
    ).fit(X)
    early = AutoencoderTransformer(
        4,
        hidden_layer_sizes=(16,),
        max_iter=40,
        early_stopping=True,
        n_iter_no_change=3,
        random_state=0,
    ).fit(X)
    return X, ae, early


def test_reconstructions_grid(fitted, tmp_path):
    X, ae, _ = fitted
    pca = PCA(4).fit(X)
    fig = plotting.plot_reconstructions(
        X, {"PCA": pca, "AE": ae}, n_images=5, title="t"
    )
    assert len(fig.axes) == 3 * 5
    labels = [fig.axes[r * 5].get_ylabel() for r in range(3)]
    assert labels == ["original", "PCA", "AE"]
    # the image in row 2, column 0 is AE's reconstruction of the first sample
    shown = fig.axes[10].get_images()[0].get_array()
    np.testing.assert_allclose(shown, ae.reconstruct(X[:1]).reshape(8, 8))
    fig.savefig(tmp_path / "r.png")
    assert (tmp_path / "r.png").stat().st_size > 1000


def test_reconstructions_single_estimator_and_postprocess(fitted):
    X, ae, _ = fitted
    fig = plotting.plot_reconstructions(X, ae, n_images=3, postprocess=lambda A: 16 * A)
    assert fig.axes[3].get_ylabel() == "AutoencoderTransformer"
    shown = fig.axes[0].get_images()[0].get_array()
    np.testing.assert_allclose(shown, 16 * X[0].reshape(8, 8))


def test_reconstructions_need_image_shape_when_not_square(fitted):
    X, ae, _ = fitted
    pca = PCA(2).fit(X[:, :10])
    with pytest.raises(ValueError, match="image_shape"):
        plotting.plot_reconstructions(X[:, :10], pca)
    fig = plotting.plot_reconstructions(X[:, :10], pca, image_shape=(2, 5))
    assert fig.axes[0].get_images()[0].get_array().shape == (2, 5)


def test_loss_curve_with_validation(fitted):
    _, ae, early = fitted
    ax = plotting.plot_loss_curve({"plain": ae, "early": early})
    lines = ax.get_lines()
    assert len(lines) == 3  # two training curves, one held-out curve
    np.testing.assert_allclose(lines[0].get_ydata(), ae.loss_curve_)
    np.testing.assert_allclose(
        lines[2].get_ydata(), -np.array(early.validation_scores_)
    )
    assert ax.get_yscale() == "log"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "plain",
        "early",
        "early, held-out error",
    ]


def test_codes_scatter_by_label(fitted, digits_unit):
    X, ae, _ = fitted
    from sklearn.datasets import load_digits

    y = load_digits().target[:300]
    ax = plotting.plot_codes(ae, X, y, components=(1, 3))
    assert len(ax.collections) == 10  # one per digit
    offsets = np.vstack([c.get_offsets() for c in ax.collections])
    assert offsets.shape == (300, 2)
    Z = ae.transform(X)
    np.testing.assert_allclose(np.sort(offsets[:, 0]), np.sort(Z[:, 1]))
    assert ax.get_ylabel() == "code unit 3"
    # many distinct values get a colour bar instead of a legend
    ax = plotting.plot_codes(ae, X, np.arange(300))
    assert len(ax.figure.axes) == 2


def test_filters_are_encoder_rows(digits_unit):
    X = digits_unit[:200]
    sae = SparseAutoencoder(n_components=10, max_iter=10, random_state=0).fit(X)
    fig = plotting.plot_filters(sae, n_cols=4)
    assert len(fig.axes) == 10  # 3x4 grid with the two spare axes removed
    np.testing.assert_allclose(
        fig.axes[7].get_images()[0].get_array(), sae.coefs_[0][:, 7].reshape(8, 8)
    )
    pca_fig = plotting.plot_filters(PCA(6).fit(X), n_filters=4)
    assert len(pca_fig.axes) == 4


def test_import_does_not_load_matplotlib():
    import subprocess
    import sys

    code = (
        "import sys, skae.plotting, skae.__main__; print('matplotlib' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert out.stdout.strip() == "False", out.stderr


def test_feature_errors_shows_the_worst_samples_largest_first(fitted):
    X, ae, _ = fitted
    fig = plotting.plot_feature_errors(ae, X, n_samples=3, n_features=5)
    assert len(fig.axes) == 3
    errors = ae.reconstruction_errors(X)
    worst = np.argsort(-errors.sum(axis=1))[:3]
    for ax, i in zip(fig.axes, worst, strict=True):
        assert ax.get_title().startswith(f"sample {i}:")
        widths = [p.get_width() for p in ax.patches]
        np.testing.assert_allclose(widths, np.sort(errors[i])[::-1][:5])
        top = np.argsort(-errors[i])[:5]
        assert [t.get_text() for t in ax.get_yticklabels()] == [f"x{j}" for j in top]


def test_feature_errors_names_from_a_dataframe(fitted):
    pd = pytest.importorskip("pandas")
    X, _, _ = fitted
    df = pd.DataFrame(X, columns=[f"px{j}" for j in range(X.shape[1])])
    ae = AutoencoderTransformer(
        4, hidden_layer_sizes=(), max_iter=10, random_state=0
    ).fit(df)
    fig = plotting.plot_feature_errors(ae, df, samples=[7], n_features=3)
    (ax,) = fig.axes
    assert ax.get_title().startswith("sample 7:")
    assert all(t.get_text().startswith("px") for t in ax.get_yticklabels())
