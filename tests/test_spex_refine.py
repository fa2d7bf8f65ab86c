"""The SPEX refine step under noise: singletons join only through a score test, so pure noise adds none.

Oracle: planted spectra (``spex_mech.synthetic``) with extra weak singletons placed at a known number of
standard errors σ/√N (σ the noise, N the design rows), evaluated by direct gathering plus Gaussian noise.
"""

from __future__ import annotations

import numpy as np
import pytest

import spex_mech as sm
from spex_mech.algorithms.spex import spex, spex_plan
from spex_mech.algorithms.spex.design import build_design
from spex_mech.algorithms.spex.refit import refit_support, singleton_scores
from spex_mech.algorithms.spex.wht import fwht
from spex_mech.synthetic import random_sparse_function

from .test_spex import PlantedFunction

N_UNITS, B, N_WEAK, WEAK_Z = 2000, 6, 5, 9.0


def _planted_with_weak_singletons(seed: int):
    sf = random_sparse_function(N_UNITS, 20, snr_db=20.0, seed=600 + seed)
    rows = spex_plan(N_UNITS, b=B, seed=seed).n_queries
    rng = np.random.default_rng(seed)
    taken = {k[0] for k in sf.truth.fourier if len(k) == 1}
    free = np.setdiff1d(np.arange(N_UNITS), sorted(taken))
    weak = rng.choice(free, size=N_WEAK, replace=False)
    fourier = dict(sf.truth.fourier)
    for i in weak:
        fourier[(int(i),)] = float(rng.choice([-1.0, 1.0]) * WEAK_Z * sf.noise_sd / np.sqrt(rows))
    return sm.Interactions.from_fourier(fourier, N_UNITS), sf.noise_sd, {(int(i),) for i in weak}


@pytest.fixture(scope="module")
def refine_runs():
    runs = []
    for seed in range(4):
        truth, sd, weak = _planted_with_weak_singletons(seed)
        refined = spex(PlantedFunction(truth, sd, seed=seed + 1), N_UNITS, b=B, seed=seed)
        peeled = spex(PlantedFunction(truth, sd, seed=seed + 1), N_UNITS, b=B, seed=seed, refine=False)
        runs.append((truth.fourier, weak, refined, peeled))
    return runs


def test_refine_reports_no_spurious_term_under_noise(refine_runs):
    for truth, _, refined, _ in refine_runs:
        assert not [k for k in refined.fourier if k not in truth]
        assert refined.params["singletons_tested"] >= N_UNITS - 20


def test_refine_still_finds_weak_singletons_that_peeling_cannot(refine_runs):
    found = 0
    for _, weak, refined, peeled in refine_runs:
        assert not weak & set(peeled.fourier)  # below the peeling decoder's reach …
        found += len(weak & set(refined.fourier))  # … but several standard errors out for the refit
    assert found >= 0.9 * N_WEAK * len(refine_runs)


def test_singleton_scores_are_one_step_least_squares_estimates():
    """Score of {i} = ⟨residual, column of {i}⟩ / N, computed here on the dense design."""
    n, b = 70, 4
    design = build_design(n, 3, b, 2, seed=4)
    rng = np.random.default_rng(1)
    samples = rng.normal(size=design.n_queries)
    obs = fwht(samples.reshape(design.n_groups, design.n_delays, 2**b)) / 2**b
    support = np.array([[-1, -1, -1], [5, 9, -1]])
    fit = refit_support(design, obs, support)
    masks = design.masks(np.arange(design.n_queries))
    columns = np.stack([np.ones(design.n_queries), 1.0 - 2.0 * (masks[:, 5] ^ masks[:, 9])], axis=1)
    resid = samples - columns @ fit.values
    expect = ((1.0 - 2.0 * masks).T @ resid) / design.n_queries
    per_group = singleton_scores(design, fit.residual)
    assert per_group.shape == (2, n)
    assert np.allclose(per_group.mean(axis=0), expect, atol=1e-12)
