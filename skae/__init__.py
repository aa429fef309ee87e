"""skae: scikit-learn compatible autoencoder transformers trained by L-BFGS."""

from skae._autoencoder import AutoencoderTransformer
from skae._denoising import DenoisingAutoencoder
from skae._sparse import SparseAutoencoder

__version__ = "0.1.0"

__all__ = [
    "AutoencoderTransformer",
    "DenoisingAutoencoder",
    "SparseAutoencoder",
    "__version__",
]
