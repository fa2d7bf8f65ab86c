"""The SPEX query design: C random hashes × (P+1) BCH-coded delays × all 2^b points of a subspace.

Group c uses a uniform random matrix M_c ∈ GF(2)^(n×b); delay p uses row d_p of D = [0; parity rows of
the shortened BCH code]. The queries are x = M_c·ℓ ⊕ d_p for every ℓ ∈ GF(2)^b, in (c, p, ℓ) order, with
ℓ read as an integer whose bit i multiplies column i of M_c. Everything is fixed (and the exact number
of distinct masks known) before the value function is called once.

Masks are built bit-packed: the span M_c·ℓ of every group and the delays are kept as little-endian
64-bit words (unit i is bit i % 64 of word i // 64), so a design row is one XOR of two word rows, and
only then unpacked to bool (or handed on packed to value functions that accept
:class:`~spex_mech.valuefn.PackedMasks`).

Distinct masks are found without materialising the design: a mask's key is a GF(2)-linear function of
it (its bits as an integer for n ≤ 62, else an XOR of random 64-bit unit tags), so keys of the whole
design follow from the keys of the columns of M_c and of the delays. For n > 62 the rows that the
keys call equal are compared bit for bit, so deduplication is exact.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np

from ...valuefn import PackedMasks
from .bch import BCHCode

__all__ = ["SpexDesign", "build_design", "span_rows", "pack_words", "unpack_words"]

_EXACT_KEY_BITS = 62
_WORD = np.dtype("<u8")


def pack_words(rows: np.ndarray) -> np.ndarray:
    """Pack bool rows into little-endian uint64 words; unit i is bit i % 64 of word i // 64.

    Parameters
    ----------
    rows : numpy.ndarray
        Array [..., n] (bool).

    Returns
    -------
    numpy.ndarray
        Array [..., ceil(n/64)] (uint64).
    """
    rows = np.asarray(rows, dtype=bool)
    n = rows.shape[-1]
    n_words = (n + 63) // 64
    packed = np.packbits(rows, axis=-1, bitorder="little")  # [..., ceil(n/8)] bytes
    out = np.zeros(rows.shape[:-1] + (n_words * 8,), dtype=np.uint8)
    out[..., : packed.shape[-1]] = packed
    return out.view(_WORD)


def unpack_words(words: np.ndarray, n: int) -> np.ndarray:
    """Unpack uint64 words into bool rows (the inverse of :func:`pack_words` for 2-d ``words``).

    Parameters
    ----------
    words : numpy.ndarray
        Array [R, W] (uint64).
    n : int
        Number of units kept per row.

    Returns
    -------
    numpy.ndarray
        Array [R, n] (bool).
    """
    return np.unpackbits(np.ascontiguousarray(words).view(np.uint8), axis=1, count=n, bitorder="little").view(bool)


def span_rows(columns: np.ndarray) -> np.ndarray:
    """List all 2^b XOR-combinations of the rows of ``columns``: row ℓ = ⊕_{i: bit i of ℓ} columns[i].

    Parameters
    ----------
    columns : numpy.ndarray
        Array [b, ...] of bool or integer words.

    Returns
    -------
    numpy.ndarray
        Array [2^b, ...] of the same dtype.
    """
    columns = np.asarray(columns)
    out = np.zeros((1,) + columns.shape[1:], dtype=columns.dtype)
    for col in columns:
        out = np.concatenate([out, out ^ col])
    return out


@dataclass
class SpexDesign:
    """A fully specified SPEX design and its deduplicated evaluation list.

    Attributes
    ----------
    n : int
        Number of units.
    b : int
        The log₂ of the bins per group.
    n_groups : int
        Number of hash groups C.
    code : BCHCode
        The code whose parity rows are the delays.
    hashes : numpy.ndarray
        Array [C, n, b] (bool): the hash matrices M_c.
    delays : numpy.ndarray
        Array [P+1, n] (bool): the delays D, row 0 all-zero.
    unique_rows : numpy.ndarray
        Array [U] (int64): flat (c, p, ℓ) index of each distinct mask's first occurrence.
    inverse : numpy.ndarray
        Array [C, P+1, 2^b] (int64): which distinct mask each design row is.
    seed : int
        Seed of the hash matrices.
    """

    n: int
    b: int
    n_groups: int
    code: BCHCode
    hashes: np.ndarray
    delays: np.ndarray
    unique_rows: np.ndarray
    inverse: np.ndarray
    seed: int

    def __post_init__(self) -> None:
        b = self.b
        weights = (1 << np.arange(b, dtype=np.int64))
        codes = (self.hashes.astype(np.int64) * weights).sum(axis=2)  # [C, n]: row i of M_c as an integer
        self.bin_codes = np.concatenate([codes, np.zeros((self.n_groups, 1), np.int64)], axis=1)
        self._span_words: np.ndarray | None = None
        self._delay_words: np.ndarray | None = None

    # ------------------------------------------------------------------ sizes
    @property
    def n_delays(self) -> int:
        """Delays per group, P + 1 (the all-zero delay first)."""
        return self.delays.shape[0]

    @property
    def n_bins(self) -> int:
        """Bins per group, 2^b."""
        return 1 << self.b

    @property
    def n_queries(self) -> int:
        """Rows of the design, duplicates included: C·(P+1)·2^b."""
        return self.n_groups * self.n_delays * self.n_bins

    @property
    def n_evaluations(self) -> int:
        """Distinct masks, i.e. value-function evaluations."""
        return int(self.unique_rows.shape[0])

    # ------------------------------------------------------------------ masks
    @property
    def span_words(self) -> np.ndarray:
        """Packed masks M_c·ℓ for every ℓ, uint64 [C, 2^b, ceil(n/64)] (built on first use)."""
        if self._span_words is None:
            columns = pack_words(np.swapaxes(self.hashes, 1, 2))  # [C, b, W]: column i of M_c
            self._span_words = np.stack([span_rows(columns[c]) for c in range(self.n_groups)])
        return self._span_words

    @property
    def delay_words(self) -> np.ndarray:
        """Packed delays, uint64 [P+1, ceil(n/64)]."""
        if self._delay_words is None:
            self._delay_words = pack_words(self.delays)
        return self._delay_words

    @property
    def span(self) -> np.ndarray:
        """Bool [C, 2^b, n]: M_c·ℓ for every ℓ."""
        words = self.span_words
        return unpack_words(words.reshape(-1, words.shape[-1]), self.n).reshape(self.n_groups, self.n_bins, self.n)

    def packed_masks(self, flat_rows: np.ndarray) -> np.ndarray:
        """Return the packed masks of design rows given by flat (c, p, ℓ) indices.

        Parameters
        ----------
        flat_rows : numpy.ndarray
            Flat row indices into [C, P+1, 2^b].

        Returns
        -------
        numpy.ndarray
            Array [R, ceil(n/64)] (uint64).
        """
        flat_rows = np.asarray(flat_rows, dtype=np.int64)
        per_group = self.n_delays * self.n_bins
        c = flat_rows // per_group
        p = (flat_rows // self.n_bins) % self.n_delays
        ell = flat_rows % self.n_bins
        out = self.span_words[c, ell]
        out ^= self.delay_words[p]
        return out

    def masks(self, flat_rows: np.ndarray) -> np.ndarray:
        """Return the masks of design rows given by flat (c, p, ℓ) indices.

        Parameters
        ----------
        flat_rows : numpy.ndarray
            Flat row indices into [C, P+1, 2^b].

        Returns
        -------
        numpy.ndarray
            Array [R, n] (bool).
        """
        return unpack_words(self.packed_masks(flat_rows), self.n)

    def unique_masks(self, chunk_rows: int, *, packed: bool = False) -> Iterator[tuple[int, np.ndarray | PackedMasks]]:
        """Iterate over chunks covering every distinct mask once, in design order.

        Parameters
        ----------
        chunk_rows : int
            Masks per chunk.
        packed : bool, default False
            Yield :class:`~spex_mech.valuefn.PackedMasks` instead of bool arrays.

        Yields
        ------
        offset : int
            Index of the chunk's first distinct mask.
        masks : numpy.ndarray or PackedMasks
            The chunk's masks, bool [R, n] or packed.
        """
        n_bytes = (self.n + 7) // 8
        for start in range(0, self.n_evaluations, chunk_rows):
            words = self.packed_masks(self.unique_rows[start : start + chunk_rows])
            if packed:
                yield start, PackedMasks(np.ascontiguousarray(words.view(np.uint8)[:, :n_bytes]), self.n)
            else:
                yield start, unpack_words(words, self.n)

    # ------------------------------------------------------------------ hashing of supports
    def bins(self, units: np.ndarray) -> np.ndarray:
        """Return the bin M_cᵀk of each support in every group.

        Parameters
        ----------
        units : numpy.ndarray
            Supports [K, s] (−1 padded).

        Returns
        -------
        numpy.ndarray
            Array [C, K] (int64).
        """
        units = np.asarray(units, dtype=np.int64)
        idx = np.where(units < 0, self.n, units)
        return np.bitwise_xor.reduce(self.bin_codes[:, idx], axis=2)

    def bins_in_group(self, units: np.ndarray, groups: np.ndarray) -> np.ndarray:
        """Return the bin of support ``units[i]`` in group ``groups[i]``.

        Parameters
        ----------
        units : numpy.ndarray
            Supports [K, s] (−1 padded).
        groups : numpy.ndarray
            One group index per support [K].

        Returns
        -------
        numpy.ndarray
            Array [K] (int64).
        """
        units = np.asarray(units, dtype=np.int64)
        idx = np.where(units < 0, self.n, units)
        return np.bitwise_xor.reduce(self.bin_codes[np.asarray(groups)[:, None], idx], axis=1)

    def signatures(self, units: np.ndarray) -> np.ndarray:
        """Return the delay signatures (−1)^⟨d_p, k⟩ for p = 0 … P.

        Parameters
        ----------
        units : numpy.ndarray
            Supports [K, s] (−1 padded).

        Returns
        -------
        numpy.ndarray
            Array [K, P+1] (float64); column 0 is always +1.
        """
        bits = self.code.parity_of_support(units)
        out = np.ones(bits.shape[:-1] + (self.n_delays,), dtype=np.float64)
        out[..., 1:] = 1.0 - 2.0 * bits
        return out


def _design_keys(hashes: np.ndarray, delays: np.ndarray) -> tuple[np.ndarray, bool]:
    """Linear keys of every design row [C, P+1, 2^b] and whether they are exact (n ≤ 62)."""
    n = delays.shape[1]
    if n <= _EXACT_KEY_BITS:
        tags = (1 << np.arange(n, dtype=np.int64)).astype(np.uint64)
        exact = True
    else:
        tags = np.random.default_rng(0x5BEC5).integers(0, 2**63, size=n, dtype=np.int64).astype(np.uint64)
        tags ^= np.random.default_rng(0xC0DE).integers(0, 2, size=n, dtype=np.int64).astype(np.uint64) << np.uint64(63)
        exact = False

    # Bit j of a row's key is the parity of the row AND the units whose tag has bit j: computed on
    # packed words (XOR-reduce, then fold the 64 bits of the result to one), never on n-wide arrays.
    shifts = np.arange(64, dtype=np.uint64)
    tag_words = pack_words(((tags[None, :] >> shifts[:, None]) & np.uint64(1)).astype(bool))  # [64, W]

    def key_of(bool_rows: np.ndarray) -> np.ndarray:
        words = pack_words(bool_rows)  # [R, W]
        acc = np.empty((64, words.shape[0]), dtype=np.uint64)
        for bit in range(64):
            acc[bit] = np.bitwise_xor.reduce(words & tag_words[bit], axis=1)
        for s in (32, 16, 8, 4, 2, 1):
            acc ^= acc >> np.uint64(s)
        return np.bitwise_or.reduce((acc & np.uint64(1)) << shifts[:, None], axis=0)

    delay_keys = key_of(delays)  # [P+1]
    span_keys = np.stack([span_rows(key_of(h.T)) for h in hashes])  # [C, 2^b]
    return span_keys[:, None, :] ^ delay_keys[None, :, None], exact


def _dedupe(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First-occurrence rows (ascending) and the inverse map for flat keys."""
    flat = keys.reshape(-1)
    _, first, inv = np.unique(flat, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(order.shape[0])
    return first[order].astype(np.int64), rank[inv.reshape(-1)].reshape(keys.shape).astype(np.int64)


def build_design(n: int, max_order: int, b: int, n_groups: int, seed: int, code: BCHCode | None = None) -> SpexDesign:
    """Draw the hash matrices from ``numpy.random.default_rng(seed)`` and deduplicate the design exactly.

    Parameters
    ----------
    n : int
        Number of units.
    max_order : int
        Errors the BCH code corrects (the largest interaction order).
    b : int
        The log₂ of the bins per group.
    n_groups : int
        Number of hash groups C.
    seed : int
        Seed of the hash matrices.
    code : BCHCode, optional
        The code to use; by default ``BCHCode(n, max_order)``.

    Returns
    -------
    SpexDesign
        The design with its distinct masks and the map from design rows to them.
    """
    code = code if code is not None else BCHCode(n, max_order)
    rng = np.random.default_rng(seed)
    hashes = rng.integers(0, 2, size=(n_groups, n, b), dtype=np.uint8).astype(bool)
    delays = np.concatenate([np.zeros((1, n), dtype=bool), code.parity_matrix], axis=0)
    keys, exact = _design_keys(hashes, delays)
    unique_rows, inverse = _dedupe(keys)
    design = SpexDesign(n, b, n_groups, code, hashes, delays, unique_rows, inverse, seed)
    if not exact:
        flat_inv = inverse.reshape(-1)
        rows = np.arange(flat_inv.shape[0], dtype=np.int64)
        dup = rows[unique_rows[flat_inv] != rows]
        if dup.size:
            same = np.all(design.packed_masks(dup) == design.packed_masks(unique_rows[flat_inv[dup]]), axis=1)
            if not np.all(same):  # a 64-bit key collision between different masks: dedupe bit for bit
                packed = design.packed_masks(rows)
                void = np.ascontiguousarray(packed).view(np.dtype((np.void, 8 * packed.shape[1]))).reshape(-1)
                _, first, inv = np.unique(void, return_index=True, return_inverse=True)
                order = np.argsort(first, kind="stable")
                rank = np.empty_like(order)
                rank[order] = np.arange(order.shape[0])
                design.unique_rows = first[order].astype(np.int64)
                design.inverse = rank[inv.reshape(-1)].reshape(inverse.shape).astype(np.int64)
    return design
