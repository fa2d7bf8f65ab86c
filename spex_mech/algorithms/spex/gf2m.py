"""Arithmetic in GF(2^m) and over GF(2)[x], vectorised with log/antilog tables.

Field elements are integers 0 … 2^m − 1 (bit i = coefficient of α^i in the polynomial basis). The
tables make multiplication, division and squaring a couple of numpy gathers over whole arrays, which is
what the batched BCH decoder needs. Binary polynomials (generator and minimal polynomials) are Python
ints with bit i = coefficient of x^i.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

__all__ = ["GF2m", "PRIMITIVE_POLYNOMIALS", "field", "clmul", "poly_degree", "poly_mod"]

# One primitive polynomial per degree (bit i = coefficient of x^i). Primitivity is re-checked when a
# field is built: the powers of α must run through all 2^m − 1 non-zero elements.
PRIMITIVE_POLYNOMIALS: dict[int, int] = {
    2: 0b111,  # x^2 + x + 1
    3: 0b1011,  # x^3 + x + 1
    4: 0b10011,  # x^4 + x + 1
    5: 0b100101,  # x^5 + x^2 + 1
    6: 0b1000011,  # x^6 + x + 1
    7: 0b10001001,  # x^7 + x^3 + 1
    8: 0b100011101,  # x^8 + x^4 + x^3 + x^2 + 1
    9: 0x211,  # x^9 + x^4 + 1
    10: 0x409,  # x^10 + x^3 + 1
    11: 0x805,  # x^11 + x^2 + 1
    12: 0x1053,  # x^12 + x^6 + x^4 + x + 1
    13: 0x201B,  # x^13 + x^4 + x^3 + x + 1
    14: 0x4443,  # x^14 + x^10 + x^6 + x + 1
    15: 0x8003,  # x^15 + x + 1
    16: 0x1100B,  # x^16 + x^12 + x^3 + x + 1
    17: 0x20009,  # x^17 + x^3 + 1
    18: 0x40081,  # x^18 + x^7 + 1
    19: 0x80027,  # x^19 + x^5 + x^2 + x + 1
    20: 0x100009,  # x^20 + x^3 + 1
}


class GF2m:
    """The field GF(2^m) built on a primitive polynomial, with vectorised table arithmetic.

    ``exp`` has length 4·N + 1 (N = 2^m − 1): entries below 2N are α^(i mod N) and the rest are 0, and
    ``log[0] = 2N``. So ``exp[log[a] + log[b]]`` is a·b for every a, b including zero, with no branch.

    Parameters
    ----------
    m : int
        Field degree.
    poly : int, optional
        Primitive polynomial of degree m as a binary integer; by default ``PRIMITIVE_POLYNOMIALS[m]``.

    Raises
    ------
    ValueError
        If no default polynomial exists for ``m``, or ``poly`` does not have degree m or is not primitive.
    """

    def __init__(self, m: int, poly: int | None = None):
        if m not in PRIMITIVE_POLYNOMIALS and poly is None:
            raise ValueError(f"GF(2^{m}) is not supported (m must be in 2..20)")
        self.m = int(m)
        self.poly = int(poly if poly is not None else PRIMITIVE_POLYNOMIALS[m])
        if self.poly.bit_length() - 1 != self.m:
            raise ValueError(f"polynomial {self.poly:#x} does not have degree {m}")
        self.size = 1 << self.m
        self.order = self.size - 1  # N: multiplicative order of α
        powers = self._powers_of_alpha()
        hits = np.bincount(powers, minlength=self.size)
        if hits[0] != 0 or np.any(hits[1:] != 1):
            raise ValueError(f"polynomial {self.poly:#x} is not primitive over GF(2)")
        n_ = self.order
        self.exp = np.zeros(4 * n_ + 1, dtype=np.int64)
        self.exp[:n_] = powers
        self.exp[n_ : 2 * n_] = powers
        self.log = np.empty(self.size, dtype=np.int64)
        self.log[powers] = np.arange(n_, dtype=np.int64)
        self.log[0] = 2 * n_

    def _powers_of_alpha(self) -> np.ndarray:
        """α^0 … α^(N−1) by doubling: multiplying by a fixed element is GF(2)-linear in the bits."""
        m, n_ = self.m, self.order

        def times_alpha_power(values: np.ndarray, e: int) -> np.ndarray:
            # column k of the multiplication-by-α^e matrix is α^(e+k); XOR the columns of the set bits
            out = np.zeros_like(values)
            for k in range(m):
                col = self._slow_power(e + k)
                out ^= np.where((values >> k) & 1, col, 0)
            return out

        powers = np.array([1], dtype=np.int64)
        while powers.shape[0] < n_:
            step = powers.shape[0]
            powers = np.concatenate([powers, times_alpha_power(powers, step)])
        return powers[:n_]

    def _slow_power(self, e: int) -> int:
        """α^e by square-and-multiply on bit patterns (used only to seed the tables)."""
        result, base = 1, 2
        while e:
            if e & 1:
                result = self._slow_mul(result, base)
            base = self._slow_mul(base, base)
            e >>= 1
        return result

    def _slow_mul(self, a: int, b: int) -> int:
        out = 0
        while b:
            if b & 1:
                out ^= a
            b >>= 1
            a <<= 1
            if a >> self.m:
                a ^= self.poly
        return out

    # ------------------------------------------------------------------ vectorised arithmetic
    def mul(self, a, b) -> np.ndarray:
        """Multiply elementwise (broadcasting).

        Parameters
        ----------
        a, b : array_like
            Field elements.

        Returns
        -------
        numpy.ndarray
            Field elements as integers.
        """
        return self.exp[self.log[a] + self.log[b]]

    def div(self, a, b) -> np.ndarray:
        """Divide elementwise, a / b; b must be non-zero (a may be zero).

        Parameters
        ----------
        a, b : array_like
            Field elements.

        Returns
        -------
        numpy.ndarray
            Field elements as integers.
        """
        return self.exp[self.log[a] - self.log[b] + self.order]

    def square(self, a) -> np.ndarray:
        """Square elementwise.

        Parameters
        ----------
        a : array_like
            Field elements.

        Returns
        -------
        numpy.ndarray
            Field elements as integers.
        """
        return self.exp[2 * self.log[a]]

    def power(self, a, e: int) -> np.ndarray:
        """Raise elements to an integer power e ≥ 0 (0^0 = 1).

        Parameters
        ----------
        a : array_like
            Field elements.
        e : int
            The exponent.

        Returns
        -------
        numpy.ndarray
            Field elements as integers.
        """
        a = np.asarray(a, dtype=np.int64)
        if e == 0:
            return np.ones_like(a)
        logs = self.log[a]
        return np.where(a == 0, 0, self.exp[(logs * e) % self.order])

    def alpha_power(self, e) -> np.ndarray:
        """Return α^e for integer exponents (any sign).

        Parameters
        ----------
        e : array_like
            Integer exponents.

        Returns
        -------
        numpy.ndarray
            Field elements as integers.
        """
        return self.exp[np.mod(e, self.order)]

    def to_bits(self, a) -> np.ndarray:
        """Write elements as bit vectors (bit i = coefficient of α^i).

        Parameters
        ----------
        a : array_like
            Field elements.

        Returns
        -------
        numpy.ndarray
            Bits [..., m].
        """
        a = np.asarray(a, dtype=np.int64)
        return ((a[..., None] >> np.arange(self.m)) & 1).astype(np.uint8)

    def from_bits(self, bits) -> np.ndarray:
        """Read elements from bit vectors (the inverse of :meth:`to_bits`).

        Parameters
        ----------
        bits : array_like
            Bits [..., m], bit i the coefficient of α^i.

        Returns
        -------
        numpy.ndarray
            Field elements as integers.
        """
        bits = np.asarray(bits, dtype=np.int64)
        return (bits << np.arange(self.m)).sum(axis=-1)

    def poly_eval(self, coeffs, x) -> np.ndarray:
        """Evaluate Σ_i coeffs[..., i]·x^i by Horner.

        Parameters
        ----------
        coeffs : array_like
            Coefficients [..., d+1], lowest degree first.
        x : array_like
            Points, broadcastable to ``coeffs[..., 0]``.

        Returns
        -------
        numpy.ndarray
            Field elements as integers.
        """
        coeffs = np.asarray(coeffs, dtype=np.int64)
        acc = np.zeros(np.broadcast(coeffs[..., 0], np.asarray(x)).shape, dtype=np.int64)
        for i in range(coeffs.shape[-1] - 1, -1, -1):
            acc = self.mul(acc, x) ^ coeffs[..., i]
        return acc

    def minimal_polynomial(self, e: int) -> int:
        """Return the minimal polynomial of α^e over GF(2).

        Parameters
        ----------
        e : int
            The exponent.

        Returns
        -------
        int
            The polynomial as a binary integer.
        """
        coset = cyclotomic_coset(e, self.m)
        coeffs = np.array([1], dtype=np.int64)  # over GF(2^m), lowest degree first
        for c in coset:
            root = int(self.alpha_power(c))
            shifted = np.concatenate([[0], coeffs])  # x·p(x)
            scaled = np.concatenate([self.mul(coeffs, root), [0]])  # root·p(x)
            coeffs = shifted ^ scaled
        if np.any(coeffs > 1):  # pragma: no cover - algebraic invariant
            raise ArithmeticError("minimal polynomial has non-binary coefficients")
        return int(sum(int(c) << i for i, c in enumerate(coeffs)))


def cyclotomic_coset(e: int, m: int) -> list[int]:
    """Return {e·2^i mod (2^m − 1)}: the exponents of the conjugates of α^e.

    Parameters
    ----------
    e : int
        The exponent.
    m : int
        Field degree.

    Returns
    -------
    list of int
        The coset, in the order e, 2e, 4e, ...
    """
    order = (1 << m) - 1
    out, x = [], e % order
    while x not in out:
        out.append(x)
        x = (2 * x) % order
    return out


@lru_cache(maxsize=None)
def field(m: int) -> GF2m:
    """Return the (cached) field GF(2^m) on the default primitive polynomial.

    Parameters
    ----------
    m : int
        Field degree.

    Returns
    -------
    GF2m
        The field.
    """
    return GF2m(m)


def clmul(a: int, b: int) -> int:
    """Multiply two binary polynomials (carry-less multiplication).

    Parameters
    ----------
    a, b : int
        The polynomials as binary integers.

    Returns
    -------
    int
        The product.
    """
    out = 0
    while b:
        if b & 1:
            out ^= a
        a <<= 1
        b >>= 1
    return out


def poly_degree(a: int) -> int:
    """Return the degree of a binary polynomial (−1 for zero).

    Parameters
    ----------
    a : int
        The polynomial as a binary integer.

    Returns
    -------
    int
        Its degree.
    """
    return a.bit_length() - 1


def poly_mod(a: int, g: int) -> int:
    """Reduce binary polynomial a modulo g.

    Parameters
    ----------
    a : int
        The dividend.
    g : int
        The modulus (non-zero).

    Returns
    -------
    int
        The remainder.
    """
    dg = poly_degree(g)
    while a and poly_degree(a) >= dg:
        a ^= g << (poly_degree(a) - dg)
    return a
