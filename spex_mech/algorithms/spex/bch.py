"""Shortened binary BCH codes with a batched bounded-distance decoder and a batched Chase decoder.

A primitive narrow-sense binary BCH code of length N = 2^m − 1 and designed distance 2t + 1 corrects t
errors. Codewords are systematic: positions 0 … P−1 hold the parity bits, positions P … P+k'−1 the
message (the code is shortened to k' message bits; the rest of the message is fixed at zero).

SPEX uses the code "backwards": the unknown support k of a Fourier coefficient is a message, the sign
pattern across the delays is its parity word, and decoding the received word (0…0 | parity bits) finds
k as the *errors in the message part* (plus any flipped parity bits), as long as |k| + flips ≤ t.

Everything is vectorised over many received words at once: syndromes are one GF(2) matrix product,
Berlekamp–Massey runs 2t steps over a [W, 2t+1] array, a cheap test (does the locator divide
x^(2^m) − x?) discards locators that cannot split before any Chien search, and the Chien search runs
only on the survivors, in blocks.

Length: one job (the code and its hard decoder, each step a method of :class:`BCHCode`); the module is
past 400 lines because of the numpydoc docstrings. Chase soft decoding lives in :mod:`.chase`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import numpy as np

from .chase import ChaseResult, chase_decode, chase_patterns, soft_score
from .gf2m import GF2m, clmul, cyclotomic_coset, field, poly_degree

__all__ = ["BCHCode", "DecodeResult", "ChaseResult", "bch_parameters"]


def _n_parity(m: int, t: int) -> int:
    """Deg g = total size of the distinct cyclotomic cosets of α^1, α^3, …, α^(2t−1)."""
    seen: set[int] = set()
    for e in range(1, 2 * t, 2):
        seen.update(cyclotomic_coset(e, m))
    return len(seen)


def bch_parameters(n_message: int, t: int) -> tuple[int, int]:
    """Find the smallest primitive binary BCH code correcting ``t`` errors with ≥ ``n_message`` message bits.

    Parameters
    ----------
    n_message : int
        Message bits needed (at least 1).
    t : int
        Errors to correct.

    Returns
    -------
    m : int
        Field degree of the code.
    n_parity : int
        Its number of parity bits P.

    Raises
    ------
    ValueError
        If ``t`` or ``n_message`` is below 1, or no supported field degree (m ≤ 20) fits.
    """
    if t < 1:
        raise ValueError(f"the BCH code must correct at least one error, got t={t}")
    if n_message < 1:
        raise ValueError(f"the message length must be at least 1, got {n_message}")
    m = max(2, math.ceil(math.log2(2 * t + 2)))
    while True:
        if m > 20:
            raise ValueError(f"no supported BCH code (m ≤ 20) has {n_message} message bits and corrects t={t}")
        length = (1 << m) - 1
        if 2 * t < length:
            p = _n_parity(m, t)
            if length - p >= n_message:
                return m, p
        m += 1


@dataclass
class DecodeResult:
    """Per received word: whether a codeword lies within distance t, and the error positions.

    Attributes
    ----------
    ok : numpy.ndarray
        Array [W] (bool): a codeword within distance t exists.
    errors : numpy.ndarray
        Array [W, t] (int64): error positions, ascending, −1 padded; meaningful where ``ok``.
    n_errors : numpy.ndarray
        Array [W] (int64): number of errors.
    """

    ok: np.ndarray
    errors: np.ndarray
    n_errors: np.ndarray


@dataclass
class ParityDecodeResult:
    """Decoding of parity-only received words (message part zero): the support and the flipped bits.

    Attributes
    ----------
    ok : numpy.ndarray
        Array [W] (bool): decoded.
    units : numpy.ndarray
        Array [W, t] (int64): ascending message positions (= unit indices), −1 padded.
    n_flips : numpy.ndarray
        Array [W] (int64): parity bits the decoder had to correct.
    """

    ok: np.ndarray
    units: np.ndarray
    n_flips: np.ndarray


class BCHCode:
    """A binary BCH code correcting ``t`` errors, shortened to ``n_message`` message bits.

    Parameters
    ----------
    n_message : int
        Message length k' (SPEX: the number of units n).
    t : int
        Errors corrected (SPEX: the largest interaction order).
    m : int, optional
        Field degree; by default the smallest that fits (:func:`bch_parameters`).
    """

    def __init__(self, n_message: int, t: int, m: Optional[int] = None):
        auto_m, _ = bch_parameters(n_message, t)
        self.m = int(m if m is not None else auto_m)
        self.t = int(t)
        self.field: GF2m = field(self.m)
        self.length = self.field.order
        self.generator = self._generator_polynomial()
        self.n_parity = poly_degree(self.generator)
        self.dimension = self.length - self.n_parity
        if n_message > self.dimension:
            raise ValueError(f"BCH({self.length}, {self.dimension}) cannot carry {n_message} message bits")
        self.n_message = int(n_message)
        self.n_positions = self.n_parity + self.n_message
        self.parity_matrix = self._parity_matrix()  # bool [P, k']
        self._parity_rows = np.vstack(
            [self.parity_matrix.T.astype(np.uint8), np.zeros((1, self.n_parity), np.uint8)]
        )  # [k'+1, P]; the extra zero row absorbs −1 padding
        self._syndrome_matrix = self._odd_syndrome_matrix()  # float32 [positions, t·m]

    # ------------------------------------------------------------------ construction
    def _generator_polynomial(self) -> int:
        """g(x) = lcm of the minimal polynomials of α, α^2, …, α^(2t): one factor per distinct coset."""
        g, covered = 1, set()
        for e in range(1, 2 * self.t, 2):
            if e % self.length in covered:
                continue
            covered.update(cyclotomic_coset(e, self.m))
            g = clmul(g, self.field.minimal_polynomial(e))
        return g

    def _parity_matrix(self) -> np.ndarray:
        """Column i = x^(P+i) mod g(x): the parity word of the message with only bit i set."""
        p, g = self.n_parity, self.generator
        top = 1 << p
        rem = g ^ top  # x^P mod g
        cols = []
        for _ in range(self.n_message):
            cols.append(rem)
            rem <<= 1
            if rem & top:
                rem ^= g
        width = (p + 7) // 8
        raw = b"".join(c.to_bytes(width, "little") for c in cols)
        byte_rows = np.frombuffer(raw, dtype=np.uint8).reshape(self.n_message, width)
        bits = np.unpackbits(byte_rows, axis=1, bitorder="little")
        return bits[:, :p].T.astype(bool)

    def _odd_syndrome_matrix(self) -> np.ndarray:
        """Bits of α^(j·q) for odd j = 1, 3, …, 2t−1 and every codeword position q: [positions, t·m]."""
        q = np.arange(self.n_positions, dtype=np.int64)[:, None]
        j = np.arange(1, 2 * self.t, 2, dtype=np.int64)[None, :]
        elems = self.field.alpha_power(q * j)  # [positions, t]
        return self.field.to_bits(elems).reshape(self.n_positions, self.t * self.m).astype(np.float32)

    # ------------------------------------------------------------------ encoding
    def encode(self, messages: np.ndarray) -> np.ndarray:
        """Encode messages as systematic codewords (parity first).

        Parameters
        ----------
        messages : numpy.ndarray
            Array [W, k'] (bool).

        Returns
        -------
        numpy.ndarray
            Codewords, bool [W, P + k'].
        """
        messages = np.asarray(messages, dtype=bool)
        parity = (messages.astype(np.float32) @ self.parity_matrix.T.astype(np.float32)).astype(np.int64) & 1
        return np.concatenate([parity.astype(bool), messages], axis=1)

    def parity_of_support(self, units: np.ndarray) -> np.ndarray:
        """Compute the parity words of messages given as unit lists.

        Parameters
        ----------
        units : numpy.ndarray
            Unit lists [..., s] (−1 padded): the message's set bits.

        Returns
        -------
        numpy.ndarray
            Parity words, bool [..., P].
        """
        units = np.asarray(units, dtype=np.int64)
        idx = np.where(units < 0, self.n_message, units)
        return np.bitwise_xor.reduce(self._parity_rows[idx], axis=-2).astype(bool)

    # ------------------------------------------------------------------ syndromes
    def syndromes(self, words: np.ndarray) -> np.ndarray:
        """Compute the syndromes S_1 … S_2t of received words.

        Parameters
        ----------
        words : numpy.ndarray
            Array [W, L] (bool) with L ≤ P + k' (missing positions are zero).

        Returns
        -------
        numpy.ndarray
            Syndromes [W, 2t] as field elements.
        """
        words = np.asarray(words)
        width = words.shape[1]
        if width > self.n_positions:
            raise ValueError(f"received words have {width} positions; the code has {self.n_positions}")
        prod = words.astype(np.float32) @ self._syndrome_matrix[:width]
        bits = np.rint(prod).astype(np.int64) & 1
        odd = self.field.from_bits(bits.reshape(words.shape[0], self.t, self.m))  # S_1, S_3, …
        synd = np.zeros((words.shape[0], 2 * self.t), dtype=np.int64)
        synd[:, 0::2] = odd
        for j in range(2, 2 * self.t + 1, 2):  # S_j = S_(j/2)^2
            synd[:, j - 1] = self.field.square(synd[:, j // 2 - 1])
        return synd

    # ------------------------------------------------------------------ decoding
    def berlekamp_massey(self, synd: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Find the error-locator polynomials of syndromes by Berlekamp–Massey.

        Parameters
        ----------
        synd : numpy.ndarray
            Syndromes [W, 2t].

        Returns
        -------
        locator : numpy.ndarray
            Error-locator polynomials Λ [W, 2t+1] (lowest degree first).
        length : numpy.ndarray
            Their lengths L [W].
        """
        gf = self.field
        w, two_t = synd.shape
        lam = np.zeros((w, two_t + 1), dtype=np.int64)
        lam[:, 0] = 1
        prev = lam.copy()
        length = np.zeros(w, dtype=np.int64)
        shift = np.ones(w, dtype=np.int64)
        prev_disc = np.ones(w, dtype=np.int64)
        cols = np.arange(two_t + 1, dtype=np.int64)[None, :]
        for r in range(two_t):
            # discrepancy d = Σ_{i=0..r} Λ_i S_(r−i)   (0-based syndromes)
            terms = gf.mul(lam[:, : r + 1], synd[:, r::-1])
            disc = np.bitwise_xor.reduce(terms, axis=1)
            nonzero = disc != 0
            coef = gf.div(disc, prev_disc)  # zero where disc == 0
            src = cols - shift[:, None]
            shifted = np.where(src >= 0, np.take_along_axis(prev, np.clip(src, 0, two_t), axis=1), 0)
            updated = lam ^ gf.mul(coef[:, None], shifted)
            grow = nonzero & (2 * length <= r)
            prev = np.where(grow[:, None], lam, prev)
            prev_disc = np.where(grow, disc, prev_disc)
            length = np.where(grow, r + 1 - length, length)
            shift = np.where(grow, 1, shift + 1)
            lam = np.where(nonzero[:, None], updated, lam)
        return lam, length

    def _splits(self, lam: np.ndarray, length: np.ndarray) -> np.ndarray:
        """Whether Λ (of degree L ≥ 2) divides x^(2^m) − x, i.e. has L distinct roots in GF(2^m)."""
        gf = self.field
        out = np.ones(lam.shape[0], dtype=bool)
        for d in np.unique(length):
            d = int(d)
            if d < 2:
                continue
            rows = np.nonzero(length == d)[0]
            monic = gf.div(lam[rows, :d], lam[rows, d][:, None])  # x^d ≡ Σ monic_i x^i
            rem = np.zeros((rows.shape[0], d), dtype=np.int64)
            rem[:, 1] = 1  # x
            for _ in range(self.m):
                sq = np.zeros((rows.shape[0], 2 * d - 1), dtype=np.int64)
                sq[:, 0::2] = gf.square(rem)
                for deg in range(2 * d - 2, d - 1, -1):
                    sq[:, deg - d : deg] ^= gf.mul(sq[:, deg][:, None], monic)
                rem = sq[:, :d]
            target = np.zeros(d, dtype=np.int64)
            target[1] = 1
            out[rows] = np.all(rem == target[None, :], axis=1)
        return out

    def _chien(self, lam: np.ndarray, n_positions: int, block: int = 1 << 22) -> np.ndarray:
        """Roots of Λ among α^(−q), q < n_positions: bool [W, n_positions] (True = error at q).

        Λ(α^(−q)) = ⊕_i exp[log Λ_i + (−i·q mod N)]; a zero coefficient has log 2N, which lands in the
        zero tail of the exp table, so the inner loop is one add, one gather and one XOR per term.
        """
        gf = self.field
        w, width = lam.shape
        logs = gf.log[lam].astype(np.int32)  # [W, width]
        exp32 = gf.exp.astype(np.int32)
        q = np.arange(n_positions, dtype=np.int64)
        out = np.zeros((w, n_positions), dtype=bool)
        rows_per = max(1, block // max(1, n_positions))
        offsets = [np.mod(-i * q, gf.order).astype(np.int32) for i in range(width)]
        for start in range(0, w, rows_per):
            sl = slice(start, min(w, start + rows_per))
            acc = np.zeros((sl.stop - sl.start, n_positions), dtype=np.int32)
            for i in range(width):
                li = logs[sl, i]
                if np.all(li == 2 * gf.order):
                    continue
                acc ^= exp32[li[:, None] + offsets[i][None, :]]
            out[sl] = acc == 0
        return out

    def _decode_syndromes(self, synd: np.ndarray, n_positions: int) -> DecodeResult:
        w = synd.shape[0]
        t = self.t
        ok = np.zeros(w, dtype=bool)
        errors = np.full((w, t), -1, dtype=np.int64)
        n_err = np.zeros(w, dtype=np.int64)
        clean = ~np.any(synd, axis=1)
        ok[clean] = True
        work = np.nonzero(~clean)[0]
        if work.size == 0:
            return DecodeResult(ok, errors, n_err)
        lam, length = self.berlekamp_massey(synd[work])
        deg = np.max(np.where(lam != 0, np.arange(lam.shape[1])[None, :], 0), axis=1)
        cand = (length <= t) & (deg == length) & (length >= 1)
        cand_idx = np.nonzero(cand)[0]
        if cand_idx.size:
            splits = self._splits(lam[cand_idx, : t + 1], length[cand_idx])
            cand_idx = cand_idx[splits]
        if cand_idx.size:
            roots = self._chien(lam[cand_idx, : t + 1], n_positions)
            count = roots.sum(axis=1)
            good = count == length[cand_idx]
            rows, cols = np.nonzero(roots[good])
            target = work[cand_idx[good]]
            if rows.size:
                rank = np.arange(rows.size) - np.searchsorted(rows, rows)  # position within its row
                errors[target[rows], rank] = cols
            ok[target] = True
            n_err[target] = count[good]
        return DecodeResult(ok, errors, n_err)

    def decode(self, words: np.ndarray) -> DecodeResult:
        """Decode full received words up to the code's distance (bounded-distance decoding).

        Parameters
        ----------
        words : numpy.ndarray
            Array [W, P + k'] (bool).

        Returns
        -------
        DecodeResult
            ``ok`` is True exactly when some codeword lies within Hamming distance t; ``errors`` lists the
            positions to flip to reach it.
        """
        words = np.asarray(words, dtype=bool)
        if words.ndim != 2 or words.shape[1] != self.n_positions:
            raise ValueError(f"received words must be [W, {self.n_positions}], got {words.shape}")
        return self._decode_syndromes(self.syndromes(words), self.n_positions)

    def decode_parity(self, parity_bits: np.ndarray) -> ParityDecodeResult:
        """Decode received words (parity bits | all-zero message): the message-part errors are the support.

        Parameters
        ----------
        parity_bits : numpy.ndarray
            Array [W, P] (bool).

        Returns
        -------
        ParityDecodeResult
            Success, support and number of parity bits flipped, per word.
        """
        parity_bits = np.asarray(parity_bits, dtype=bool)
        if parity_bits.ndim != 2 or parity_bits.shape[1] != self.n_parity:
            raise ValueError(f"parity words must be [W, {self.n_parity}], got {parity_bits.shape}")
        res = self._decode_syndromes(self.syndromes(parity_bits), self.n_positions)
        p = self.n_parity
        is_msg = res.errors >= p
        n_flips = np.sum((res.errors >= 0) & ~is_msg, axis=1)
        units = np.where(is_msg, res.errors - p, -1)
        # move message positions to the front, keeping ascending order
        units = np.sort(np.where(units < 0, np.iinfo(np.int64).max, units), axis=1)
        units = np.where(units == np.iinfo(np.int64).max, -1, units)
        return ParityDecodeResult(res.ok, units, n_flips)

    # ------------------------------------------------------------------ soft (Chase) decoding

    def chase_patterns(self, depth: int, max_weight: int = 2) -> np.ndarray:
        """List the flip patterns over the ``depth`` least reliable positions (see :func:`.chase.chase_patterns`).

        Parameters
        ----------
        depth : int
            Positions that may be flipped.
        max_weight : int, default 2
            Most positions flipped by one pattern.

        Returns
        -------
        numpy.ndarray
            Array [T, depth] (bool); row 0 flips nothing.
        """
        return chase_patterns(depth, max_weight)

    def chase_decode(
        self,
        soft: np.ndarray,
        reference: Optional[np.ndarray] = None,
        depth: Optional[int] = None,
        max_weight: int = 2,
        block_words: int = 1 << 15,
    ) -> ChaseResult:
        """Run Chase-II decoding of soft parity observations (see :func:`.chase.chase_decode`).

        Parameters
        ----------
        soft : numpy.ndarray
            Soft parity observations [W, P].
        reference : numpy.ndarray, optional
            Soft reference observation [W].
        depth : int, optional
            Least reliable positions flipped (default 2t, at most the number of observations).
        max_weight : int, default 2
            Most positions flipped by one pattern.
        block_words : int, default 32768
            Words × flip patterns decoded per block (bounds memory).

        Returns
        -------
        ChaseResult
            Every candidate with its soft score.
        """
        return chase_decode(self, soft, reference, depth, max_weight, block_words)

    def soft_score(self, units: np.ndarray, soft: np.ndarray, reference: Optional[np.ndarray] = None) -> np.ndarray:
        """Score each support by the soft weight of the observations it contradicts (see :func:`.chase.soft_score`).

        Parameters
        ----------
        units : numpy.ndarray
            Supports [M, t] (−1 padded).
        soft : numpy.ndarray
            Soft parity observations [M, P].
        reference : numpy.ndarray, optional
            Soft reference observation [M].

        Returns
        -------
        numpy.ndarray
            Scores [M] (float64); lower is better.
        """
        return soft_score(self, units, soft, reference)
