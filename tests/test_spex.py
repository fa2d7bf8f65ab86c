"""SPEX end to end on functions with known spectra (the oracles), plus its design, plan and errors.

Truth comes from ``spex_mech.synthetic`` (seeded random sparse spectra) or from ``spex_mech.exhaustive``;
nothing is compared against SPEX's own output. The synthetic functions are evaluated here by a direct
gather of the planted spectrum (Σ_k F(k)·(−1)^(Σ_{i∈k} x_i)), checked against the generator itself.
"""

from __future__ import annotations

import numpy as np
import pytest

import spex_mech as sm
from spex_mech.algorithms.spex import BCHCode, spex, spex_plan
from spex_mech.algorithms.spex.design import build_design
from spex_mech.algorithms.spex.refit import predict_design
from spex_mech.algorithms.spex.wht import fwht
from spex_mech.synthetic import random_sparse_function

NS = (64, 256, 1024, 4096)
KS_AND_B = ((10, 4), (50, 6), (200, 7))  # b well below the default 8: the sparse regime at low cost
SEEDS = (0, 1, 2)


class PlantedFunction:
    """Evaluates a planted Fourier spectrum by direct gathering, optionally with Gaussian noise."""

    def __init__(self, truth: sm.Interactions, noise_sd: float = 0.0, seed: int = 0, labels=None):
        self.n = truth.n
        self.keys = np.where(truth.keys < 0, truth.n, truth.keys)
        self.values = truth.coefficients
        self.noise_sd = noise_sd
        self.rng = np.random.default_rng(seed)
        self.rows_seen = 0
        self.batches: list[int] = []
        if labels is not None:
            self.labels = labels

    def clean(self, masks: np.ndarray) -> np.ndarray:
        padded = np.concatenate([np.asarray(masks, bool), np.zeros((len(masks), 1), bool)], axis=1)
        parity = np.bitwise_xor.reduce(padded[:, self.keys], axis=2)  # [B, K]
        return (1.0 - 2.0 * parity) @ self.values

    def __call__(self, masks: np.ndarray) -> np.ndarray:
        self.rows_seen += len(masks)
        self.batches.append(len(masks))
        out = self.clean(masks)
        if self.noise_sd:
            out = out + self.rng.normal(0.0, self.noise_sd, size=out.shape)
        return out


def energy_recovered(truth: dict, got: dict) -> float:
    keys = set(truth) | set(got)
    err = sum((truth.get(k, 0.0) - got.get(k, 0.0)) ** 2 for k in keys)
    return 1.0 - err / sum(v**2 for v in truth.values())


def exact_match(truth: dict, got: dict, rtol: float = 1e-6) -> bool:
    if set(truth) != set(got):
        return False
    return all(abs(got[k] - v) <= rtol * abs(v) for k, v in truth.items())


def test_planted_oracle_agrees_with_the_generator():
    sf = random_sparse_function(300, 40, seed=3, constant=0.7)
    masks = sm.valuefn.uniform_masks(300, 200, seed=4)
    assert np.allclose(PlantedFunction(sf.truth).clean(masks), sf.clean(masks), atol=1e-12)


# ---------------------------------------------------------------------------- recovery
@pytest.fixture(scope="module")
def noiseless_trials():
    rows = []
    for n in NS:
        for k, b in KS_AND_B:
            for seed in SEEDS:
                sf = random_sparse_function(n, k, seed=10_000 + 97 * seed + n + k)
                f = PlantedFunction(sf.truth)
                res = spex(f, n, max_order=5, b=b, seed=seed)
                rows.append((n, k, seed, sf.truth.fourier, res, f.rows_seen))
    return rows


def test_noiseless_exact_support_and_coefficients(noiseless_trials):
    exact = [exact_match(truth, res.fourier) for _, _, _, truth, res, _ in noiseless_trials]
    failures = [(n, k, s) for (n, k, s, *_), ok in zip(noiseless_trials, exact) if not ok]
    assert np.mean(exact) >= 0.95, failures
    for n in NS:  # every n and every K is covered
        assert any(ok for (m, *_), ok in zip(noiseless_trials, exact) if m == n)


def test_noiseless_counts_and_metadata(noiseless_trials):
    for n, k, seed, _, res, rows_seen in noiseless_trials:
        assert res.algorithm == "spex"
        assert res.n_evaluations == rows_seen  # every evaluation counted, none hidden
        plan = spex_plan(n, max_order=5, b=res.params["b"], seed=seed)
        assert res.n_evaluations == plan.n_evaluations
        assert res.params["n_queries"] == 3 * (plan.n_parity + 1) * 2 ** res.params["b"]
        assert res.n_evaluations < res.params["n_queries"]  # the repeated masks were evaluated once


@pytest.fixture(scope="module")
def noisy_trials():
    rows = []
    for n in NS:
        for k, b in KS_AND_B:
            for seed in SEEDS:
                sf = random_sparse_function(n, k, snr_db=20.0, seed=20_000 + 89 * seed + n + k)
                f = PlantedFunction(sf.truth, noise_sd=sf.noise_sd, seed=seed + 1)
                res = spex(f, n, max_order=5, b=b, seed=seed)
                rows.append((n, k, seed, sf, res))
    return rows


def test_noisy_20db_recovers_95_percent_of_energy(noisy_trials):
    for n, k, seed, sf, res in noisy_trials:
        assert energy_recovered(sf.truth.fourier, res.fourier) >= 0.95, (n, k, seed)


def test_noisy_noise_level_is_estimated(noisy_trials):
    for n, k, seed, sf, res in noisy_trials:
        assert res.params["noise_sd"] == pytest.approx(sf.noise_sd, rel=0.2), (n, k, seed)
        assert res.params["noise_sd_bins"] == pytest.approx(sf.noise_sd, rel=0.3), (n, k, seed)


def test_faithfulness_on_held_out_masks_noisy(noisy_trials):
    n, k, seed, sf, res = noisy_trials[-1]  # n = 4096, K = 200
    masks = sm.valuefn.uniform_masks(n, 1000, seed=99)
    assert sm.r2_score(PlantedFunction(sf.truth).clean(masks), res.predict(masks)) > 0.98


def test_refit_beats_peeled_estimates_under_noise():
    sf = random_sparse_function(512, 60, snr_db=10.0, seed=5)
    errs = {}
    for refine in (False, True):
        f = PlantedFunction(sf.truth, noise_sd=sf.noise_sd, seed=6)
        res = spex(f, 512, b=7, seed=1, refine=refine)
        errs[refine] = 1.0 - energy_recovered(sf.truth.fourier, res.fourier)
    assert errs[True] < errs[False]


def test_hard_decoder_and_unrefined_output_are_exact_without_noise():
    sf = random_sparse_function(700, 80, seed=8, constant=1.5)
    for decoder, refine in (("hard", True), ("soft", False)):
        res = spex(PlantedFunction(sf.truth), 700, b=7, decoder=decoder, refine=refine, seed=2)
        assert exact_match(sf.truth.fourier, res.fourier), (decoder, refine)


def test_empty_set_is_reported_only_when_the_function_has_a_constant():
    """∅ joins every refit but, like any term, is kept only when significant (sweep seed that once leaked a 1e-15 ∅)."""
    n, k, b, seed = 256, 10, 4, 9
    for constant in (0.0, 0.75):
        sf = random_sparse_function(n, k, seed=50_000 + 1000 * n + 31 * k + seed, constant=constant)
        res = spex(PlantedFunction(sf.truth), n, max_order=5, b=b, seed=seed)
        assert (() in res.fourier) == (constant != 0.0)
        assert exact_match(sf.truth.fourier, res.fourier)


def test_hierarchical_mobius_function():
    sf = random_sparse_function(150, 25, orders=(1, 2, 3), basis="mobius", seed=9)
    res = spex(PlantedFunction(sf.truth), 150, max_order=3, b=8, seed=0)
    assert exact_match(sf.truth.fourier, res.fourier)
    truth_mobius = sf.truth.mobius()
    got = res.mobius()
    assert max(abs(got.get(s, 0.0) - v) for s, v in truth_mobius.items()) < 1e-9


# ---------------------------------------------------------------------------- agreement with exhaustive
@pytest.mark.parametrize("n", [8, 12, 16])
def test_agrees_with_exhaustive_on_small_n(n):
    sf = random_sparse_function(n, 10, orders=(1, 2, 3), constant=-0.4, seed=n)
    truth = sm.exhaustive(sf, n).fourier
    truth = {k: v for k, v in truth.items() if abs(v) > 1e-12}
    res = spex(sf, n, max_order=3, b=5, seed=n)
    assert exact_match(truth, res.fourier)


@pytest.mark.slow
def test_agrees_with_exhaustive_on_the_demo_induction_head_game():
    from spex_mech.zoo import induction

    game = induction.game()
    ex = sm.exhaustive(game)
    table = ex.values_table  # the game is deterministic: replay its exhaustive values by mask code

    def replay(masks):
        codes = (np.asarray(masks, np.int64) << np.arange(game.n)).sum(axis=1)
        return table[codes]

    replay.labels = ex.labels
    res = spex(replay, game.n, max_order=game.n - 1, b=game.n, seed=0)
    scale = max(abs(v) for v in ex.fourier.values())
    # only the single order-n coefficient (out of reach for max_order = n − 1) is missing
    diff = max(abs(ex.fourier.get(k, 0.0) - res.fourier.get(k, 0.0)) for k in set(ex.fourier) | set(res.fourier))
    assert diff < 1e-4 * scale
    assert [t.units for t in res.top(5)] == [t.units for t in ex.top(5)]
    assert res.labels == ex.labels


# ---------------------------------------------------------------------------- the design
def test_design_masks_are_hash_span_plus_bch_delays():
    n, t, b = 90, 4, 5
    design = build_design(n, t, b, 3, seed=3)
    code = BCHCode(n, t)
    assert np.array_equal(design.delays[1:], code.parity_matrix)
    assert not design.delays[0].any()
    rng = np.random.default_rng(0)
    rows = rng.integers(0, design.n_queries, size=200)
    c, p, ell = rows // (design.n_delays * 2**b), (rows // 2**b) % design.n_delays, rows % 2**b
    ell_bits = (ell[:, None] >> np.arange(b)) & 1
    expect = np.array([(design.hashes[ci].astype(int) @ lb) % 2 for ci, lb in zip(c, ell_bits)]).astype(bool)
    expect ^= design.delays[p]
    assert np.array_equal(design.masks(rows), expect)
    # ⟨d_p, k⟩ for p ≥ 1 is the BCH parity word of k
    k = np.zeros(n, bool)
    k[[3, 40, 77]] = True
    assert np.array_equal(design.delays[1:].astype(int) @ k % 2 == 1, code.encode(k[None])[0, : code.n_parity])


def test_bin_observations_alias_the_spectrum_as_designed():
    """U_{c,p}[j] = Σ_{k: M_cᵀk = j} F(k)(−1)^⟨d_p,k⟩, checked against the planted spectrum."""
    n, b = 40, 4
    sf = random_sparse_function(n, 12, orders=(1, 2, 3), constant=0.5, seed=11)
    design = build_design(n, 3, b, 2, seed=5)
    samples = PlantedFunction(sf.truth).clean(design.masks(np.arange(design.n_queries)))
    obs = fwht(samples.reshape(2, design.n_delays, 2**b)) / 2**b
    expect = np.zeros_like(obs)
    for key, val in sf.truth.fourier.items():
        kvec = np.zeros(n, int)
        kvec[list(key)] = 1
        for c in range(2):
            j = int(((design.hashes[c].astype(int).T @ kvec) % 2) @ (1 << np.arange(b)))
            expect[c, :, j] += val * (-1.0) ** ((design.delays.astype(int) @ kvec) % 2)
    assert np.allclose(obs, expect, atol=1e-12)


def test_structured_prediction_matches_direct_evaluation():
    n = 70
    sf = random_sparse_function(n, 15, seed=12, constant=0.2)
    design = build_design(n, 5, 4, 3, seed=1)
    units = np.full((len(sf.truth), 5), -1)
    for i, key in enumerate(sf.truth.supports):
        units[i, : len(key)] = key
    pred = predict_design(design, units, sf.truth.coefficients).reshape(-1)
    direct = PlantedFunction(sf.truth).clean(design.masks(np.arange(design.n_queries)))
    assert np.allclose(pred, direct, atol=1e-12)


def test_duplicate_masks_are_found_exactly():
    for n, b in ((20, 6), (200, 5)):
        design = build_design(n, 3, b, 3, seed=0)
        masks = design.masks(np.arange(design.n_queries))
        distinct = np.unique(np.packbits(masks, axis=1), axis=0).shape[0]
        assert design.n_evaluations == distinct
        assert np.array_equal(design.masks(design.unique_rows[design.inverse.reshape(-1)]), masks)


# ---------------------------------------------------------------------------- plan, seeds, batching
def test_plan_is_exact_and_the_value_function_sees_each_mask_once():
    sf = random_sparse_function(100, 10, seed=1)
    seen = []

    def f(masks):
        seen.append(np.packbits(masks, axis=1))
        return PlantedFunction(sf.truth).clean(masks)

    plan = spex_plan(100, max_order=4, b=5, seed=7)
    res = spex(f, 100, max_order=4, b=5, seed=7)
    allrows = np.concatenate(seen)
    assert res.n_evaluations == plan.n_evaluations == allrows.shape[0]
    assert np.unique(allrows, axis=0).shape[0] == allrows.shape[0]
    assert plan.n_queries == plan.n_groups * (plan.n_parity + 1) * 2**plan.b
    assert (plan.b, plan.max_order, plan.n_groups) == (5, 4, 3)


def test_budget_picks_the_largest_b_that_fits():
    for budget in (3_000, 12_000, 40_000):
        plan = spex_plan(1000, budget=budget)
        assert plan.n_evaluations <= budget
        assert spex_plan(1000, b=plan.b + 1).n_evaluations > budget
    assert spex_plan(1000).b == 8


def test_batch_size_caps_calls_and_results_do_not_depend_on_it():
    sf = random_sparse_function(128, 20, seed=2)
    f1, f2 = PlantedFunction(sf.truth), PlantedFunction(sf.truth)
    r1 = spex(f1, 128, b=5, seed=4, batch_size=700)
    r2 = spex(f2, 128, b=5, seed=4)
    assert max(f1.batches) <= 700 and len(f1.batches) > 1
    assert r1.fourier == r2.fourier


def test_seeded_and_leaves_the_global_rng_alone():
    sf = random_sparse_function(256, 30, seed=3)
    np.random.seed(123)
    state = np.random.get_state()[1].copy()
    a = spex(PlantedFunction(sf.truth), 256, b=6, seed=9)
    assert np.array_equal(np.random.get_state()[1], state)
    b = spex(PlantedFunction(sf.truth), 256, b=6, seed=9)
    c = spex(PlantedFunction(sf.truth), 256, b=6, seed=10)
    assert a.fourier == b.fourier
    assert not np.array_equal(build_design(256, 5, 6, 3, 9).hashes, build_design(256, 5, 6, 3, 10).hashes)
    assert exact_match(sf.truth.fourier, c.fourier)


def test_result_round_trips_through_json():
    sf = random_sparse_function(80, 12, seed=6, snr_db=30.0)
    res = spex(PlantedFunction(sf.truth, sf.noise_sd), 80, b=5)
    back = sm.Interactions.from_json(res.to_json())
    assert back.fourier == res.fourier and back.params["b"] == 5 and back.n_evaluations == res.n_evaluations


def test_labels_and_ids_are_carried_through():
    sf = random_sparse_function(30, 5, orders=(1, 2), seed=4)
    f = PlantedFunction(sf.truth, labels=[f"h{i}" for i in range(30)])
    f.ids = [f"blocks.0.attn.hook_z[{i}]" for i in range(30)]
    res = spex(f, max_order=2, b=4)  # n from f.n
    assert res.labels == f.labels and res.ids == f.ids
    assert res.top(1)[0].labels == tuple(f.labels[i] for i in res.top(1)[0].units)


def test_known_noise_level_can_be_given():
    sf = random_sparse_function(300, 30, snr_db=20.0, seed=13)
    res = spex(PlantedFunction(sf.truth, sf.noise_sd, seed=2), 300, b=6, noise_sd=sf.noise_sd)
    assert res.params["noise_sd_bins"] == pytest.approx(sf.noise_sd)
    assert energy_recovered(sf.truth.fourier, res.fourier) > 0.95


# ---------------------------------------------------------------------------- errors
def _zeros(masks):
    return np.zeros(len(masks))


def test_error_max_order_must_be_below_n():
    with pytest.raises(ValueError, match="max_order=5 must be smaller than the number of units n=5"):
        spex(_zeros, 5)
    with pytest.raises(ValueError, match="max_order must be at least 1"):
        spex(_zeros, 10, max_order=0)
    with pytest.raises(ValueError, match="max_order"):
        spex_plan(3, max_order=3)


def test_error_budget_too_small_names_the_minimum():
    minimum = spex_plan(100, b=3).n_evaluations
    with pytest.raises(ValueError, match=f"too small.*at least {minimum}"):
        spex(_zeros, 100, budget=minimum - 1)
    assert spex_plan(100, budget=minimum).b == 3


def test_error_b_too_large_for_budget_or_n():
    need = spex_plan(100, b=8).n_evaluations
    fits = spex_plan(100, budget=5000)
    with pytest.raises(
        ValueError, match=f"b=8 needs {need} evaluations.*budget of 5000.*largest b within this budget is b={fits.b}"
    ):
        spex(_zeros, 100, b=8, budget=5000)
    with pytest.raises(ValueError, match="b=9 is too large"):
        spex(_zeros, 8, max_order=2, b=9)


def test_error_bad_decoder_or_noise():
    with pytest.raises(ValueError, match="decoder"):
        spex(_zeros, 20, max_order=2, b=3, decoder="fast")
    with pytest.raises(ValueError, match="noise_sd"):
        spex(_zeros, 20, max_order=2, b=3, noise_sd=-1.0)
    with pytest.raises(ValueError, match="batch_size must be at least 1"):
        spex(_zeros, 20, max_order=2, b=3, batch_size=0)


def test_error_value_function_wrong_shape():
    with pytest.raises(ValueError, match=r"returned shape \(\d+, 2\)"):
        spex(lambda m: np.zeros((len(m), 2)), 20, max_order=2, b=3)
    with pytest.raises(ValueError, match="returned shape"):
        spex(lambda m: np.zeros(len(m) + 1), 20, max_order=2, b=3)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_error_value_function_non_finite(bad):
    def f(masks):
        out = np.ones(len(masks))
        out[masks[:, 0] & masks[:, 1]] = bad
        return out

    with pytest.raises(ValueError, match="non-finite value"):
        spex(f, 20, max_order=2, b=3)


def test_params_are_a_typed_frozen_record_with_one_name_per_quantity():
    import dataclasses
    import json

    from spex_mech.algorithms.spex import SpexParams

    sf = random_sparse_function(80, 12, seed=6, snr_db=30.0)
    res = spex(PlantedFunction(sf.truth, sf.noise_sd), 80, max_order=4, b=5, n_groups=2, seed=3)
    p = res.params
    assert isinstance(p, SpexParams)
    assert (p.b, p.max_order, p.n_groups, p.seed) == (5, 4, 2, 3)
    assert p["max_order"] == 4 and p["n_groups"] == 2 and p.refine is True and p.noise_sd > 0
    assert "t" not in p and "C" not in p  # the papers' names are documented, not duplicated
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.b = 6
    back = json.loads(res.to_json())["params"]
    assert back == json.loads(json.dumps(p.to_dict())) and back["bch"] == list(p.bch)
    plain = spex(PlantedFunction(sf.truth, sf.noise_sd), 80, max_order=4, b=5, seed=3, refine=False).params
    assert plain.refine is False and plain.noise_sd is None and plain.refit_terms is None
