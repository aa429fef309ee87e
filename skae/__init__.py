"""skae: scikit-learn compatible autoencoders (transformers and an outlier
detector) trained by L-BFGS or Adam."""

from skae._autoencoder import AutoencoderTransformer
from skae._denoising import DenoisingAutoencoder
from skae._outlier import AutoencoderOutlierDetector
from skae._sparse import SparseAutoencoder

__version__ = "0.1.0"

__all__ = [
    "AutoencoderOutlierDetector",
    "AutoencoderTransformer",
    "DenoisingAutoencoder",
    "SparseAutoencoder",
    "__version__",
]
