"""Batched fast Walsh–Hadamard transform along the last axis (length 2^b), unnormalised.

Index bit i of the transformed axis pairs with index bit i of the input: H[j] = Σ_ℓ (−1)^⟨ℓ,j⟩ x[ℓ].
The transform is its own inverse up to a factor 2^b.
"""

from __future__ import annotations

import numpy as np

__all__ = ["fwht"]


def fwht(values: np.ndarray) -> np.ndarray:
    """Apply the unnormalised Walsh–Hadamard transform along the last axis.

    Parameters
    ----------
    values : numpy.ndarray
        Array whose last axis has a power-of-two length.

    Returns
    -------
    numpy.ndarray
        A new float64 array of the same shape.
    """
    out = np.array(values, dtype=np.float64, copy=True)
    size = out.shape[-1]
    b = size.bit_length() - 1
    if size != 1 << b:
        raise ValueError(f"the transformed axis must have length 2^b, got {size}")
    lead = out.shape[:-1]
    flat = out.reshape(-1, size)
    for j in range(b):
        view = flat.reshape(flat.shape[0], -1, 2, 1 << j)
        lo = view[:, :, 0, :].copy()
        hi = view[:, :, 1, :]
        view[:, :, 0, :] += hi
        view[:, :, 1, :] = lo - hi
    return flat.reshape(lead + (size,))
