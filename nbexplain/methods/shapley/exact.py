"""Exact Shapley values: all 2^M coalitions, batched, and the formula of the package doc.

``estimator="exact"`` is refused above ``max_exact_features`` (16) with a message pointing to
``kernel``/``permutation``/grouping.
"""

from __future__ import annotations

import math

import numpy as np

from .stats import _mm


def all_coalitions(m: int) -> np.ndarray:
    """(2^M, M) bool; row k has feature i present iff bit i of k is set."""
    k = np.arange(2 ** m, dtype=np.int64)
    return ((k[:, None] >> np.arange(m)) & 1).astype(bool)


def exact_from_values(v: np.ndarray, m: int) -> np.ndarray:
    """Shapley values (N, M) from v (N, 2^M) indexed by the bit pattern of the coalition."""
    k = np.arange(2 ** m, dtype=np.int64)
    pop = np.zeros(2 ** m, dtype=np.int64)
    for i in range(m):
        pop += (k >> i) & 1
    w = np.array([1.0 / (m * math.comb(m - 1, s)) for s in range(m)])
    phi = np.empty((v.shape[0], m))
    for i in range(m):
        ks = k[((k >> i) & 1) == 0]
        phi[:, i] = _mm(v[:, ks | (1 << i)] - v[:, ks], w[pop[ks]][:, None])[:, 0]
    return phi

