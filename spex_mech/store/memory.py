"""An in-memory record of evaluated masks with :class:`~spex_mech.store.MaskStore`'s read/write interface.

For value functions that should remember their evaluations within one process but were given no
folder (``TrainingSubsets(..., store=None)``): the same lookups, appends and refusal of one mask with
two values, nothing on disk.
"""

from __future__ import annotations

import struct

import numpy as np

from .batch import checked_batch
from .sqlite import StoreError

__all__ = ["MemoryStore"]


class MemoryStore:
    """Evaluated (mask, value) pairs over ``n`` units, kept in a dict keyed by the packed mask.

    Parameters
    ----------
    n : int
        Number of units (mask width).
    """

    path = None
    meta: dict = {}

    def __init__(self, n: int):
        self.n = int(n)
        self._values: dict[bytes, float] = {}

    def _pack(self, masks: np.ndarray) -> np.ndarray:
        return np.packbits(np.asarray(masks, dtype=bool), axis=1, bitorder="little")

    def __len__(self) -> int:
        return len(self._values)

    def lookup(self, masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return (found bool [B], values float64 [B], NaN where not found) for bool masks [B, n].

        Parameters
        ----------
        masks : numpy.ndarray
            Bool ``[B, n]``.

        Returns
        -------
        tuple of numpy.ndarray
            ``found`` and ``values``.
        """
        keys = [row.tobytes() for row in self._pack(masks)]
        found = np.array([k in self._values for k in keys], dtype=bool)
        values = np.array([self._values.get(k, np.nan) for k in keys], dtype=np.float64)
        return found, values

    def append(self, masks: np.ndarray, values: np.ndarray) -> None:
        """Record a batch; a mask already recorded with another value is an error.

        Parameters
        ----------
        masks : numpy.ndarray
            Bool ``[B, n]``.
        values : numpy.ndarray
            Float64 ``[B]``, finite.

        Raises
        ------
        ValueError
            If the shapes disagree or a value is not finite.
        StoreError
            If a mask is already recorded with a different value.
        """
        masks, values = checked_batch(masks, values, self.n)
        for row, value in zip(self._pack(masks), values.tolist()):
            key = row.tobytes()
            old = self._values.setdefault(key, value)
            if struct.pack("<d", old) != struct.pack("<d", value):
                raise StoreError(
                    f"mask already recorded with value {old!r}, now {value!r}: two value functions share it"
                )

    def load_packed(self) -> tuple[np.ndarray, np.ndarray]:
        """Return all masks bit-packed (uint8 [N, ⌈n/8⌉], little bit order) and values (float64 [N]), in order.

        Returns
        -------
        tuple of numpy.ndarray
            ``packed`` and ``values``.
        """
        width = (self.n + 7) // 8
        packed = np.frombuffer(b"".join(self._values), dtype=np.uint8).reshape(len(self._values), width)
        return packed.copy(), np.fromiter(self._values.values(), dtype=np.float64, count=len(self._values))

    def load(self) -> tuple[np.ndarray, np.ndarray]:
        """Return all masks (bool [N, n]) and values (float64 [N]), in the order they were recorded.

        Returns
        -------
        tuple of numpy.ndarray
            ``masks`` and ``values``.
        """
        packed, values = self.load_packed()
        return np.unpackbits(packed, axis=1, count=self.n, bitorder="little").astype(bool), values

    def close(self) -> None:
        """Do nothing (nothing is open); present for interface parity with :class:`MaskStore`."""
