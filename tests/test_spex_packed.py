"""Bit-packed SPEX masks: the packed design equals the bool one, and packed value functions see the same masks.

Oracles: ``numpy.packbits`` / an explicit bit-by-bit loop for the layout, the design's defining formula
x = M_c·ℓ ⊕ d_p computed here with integer arithmetic, and a bool-mask run of the same planted function.
"""

from __future__ import annotations

import numpy as np
import pytest

from spex_mech.algorithms.spex import spex
from spex_mech.algorithms.spex.design import build_design, pack_words, unpack_words
from spex_mech.synthetic import random_sparse_function
from spex_mech.valuefn import PackedMasks, ValueFunction


class PackedPlanted:
    """Planted Fourier spectrum read straight from packed bits (bit i % 8 of byte i // 8), no unpacking."""

    accepts_packed = True

    def __init__(self, truth, noise_sd: float = 0.0, seed: int = 0):
        self.n = truth.n
        self.supports = truth.supports
        self.values = truth.coefficients
        self.noise_sd = noise_sd
        self.rng = np.random.default_rng(seed)
        self.seen: list[np.ndarray] = []

    def __call__(self, masks) -> np.ndarray:
        assert isinstance(masks, PackedMasks)
        bits = masks.bits
        self.seen.append(bits.copy())
        out = np.zeros(bits.shape[0])
        for key, value in zip(self.supports, self.values):
            parity = np.zeros(bits.shape[0], dtype=np.uint8)
            for i in key:
                parity ^= (bits[:, i // 8] >> (i % 8)) & 1
            out += value * (1.0 - 2.0 * parity)
        if self.noise_sd:
            out = out + self.rng.normal(0.0, self.noise_sd, size=out.shape)
        return out


class BoolPlanted(PackedPlanted):
    accepts_packed = False

    def __call__(self, masks) -> np.ndarray:
        assert isinstance(masks, np.ndarray) and masks.dtype == bool
        return super().__call__(PackedMasks(np.packbits(masks, axis=1, bitorder="little"), masks.shape[1]))


@pytest.mark.parametrize("n", [1, 7, 8, 63, 64, 65, 200])
def test_pack_words_layout_matches_packbits_and_round_trips(n):
    rows = np.random.default_rng(n).random((5, n)) < 0.5
    words = pack_words(rows)
    assert words.dtype == np.dtype("<u8") and words.shape == (5, (n + 63) // 64)
    for r in range(5):  # unit i is bit i % 64 of word i // 64
        for i in range(n):
            assert bool((int(words[r, i // 64]) >> (i % 64)) & 1) == rows[r, i]
    assert np.array_equal(unpack_words(words, n), rows)
    packed = PackedMasks.from_bool(rows)
    assert np.array_equal(packed.bits, np.packbits(rows, axis=1, bitorder="little"))
    assert np.array_equal(packed.unpack(), rows) and packed.shape == (5, n) and len(packed) == 5
    assert np.array_equal(packed[3], rows[3]) and np.array_equal(packed[1:3].unpack(), rows[1:3])


def test_packed_masks_reject_bad_input_with_a_clear_line():
    with pytest.raises(ValueError, match="2-d uint8"):
        PackedMasks(np.zeros((2, 2), dtype=np.int64), 16)
    with pytest.raises(ValueError, match="width 3 bytes does not match n=10 units \\(2 bytes\\)"):
        PackedMasks(np.zeros((2, 3), dtype=np.uint8), 10)
    bits = np.zeros((3, 2), dtype=np.uint8)
    bits[2, 1] = 1 << 3  # unit 11 of a 10-unit mask
    with pytest.raises(ValueError, match=r"bits beyond unit 9 \(rows \[2\]\)"):
        PackedMasks(bits, 10)


def test_design_masks_follow_the_definition_for_n_above_one_word():
    n, t, b = 150, 3, 4
    design = build_design(n, t, b, 2, seed=8)
    rows = np.arange(design.n_queries)
    c, p, ell = rows // (design.n_delays * 2**b), (rows // 2**b) % design.n_delays, rows % 2**b
    ell_bits = (ell[:, None] >> np.arange(b)) & 1
    expect = np.einsum("rib,rb->ri", design.hashes[c].astype(np.int64), ell_bits) % 2 == 1
    expect ^= design.delays[p]
    assert np.array_equal(design.masks(rows), expect)
    assert np.array_equal(unpack_words(design.packed_masks(rows), n), expect)
    assert np.array_equal(design.span[c, ell], expect ^ design.delays[p])
    chunks = [m for _, m in design.unique_masks(100, packed=True)]
    assert all(isinstance(m, PackedMasks) and m.n == n for m in chunks)
    got = np.concatenate([m.unpack() for m in chunks])
    assert np.array_equal(got, expect[design.unique_rows])


@pytest.mark.parametrize("n, noise", [(90, 0.0), (300, 0.05)])
def test_packed_value_function_gives_the_same_result_bit_for_bit(n, noise):
    sf = random_sparse_function(n, 25, seed=n, constant=0.3)
    packed_f = PackedPlanted(sf.truth, noise, seed=1)
    bool_f = BoolPlanted(sf.truth, noise, seed=1)
    a = spex(packed_f, n, b=5, seed=3, batch_size=500)
    b = spex(bool_f, n, b=5, seed=3, batch_size=500)
    assert a.fourier == b.fourier and a.n_evaluations == b.n_evaluations
    assert [len(x) for x in packed_f.seen] == [len(x) for x in bool_f.seen]
    assert max(len(x) for x in packed_f.seen) <= 500
    seen = np.concatenate(packed_f.seen)
    assert np.array_equal(seen, np.concatenate(bool_f.seen))
    assert np.unique(seen, axis=0).shape[0] == seen.shape[0] == a.n_evaluations  # each distinct mask once
    if noise == 0.0:
        assert set(a.fourier) == set(sf.truth.fourier)


def test_value_function_unpacks_for_functions_that_do_not_accept_packed():
    rows = np.random.default_rng(0).random((7, 12)) < 0.5
    got = []

    def f(masks):
        got.append(masks)
        return masks.sum(axis=1)

    vf = ValueFunction(f, 12, max_batch=3)
    assert not vf.accepts_packed
    out = vf(PackedMasks.from_bool(rows))
    assert np.array_equal(out, rows.sum(axis=1)) and vf.n_evaluations == 7
    assert all(m.dtype == bool for m in got) and [len(m) for m in got] == [3, 3, 1]
    with pytest.raises(ValueError, match="mask width 12 does not match the 13 units"):
        ValueFunction(f, 13)(PackedMasks.from_bool(rows))


def test_packed_non_finite_value_names_the_row_and_its_ablated_units():
    def f(masks):
        out = np.zeros(len(masks))
        out[1] = np.nan
        return out

    f.accepts_packed = True
    rows = np.ones((3, 10), dtype=bool)
    rows[1, [2, 5]] = False
    with pytest.raises(ValueError, match=r"row 1: nan \(ablated units \[2, 5\]\)"):
        ValueFunction(f, 10)(PackedMasks.from_bool(rows))


@pytest.mark.parametrize("n", [1, 40, 62, 63, 130, 3000])
def test_design_keys_are_the_xor_of_unit_tags(n):
    """The packed-word key computation equals its definition: XOR of the tags of the set units."""
    from spex_mech.algorithms.spex import design as design_mod

    rng = np.random.default_rng(n)
    hashes = rng.random((2, n, 5)) < 0.5
    delays = rng.random((9, n)) < 0.5
    keys, exact = design_mod._design_keys(hashes, delays)
    assert exact == (n <= 62)
    if exact:
        tags = [1 << i for i in range(n)]
    else:
        tags = np.random.default_rng(0x5BEC5).integers(0, 2**63, size=n, dtype=np.int64).astype(np.uint64)
        tags ^= np.random.default_rng(0xC0DE).integers(0, 2, size=n, dtype=np.int64).astype(np.uint64) << np.uint64(63)
        tags = [int(x) for x in tags]

    def key(row):
        out = 0
        for i in np.nonzero(row)[0]:
            out ^= tags[i]
        return out

    for c in range(2):
        for p in range(9):
            for ell in (0, 1, 6, 31):
                row = delays[p].copy()
                for i in range(5):
                    if (ell >> i) & 1:
                        row ^= hashes[c, :, i]
                assert int(keys[c, p, ell]) == key(row)
