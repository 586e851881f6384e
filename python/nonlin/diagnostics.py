"""What the lecture says goes wrong inside a network, as numbers.

Each function reads what a layer already has after a forward/backward pass (its saved output
or input, its weight gradient), so none needs an extra pass through the network. A layer's
local derivative comes from one backward kernel call on what the forward saved
(``layer.derivative()``), e.g. y(1 - y) from sigmoid's saved output.
"""

from __future__ import annotations

from typing import Any, List, Tuple

import numpy as np


def saturated_fraction(derivative: np.ndarray, threshold: float = 0.01) -> float:
    """Fraction of (sample, unit) entries whose local derivative |f'(a)| is below ``threshold``.

    For sigmoid, |σ'| < 0.01 means |a| > 4.6 (σ' is at most 0.25); for tanh, |a| > 3.0.
    """
    d = np.asarray(derivative)
    return float(np.mean(np.abs(d) < threshold)) if d.size else 0.0


def dead_fraction(derivative: np.ndarray) -> float:
    """Fraction of units (columns) whose local derivative is 0 for every sample of the batch:
    no gradient reaches their incoming weights or bias, so no update can revive them.

    For ReLU this is "never active over the batch" (a ≤ 0 for every sample); Leaky ReLU and
    ELU units pass a small gradient and are never dead by this measure.
    """
    d = np.asarray(derivative)
    if d.ndim != 2 or d.shape[0] == 0:
        raise ValueError(f"dead_fraction: expected a (batch, units) array with a batch, got shape {d.shape}")
    return float(np.mean(np.all(d == 0, axis=0)))


def inactive_fraction(pre_activation: np.ndarray) -> float:
    """Fraction of units whose input is ≤ 0 for every sample (for ReLU, the same as dead)."""
    a = np.asarray(pre_activation)
    return float(np.mean(np.all(a <= 0, axis=0)))


def same_sign_fraction(grad_weight: np.ndarray) -> float:
    """For a weight gradient of shape (in_features, out_features): the mean over neurons (columns)
    of the fraction of their nonzero incoming weight gradients that share the majority sign.

    1.0 means every neuron's incoming gradients all point one way, the lecture's argument about
    inputs that are all positive (sigmoid outputs): ∂L/∂w_ij = h_i δ_j has the sign of δ_j.
    0.5 is the least possible.
    """
    g = np.asarray(grad_weight)
    pos, neg = (g > 0).sum(axis=0), (g < 0).sum(axis=0)
    nonzero = pos + neg
    keep = nonzero > 0
    return float(np.mean(np.maximum(pos, neg)[keep] / nonzero[keep])) if keep.any() else 1.0


def all_same_sign_fraction(grad_weight: np.ndarray) -> float:
    """Fraction of neurons (columns) whose nonzero incoming weight gradients all have one sign."""
    g = np.asarray(grad_weight)
    return float(np.mean(~((g > 0).any(axis=0) & (g < 0).any(axis=0))))


def gradient_norms(model: Any) -> List[Tuple[str, float]]:
    """(layer, ‖gradient‖₂ over all its parameters) for every layer with parameters, first to last."""
    layers = getattr(model, "layers", [model])
    out = []
    for i, layer in enumerate(layers):
        grads = layer.grads()
        if grads:
            out.append((f"{i}:{layer!r}", float(np.sqrt(sum(np.sum(np.square(g)) for g in grads)))))
    return out
