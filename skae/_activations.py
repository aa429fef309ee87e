"""Activation functions and their derivatives, keyed by the parameter strings.

Every function works in place on a preallocated array, so that one loss-and-
gradient evaluation allocates no layer-sized temporaries.

``ACTIVATIONS[name](Z)`` overwrites the pre-activation ``Z`` with ``f(Z)``.

``DERIVATIVES[name](A)`` overwrites the activation ``A = f(Z)`` with ``f'(Z)``
written in terms of ``A`` (the backward pass no longer needs ``A`` after that),
or returns ``False`` when the derivative is identically one so that the caller
can skip the multiplication.

The keys of both tables are exactly the strings accepted by the ``activation``,
``code_activation`` and ``output_activation`` parameters: one table, one truth.
"""

import numpy as np
from scipy.special import expit


def _identity(Z: np.ndarray) -> None:
    """Leave ``Z`` unchanged."""


def _logistic(Z: np.ndarray) -> None:
    # scipy's expit is computed without overflow for any finite input.
    expit(Z, out=Z)


def _tanh(Z: np.ndarray) -> None:
    np.tanh(Z, out=Z)


def _relu(Z: np.ndarray) -> None:
    np.maximum(Z, 0, out=Z)


def _identity_derivative(A: np.ndarray) -> bool:
    return False


def _logistic_derivative(A: np.ndarray) -> bool:
    # A * (1 - A) == 0.25 - (A - 0.5) ** 2, computed without a temporary.
    np.subtract(A, 0.5, out=A)
    np.square(A, out=A)
    np.subtract(0.25, A, out=A)
    return True


def _tanh_derivative(A: np.ndarray) -> bool:
    np.square(A, out=A)
    np.subtract(1.0, A, out=A)
    return True


def _relu_derivative(A: np.ndarray) -> bool:
    # A >= 0 after relu: the indicator of A > 0, written as 0.0 / 1.0 into A
    # (np.sign gives the same values but branches on each sign: in a fit's
    # backward pass on fresh activations it took 7x longer, 73 vs 10 us on
    # a 500 x 32 block)
    np.greater(A, 0, out=A, casting="unsafe")
    return True


ACTIVATIONS = {
    "identity": _identity,
    "logistic": _logistic,
    "tanh": _tanh,
    "relu": _relu,
}

DERIVATIVES = {
    "identity": _identity_derivative,
    "logistic": _logistic_derivative,
    "tanh": _tanh_derivative,
    "relu": _relu_derivative,
}

#: Activations whose values lie in (0, 1), as the sparsity penalty requires.
UNIT_INTERVAL_ACTIVATIONS = frozenset({"logistic"})
