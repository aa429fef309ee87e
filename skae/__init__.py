"""skae: scikit-learn compatible autoencoders (transformers, an outlier
detector and an imputer) trained by L-BFGS or Adam."""

from skae._autoencoder import AutoencoderTransformer
from skae._denoising import DenoisingAutoencoder
from skae._imputer import AutoencoderImputer
from skae._outlier import AutoencoderOutlierDetector
from skae._sparse import SparseAutoencoder

__version__ = "0.1.0"

__all__ = [
    "AutoencoderImputer",
    "AutoencoderOutlierDetector",
    "AutoencoderTransformer",
    "DenoisingAutoencoder",
    "SparseAutoencoder",
    "__version__",
]
