"""Transforms and the Interactions result type against brute-force definitions (n ≤ 8)."""

from __future__ import annotations

from itertools import combinations
from math import comb, factorial

import numpy as np
import pytest

import spex_mech as sm
from spex_mech import transforms as T
from spex_mech.results import spectrum as spec
from spex_mech.synthetic import random_sparse_function


def table_function(values):
    """A value function backed by a full table (bit j of the row index = unit j)."""
    n = len(values).bit_length() - 1

    def f(masks):
        idx = (np.asarray(masks, dtype=np.int64) << np.arange(n)).sum(axis=1)
        return values[idx]

    f.n = n
    return f


def code(subset):
    return int(sum(1 << i for i in subset))


def all_subsets(items):
    items = list(items)
    for r in range(len(items) + 1):
        yield from combinations(items, r)


def delta(v, T_, S):
    """Discrete derivative Δ_T v(S) = Σ_{L ⊆ T} (−1)^{|T|−|L|} v(S ∪ L)."""
    return sum((-1) ** (len(T_) - len(L)) * v[code(S) | code(L)] for L in all_subsets(T_))


# ---------------------------------------------------------------- brute-force definitions
def bf_shapley(v, n):
    out = np.zeros(n)
    for i in range(n):
        rest = [j for j in range(n) if j != i]
        for S in all_subsets(rest):
            w = factorial(len(S)) * factorial(n - len(S) - 1) / factorial(n)
            out[i] += w * (v[code(S) | (1 << i)] - v[code(S)])
    return out


def bf_banzhaf(v, n):
    out = np.zeros(n)
    for i in range(n):
        rest = [j for j in range(n) if j != i]
        out[i] = sum(v[code(S) | (1 << i)] - v[code(S)] for S in all_subsets(rest)) / 2 ** (n - 1)
    return out


def bf_sii(v, n, order):
    out = {}
    for t in range(1, order + 1):
        for T_ in combinations(range(n), t):
            rest = [j for j in range(n) if j not in T_]
            out[T_] = sum(
                factorial(n - len(S) - t) * factorial(len(S)) / factorial(n - t + 1) * delta(v, T_, S)
                for S in all_subsets(rest)
            )
    return out


def bf_bii(v, n, order):
    out = {}
    for t in range(1, order + 1):
        for T_ in combinations(range(n), t):
            rest = [j for j in range(n) if j not in T_]
            out[T_] = sum(delta(v, T_, S) for S in all_subsets(rest)) / 2 ** (n - t)
    return out


def bf_stii(v, n, k):
    out = {}
    for t in range(0, k + 1):
        for T_ in combinations(range(n), t):
            if t < k:
                out[T_] = delta(v, T_, ())
            else:
                rest = [j for j in range(n) if j not in T_]
                out[T_] = k / n * sum(delta(v, T_, S) / comb(n - 1, len(S)) for S in all_subsets(rest))
    return out


def _design(n, order):
    terms = [T_ for t in range(order + 1) for T_ in combinations(range(n), t)]
    X = np.zeros((1 << n, len(terms)))
    for c in range(1 << n):
        members = {j for j in range(n) if c >> j & 1}
        for k, T_ in enumerate(terms):
            X[c, k] = float(set(T_) <= members)
    return terms, X


def bf_faith_banzhaf(v, n, order):
    terms, X = _design(n, order)
    beta = np.linalg.lstsq(X, v, rcond=None)[0]
    return dict(zip(terms, beta))


def bf_faith_shapley(v, n, order):
    """Tsai et al. 2023: Shapley-kernel-weighted least squares with f(∅), f(N) fitted exactly (KKT)."""
    terms, X = _design(n, order)
    sizes = T.popcount(np.arange(1 << n))
    inner = (sizes > 0) & (sizes < n)
    w = np.zeros(1 << n)
    w[inner] = (n - 1) / (np.array([comb(n, s) for s in sizes[inner]]) * sizes[inner] * (n - sizes[inner]))
    C = X[[0, (1 << n) - 1]]
    d = v[[0, (1 << n) - 1]]
    A = X[inner] * np.sqrt(w[inner])[:, None]
    y = v[inner] * np.sqrt(w[inner])
    kkt = np.block([[2 * A.T @ A, C.T], [C, np.zeros((2, 2))]])
    rhs = np.concatenate([2 * A.T @ y, d])
    sol = np.linalg.lstsq(kkt, rhs, rcond=None)[0]
    return dict(zip(terms, sol[: len(terms)]))


def bf_k_sii(v, n, k):
    """Bord et al. 2023: k-SII(T) = Σ_{S ⊇ T, |S| ≤ k} B_{|S|−|T|} SII(S), Bernoulli B_1 = −1/2."""
    sii = bf_sii(v, n, k)
    bern = [1.0, -0.5, 1 / 6, 0.0, -1 / 30, 0.0, 1 / 42]
    out = {}
    for T_ in sii:
        out[T_] = sum(bern[len(S) - len(T_)] * val for S, val in sii.items() if set(T_) <= set(S))
    return out


# ---------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def dense_game():
    rng = np.random.default_rng(0)
    n = 6
    values = rng.normal(size=1 << n)
    return n, values


def test_transforms_invert_exactly():
    rng = np.random.default_rng(1)
    for n in (1, 3, 8, 12):
        v = rng.normal(size=1 << n)
        F = T.fourier_transform(v)
        np.testing.assert_allclose(T.inverse_fourier_transform(F), v, atol=1e-12)
        a = T.mobius_transform(v)
        np.testing.assert_allclose(T.inverse_mobius_transform(a), v, atol=1e-10)
        # Fourier and Möbius agree: each recovers the other through the documented formulas
        np.testing.assert_allclose(T.fourier_to_mobius_dense(F), a, atol=1e-10)
        np.testing.assert_allclose(T.mobius_to_fourier_dense(a), F, atol=1e-12)


def test_transforms_match_definitions():
    rng = np.random.default_rng(2)
    n = 5
    v = rng.normal(size=1 << n)
    masks = T.all_masks(n)
    F = T.fourier_transform(v)
    for k in range(1 << n):
        kbits = masks[k]
        direct = np.mean(v * (-1.0) ** (masks.astype(int) @ kbits.astype(int)))
        assert F[k] == pytest.approx(direct, abs=1e-12)
    a = T.mobius_transform(v)
    for s in range(1 << n):
        direct = sum((-1) ** (bin(s).count("1") - bin(t).count("1")) * v[t] for t in range(1 << n) if t & s == t)
        assert a[s] == pytest.approx(direct, abs=1e-12)


def test_exhaustive_result_reproduces_function(dense_game):
    n, v = dense_game
    res = sm.exhaustive(table_function(v))
    assert res.n_evaluations == 1 << n
    np.testing.assert_allclose(res.predict(T.all_masks(n)), v, atol=1e-10)
    assert res.faithfulness(table_function(v), n_samples=200) == pytest.approx(1.0)


def test_shapley_and_banzhaf_values(dense_game):
    n, v = dense_game
    for res in (sm.exhaustive(table_function(v)), _sparse_copy(sm.exhaustive(table_function(v)))):
        phi = res.shapley_values()
        np.testing.assert_allclose(phi, bf_shapley(v, n), atol=1e-10)
        assert phi.sum() == pytest.approx(v[-1] - v[0], abs=1e-10)  # efficiency: f(1) − f(0)
        np.testing.assert_allclose(res.banzhaf_values(), bf_banzhaf(v, n), atol=1e-10)


def _sparse_copy(res):
    """The same spectrum without the dense table: exercises the sparse conversion path."""
    return sm.Interactions(res.keys, res.coefficients, res.n)


def _compare(got, expected, atol=1e-9):
    keys = set(expected) | set(got)
    for key in keys:
        assert got.get(key, 0.0) == pytest.approx(expected.get(key, 0.0), abs=atol), key


@pytest.mark.parametrize("path", ["dense", "sparse"])
def test_indices_match_brute_force(dense_game, path):
    n, v = dense_game
    res = sm.exhaustive(table_function(v))
    if path == "sparse":
        res = _sparse_copy(res)
    _compare(res.mobius(), {tuple(j for j in range(n) if c >> j & 1): a for c, a in enumerate(T.mobius_transform(v))})
    for order in (1, 2, 3):
        _compare(res.index("SII", order), bf_sii(v, n, order))
        _compare(res.index("BII", order), bf_bii(v, n, order))
        _compare(res.index("STII", order), bf_stii(v, n, order))
        _compare(res.index("FBII", order), bf_faith_banzhaf(v, n, order), atol=1e-8)
        _compare({k: x for k, x in res.index("FSII", order).items()}, bf_faith_shapley(v, n, order), atol=1e-8)
        _compare(res.index("k-SII", order), bf_k_sii(v, n, order), atol=1e-9)
    sv = res.index("SV", 1)
    np.testing.assert_allclose([sv[(i,)] for i in range(n)], bf_shapley(v, n), atol=1e-10)


def test_mobius_of_sparse_fourier_equals_exhaustive():
    f = random_sparse_function(10, 12, orders=(1, 2, 3, 4), seed=3, constant=0.7)
    exact = sm.exhaustive(f)
    _compare(f.truth.mobius(), exact.mobius(), atol=1e-10)
    hier = random_sparse_function(9, 8, orders=(1, 2, 3), basis="mobius", seed=4)
    _compare(hier.truth.mobius(), sm.exhaustive(hier).mobius(), atol=1e-10)
    _compare(hier.truth.fourier, sm.exhaustive(hier).fourier, atol=1e-12)


def test_predict_and_faithfulness_on_sparse_truth():
    f = random_sparse_function(300, 20, seed=5)
    masks = np.random.default_rng(0).random((50, 300)) < 0.5
    np.testing.assert_allclose(f.truth.predict(masks), f.clean(masks), atol=1e-12)
    assert f.truth.faithfulness(f) == pytest.approx(1.0)
    assert f.truth.truncate(5).faithfulness(f) < 0.999


def test_top_and_labels():
    res = sm.Interactions.from_mobius({(0, 2): 3.0, (1,): -1.0, (): 5.0, (0, 1, 2): 0.5}, 3, labels=["A", "B", "C"])
    top = res.top(3)
    assert [t.units for t in top] == [(0, 2), (1,), (0, 1, 2)]
    assert top[0].labels == ("A", "C") and top[0].value == pytest.approx(3.0)
    assert str(top[0]) == "A × C: +3"
    assert res.top(1, basis="mobius", order=3)[0].units == (0, 1, 2)
    np.testing.assert_allclose(res.predict(np.array([[1, 0, 1], [0, 0, 0], [1, 1, 1]])), [8.0, 5.0, 7.5])


def test_json_and_dataframe_round_trip(tmp_path):
    res = sm.Interactions.from_fourier(
        {(0, 4): 0.25, (3,): -1.5, (): 2.0}, 6, labels=list("abcdef"), n_evaluations=77, algorithm="x", params={"b": 3}
    )
    again = sm.Interactions.from_json(res.to_json())
    assert again.fourier == res.fourier and again.labels == res.labels and again.n_evaluations == 77
    assert again.params == {"b": 3}
    path = tmp_path / "r.json"
    res.to_json(str(path))
    assert sm.Interactions.from_json(str(path)).fourier == res.fourier
    df = res.to_dataframe(basis="fourier")
    assert list(df.columns)[:4] == ["units", "labels", "order", "value"]
    assert df.iloc[0]["labels"] == "∅" and df.iloc[0]["value"] == pytest.approx(2.0)


def test_sparse_helpers_vectorised():
    keys = spec.canonical_keys([(3, 1), (), (1, 3), (2,)])
    k, v = spec.aggregate(keys, np.array([1.0, 2.0, 3.0, 4.0]))
    assert spec.keys_to_tuples(k) == [(), (1, 3), (2,)] and list(v) == [2.0, 4.0, 4.0]
    with pytest.raises(ValueError, match="lists a unit twice"):
        spec.canonical_keys([(1, 1)])


def test_parity_and_and_features_match_their_definitions():
    """χ_S(x) = (−1)^|x ∩ S| and AND_S(x) = [S ⊆ x], term by term, for keys of mixed width (∅ too)."""
    rng = np.random.default_rng(3)
    n = 13
    terms = [()] + [tuple(sorted(rng.choice(n, size=k, replace=False).tolist())) for k in rng.integers(1, 6, size=40)]
    keys = spec.canonical_keys(terms)
    masks = rng.random((57, n)) < 0.5
    parity = spec.fourier_features(keys, masks, n)
    kept = spec.and_features(keys, masks, n)
    for j, term in enumerate(terms):
        inside = masks[:, list(term)] if term else np.zeros((masks.shape[0], 0), bool)
        np.testing.assert_array_equal(parity[:, j], np.where(inside.sum(axis=1) % 2 == 1, -1.0, 1.0))
        np.testing.assert_array_equal(kept[:, j], inside.all(axis=1).astype(float))
    assert parity.dtype == kept.dtype == np.float64
    np.testing.assert_array_equal(spec.and_features(keys, masks.astype(np.int8), n), kept)  # 0/1 masks
    only_empty = np.full((3, 0), -1, np.int64)
    np.testing.assert_array_equal(spec.and_features(only_empty, masks, n), np.ones((57, 3)))
    with pytest.raises(ValueError, match="support mentions unit 13 but n=13"):
        spec.and_features(np.array([[13]]), masks, n)
    with pytest.raises(ValueError, match=r"masks must have shape \[B, 13\]"):
        spec.fourier_features(keys, masks[:, :12], n)
