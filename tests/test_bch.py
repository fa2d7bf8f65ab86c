"""The BCH code on its own, against independent brute-force oracles.

Oracles here never call the code under test for the answer: field products come from bit-level
carry-less multiplication, codeword membership from polynomial division by g(x), nearest codewords
from enumerating the whole (small) code, and Chase candidates from decoding every flipped word by
enumerating all supports.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pytest

from spex_mech.algorithms.spex.bch import BCHCode, bch_parameters
from spex_mech.algorithms.spex.gf2m import PRIMITIVE_POLYNOMIALS, GF2m


# ---------------------------------------------------------------------------- independent arithmetic
def naive_mul(a: int, b: int, m: int, poly: int) -> int:
    out = 0
    for i in range(m):
        if (b >> i) & 1:
            out ^= a << i
    for d in range(2 * m - 2, m - 1, -1):
        if (out >> d) & 1:
            out ^= poly << (d - m)
    return out


def naive_pow(a: int, e: int, m: int, poly: int) -> int:
    out = 1
    for _ in range(e):
        out = naive_mul(out, a, m, poly)
    return out


def poly_rem(a: int, g: int) -> int:
    dg = g.bit_length() - 1
    while a and a.bit_length() - 1 >= dg:
        a ^= g << (a.bit_length() - 1 - dg)
    return a


def codeword_poly(bits: np.ndarray) -> int:
    return sum(1 << i for i, v in enumerate(bits) if v)


def popcount64(x: np.ndarray) -> np.ndarray:
    """Set bits of each uint64 (numpy-version independent)."""
    return np.unpackbits(np.ascontiguousarray(x).view(np.uint8).reshape(-1, 8), axis=1).sum(axis=1)


def all_codewords(code: BCHCode) -> np.ndarray:
    k = code.n_message
    msgs = ((np.arange(1 << k)[:, None] >> np.arange(k)) & 1).astype(bool)
    return code.encode(msgs)


# ---------------------------------------------------------------------------- the field
@pytest.mark.parametrize("m", sorted(PRIMITIVE_POLYNOMIALS))
def test_fields_are_built_on_primitive_polynomials(m):
    gf = GF2m(m)  # raises unless α has order 2^m − 1
    assert gf.order == (1 << m) - 1
    assert np.array_equal(np.sort(gf.exp[: gf.order]), np.arange(1, gf.order + 1))


@pytest.mark.parametrize("m", [3, 5, 8, 11])
def test_field_arithmetic_matches_bit_level_multiplication(m):
    gf = GF2m(m)
    rng = np.random.default_rng(m)
    a = rng.integers(0, 1 << m, size=300)
    b = rng.integers(0, 1 << m, size=300)
    expect = np.array([naive_mul(int(x), int(y), m, gf.poly) for x, y in zip(a, b)])
    assert np.array_equal(gf.mul(a, b), expect)
    nz = b != 0
    assert np.array_equal(gf.mul(gf.div(a[nz], b[nz]), b[nz]), a[nz])
    assert np.array_equal(gf.square(a), [naive_mul(int(x), int(x), m, gf.poly) for x in a])
    assert np.array_equal(gf.alpha_power(np.arange(20)), [naive_pow(2, e, m, gf.poly) for e in range(20)])


def test_rejects_non_primitive_polynomial():
    with pytest.raises(ValueError, match="not primitive"):
        GF2m(4, poly=0b11111)  # x^4+x^3+x^2+x+1 is irreducible but α has order 5


# ---------------------------------------------------------------------------- the code
@pytest.mark.parametrize(
    "n_message, t, p_plus_1",
    # P+1 for t = 5 from the reference table (research note §3.3), at range boundaries
    [(11, 5, 21), (12, 5, 28), (36, 5, 28), (37, 5, 36), (92, 5, 36), (93, 5, 41), (215, 5, 41),
     (216, 5, 46), (466, 5, 46), (467, 5, 51), (973, 5, 51), (974, 5, 56), (1992, 5, 56)],
)
def test_parity_counts_match_reference_table(n_message, t, p_plus_1):
    m, p = bch_parameters(n_message, t)
    assert p + 1 == p_plus_1


@pytest.mark.parametrize("n_message, t", [(7, 2), (5, 3), (16, 3), (100, 4), (1024, 5)])
def test_generator_has_the_designed_roots_and_codewords_are_multiples(n_message, t):
    code = BCHCode(n_message, t)
    m, poly = code.m, code.field.poly
    g = code.generator
    for j in range(1, 2 * t + 1):  # g(α^j) = 0, evaluated with bit-level arithmetic
        aj = naive_pow(2, j, m, poly)
        acc, power = 0, 1
        for i in range(g.bit_length()):
            if (g >> i) & 1:
                acc ^= power
            power = naive_mul(power, aj, m, poly)
        assert acc == 0
    rng = np.random.default_rng(0)
    msgs = rng.random((20, n_message)) < 0.5
    for word in code.encode(msgs):
        assert poly_rem(codeword_poly(word), g) == 0
        assert not np.any(code.syndromes(word[None, :]))


@pytest.mark.parametrize("n_message, t, m", [(7, 2, 4), (5, 3, 4), (16, 3, 5), (10, 3, 5)])
def test_minimum_distance_is_at_least_designed(n_message, t, m):
    code = BCHCode(n_message, t, m=m)
    weights = all_codewords(code).sum(axis=1)
    assert weights[weights > 0].min() >= 2 * t + 1


@pytest.mark.parametrize("n_message, t", [(16, 3), (300, 5), (1024, 5), (4096, 5), (50, 1)])
def test_decodes_every_error_pattern_up_to_t(n_message, t):
    code = BCHCode(n_message, t)
    rng = np.random.default_rng(n_message + t)
    w = 400
    msgs = rng.random((w, n_message)) < 0.5
    words = code.encode(msgs)
    errors = np.zeros_like(words)
    n_err = rng.integers(0, t + 1, size=w)
    for i in range(w):
        errors[i, rng.choice(code.n_positions, size=n_err[i], replace=False)] = True
    res = code.decode(words ^ errors)
    assert res.ok.all()
    assert np.array_equal(res.n_errors, n_err)
    for i in range(w):
        assert set(res.errors[i][res.errors[i] >= 0]) == set(np.nonzero(errors[i])[0])


@pytest.mark.parametrize("n_message, t, m", [(5, 3, 4), (16, 3, 5), (10, 3, 5), (11, 2, 5)])
def test_bounded_distance_decoding_against_nearest_codeword_oracle(n_message, t, m):
    """Beyond t errors the decoder must report failure unless another codeword is within t."""
    code = BCHCode(n_message, t, m=m)
    book = all_codewords(code)
    rng = np.random.default_rng(m * 100 + t)
    w = 300
    base = book[rng.integers(0, book.shape[0], size=w)]
    errors = np.zeros_like(base)
    for i in range(w):
        e = rng.integers(t + 1, min(code.n_positions, 2 * t + 3) + 1)
        errors[i, rng.choice(code.n_positions, size=e, replace=False)] = True
    received = base ^ errors
    res = code.decode(received)
    weights = 1 << np.arange(code.n_positions, dtype=np.uint64)
    book_int = (book.astype(np.uint64) * weights).sum(axis=1)
    recv_int = (received.astype(np.uint64) * weights).sum(axis=1)
    nearest = np.empty(w, dtype=np.int64)
    best = np.empty(w, dtype=np.int64)
    for i in range(w):  # Hamming distance to every codeword, by popcount
        dist = popcount64(book_int ^ recv_int[i])
        nearest[i], best[i] = dist.argmin(), dist.min()
    within = best <= t
    assert np.array_equal(res.ok, within)
    assert (~within).sum() > 0  # the trial exercised failures
    for i in np.nonzero(within)[0]:
        expect = np.nonzero(received[i] ^ book[nearest[i]])[0]
        assert set(res.errors[i][res.errors[i] >= 0]) == set(expect)


def test_parity_decoding_recovers_support_and_flips():
    code = BCHCode(1024, 5)
    rng = np.random.default_rng(1)
    for _ in range(200):
        size = int(rng.integers(0, 6))
        flips = int(rng.integers(0, 6 - size))
        units = np.sort(rng.choice(1024, size=size, replace=False))
        msg = np.zeros(1024, dtype=bool)
        msg[units] = True
        parity = code.encode(msg[None, :])[0, : code.n_parity]
        parity[rng.choice(code.n_parity, size=flips, replace=False)] ^= True
        res = code.decode_parity(parity[None, :])
        assert res.ok[0]
        assert list(res.units[0][res.units[0] >= 0]) == list(units)
        assert res.n_flips[0] == flips


def test_parity_of_support_is_xor_of_unit_columns():
    code = BCHCode(200, 4)
    rng = np.random.default_rng(2)
    units = np.full((50, 4), -1)
    for i in range(50):
        s = rng.integers(0, 5)
        units[i, :s] = rng.choice(200, size=s, replace=False)
    msgs = np.zeros((50, 200), dtype=bool)
    for i in range(50):
        msgs[i, units[i][units[i] >= 0]] = True
    assert np.array_equal(code.parity_of_support(units), code.encode(msgs)[:, : code.n_parity])


# ---------------------------------------------------------------------------- Chase
def brute_decode_parity(code: BCHCode, word: np.ndarray, supports: list, parities: np.ndarray):
    """The unique support k with |k| + d(parity(k), word) ≤ t, or None."""
    cost = np.array([len(s) for s in supports]) + (parities != word[None, :]).sum(axis=1)
    hits = np.nonzero(cost <= code.t)[0]
    assert hits.size <= 1
    return supports[hits[0]] if hits.size else None


def test_chase_candidates_match_brute_force_decoding_of_every_flip_pattern():
    code = BCHCode(12, 2, m=5)  # BCH(31, 21) shortened to 12 message bits, P = 10
    supports = [()] + [(i,) for i in range(12)] + list(combinations(range(12), 2))
    units = np.full((len(supports), 2), -1)
    for i, s in enumerate(supports):
        units[i, : len(s)] = s
    parities = code.parity_of_support(units)
    rng = np.random.default_rng(5)
    w = 40
    soft = rng.normal(size=(w, code.n_parity))
    ref = rng.normal(size=w)
    depth = 6
    res = code.chase_decode(soft, reference=ref, depth=depth, max_weight=2)
    patterns = code.chase_patterns(depth, 2)
    aug = np.concatenate([soft, ref[:, None]], axis=1)
    hard = (soft < 0) ^ (ref < 0)[:, None]
    for i in range(w):
        least = np.argsort(np.abs(aug[i]), kind="stable")[:depth]
        for k, pat in enumerate(patterns):
            word = hard[i].copy()
            for pos in least[pat]:
                if pos == code.n_parity:
                    word ^= True
                else:
                    word[pos] ^= True
            expect = brute_decode_parity(code, word, supports, parities)
            assert res.ok[i, k] == (expect is not None)
            if expect is not None:
                got = tuple(int(u) for u in res.units[i, k] if u >= 0)
                assert got == expect
                # score: soft weight of contradicted observations, best global sign
                s = np.concatenate([[1.0], 1.0 - 2.0 * parities[supports.index(expect)]])
                r = np.concatenate([[ref[i]], soft[i]])
                contradicted = min(np.abs(r)[s * r < 0].sum(), np.abs(r)[s * r > 0].sum())
                assert res.score[i, k] == pytest.approx(contradicted)
            else:
                assert np.isinf(res.score[i, k])


def test_chase_recovers_order_t_supports_that_hard_decoding_misses():
    """|k| = t leaves hard decoding no room for a flipped sign; Chase corrects the weak ones."""
    code = BCHCode(1024, 5)
    rng = np.random.default_rng(7)
    w = 300
    units = np.stack([np.sort(rng.choice(1024, size=5, replace=False)) for _ in range(w)])
    signs = np.concatenate([np.ones((w, 1)), 1.0 - 2.0 * code.parity_of_support(units)], axis=1)
    amp = rng.choice([-1.0, 1.0], size=(w, 1))
    obs = amp * signs + rng.normal(scale=0.45, size=signs.shape)
    hard = (obs[:, 1:] < 0) ^ (obs[:, :1] < 0)
    hard_res = code.decode_parity(hard)
    hard_right = hard_res.ok & np.all(hard_res.units == units, axis=1)
    ok, best, _ = code.chase_decode(obs[:, 1:], reference=obs[:, 0], depth=10).best()
    chase_right = ok & np.all(best == units, axis=1)
    assert hard_right.mean() < 0.6  # the noise really does flip bits
    assert chase_right.mean() > hard_right.mean() + 0.2
    # Chase never loses a word that hard decoding got right (pattern 0 is the hard decision)
    assert np.all(chase_right[hard_right])
