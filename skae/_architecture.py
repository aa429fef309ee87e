"""What an autoencoder network is: its layer sizes, activations, weight tying
and linear skip path (:class:`Architecture`), mirrored around the code layer
by :func:`make_architecture`. What it computes is :mod:`skae._network`'s,
which re-exports both names. Imports nothing of skae.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Architecture:
    """Layer sizes ``(n_features, *hidden, n_components, *reversed(hidden),
    n_features)``, one activation name per layer, and weight tying."""

    sizes: tuple[int, ...]
    activations: tuple[str, ...]
    tied: bool = False
    skip: bool = False

    @property
    def n_layers(self) -> int:
        return len(self.sizes) - 1

    @property
    def code_layer(self) -> int:
        """1-based index of the code layer: encoder is layers 1..code_layer."""
        return self.n_layers // 2

    @property
    def weight_shapes(self) -> list[tuple[int, int]]:
        """Shapes of the free weight matrices, in storage order."""
        n_free = self.code_layer if self.tied else self.n_layers
        return [(self.sizes[i], self.sizes[i + 1]) for i in range(n_free)]

    @property
    def skip_layers(self) -> tuple[tuple[int, int], ...]:
        """``(target, source)`` 1-based layer pairs of the linear skip path.

        Layer 0 is the input. With ``skip`` the code layer also receives
        ``x @ S_enc`` and the output layer ``z @ S_dec``: a linear (PCA) path
        beside the nonlinear branches.
        """
        if not self.skip:
            return ()
        return ((self.code_layer, 0), (self.n_layers, self.code_layer))

    @property
    def skip_shapes(self) -> list[tuple[int, int]]:
        """Shapes of the free skip matrices (``S_dec = S_enc.T`` when tied)."""
        pairs = self.skip_layers[:1] if self.tied else self.skip_layers
        return [(self.sizes[s], self.sizes[t]) for t, s in pairs]

    @property
    def n_decayed(self) -> int:
        """Number of weights under weight decay: the free weight matrices,
        not the linear skip path (stored right after them), so that decay
        shrinks the nonlinear branches towards the PCA path, never that
        path itself."""
        return sum(a * b for a, b in self.weight_shapes)

    @property
    def n_weights(self) -> int:
        return self.n_decayed + sum(a * b for a, b in self.skip_shapes)

    @property
    def n_params(self) -> int:
        return self.n_weights + sum(self.sizes[1:])


def make_architecture(
    n_features: int,
    hidden_layer_sizes: tuple[int, ...],
    n_components: int,
    activation: str,
    code_activation: str,
    output_activation: str,
    tied: bool = False,
    skip: bool = False,
) -> Architecture:
    """Mirror the encoder ``n_features -> hidden -> n_components`` into a decoder.

    ``skip`` adds the linear skip path (:attr:`Architecture.skip_layers`); it
    needs at least one hidden layer (without one the network is that path).
    """
    hidden = tuple(int(h) for h in hidden_layer_sizes)
    sizes = (n_features, *hidden, n_components, *hidden[::-1], n_features)
    acts = (
        (activation,) * len(hidden)
        + (code_activation,)
        + (activation,) * len(hidden)
        + (output_activation,)
    )
    if skip and not hidden:
        raise ValueError("a skip path needs at least one hidden layer")
    return Architecture(sizes=sizes, activations=acts, tied=tied, skip=skip)
