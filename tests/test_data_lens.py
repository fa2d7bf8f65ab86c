"""Data lens (issue 6): retraining on training-data subsets, deterministic per-mask seeds, the on-disk store,
clear errors, the batched learner, the planted digits pair and the linear datamodeling score.

Oracles: hand-computed training sets and seeds, scipy's optimiser on the same objective, exhaustive
enumeration, the planted construction, closed-form Spearman; never the code's own output.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize
from scipy.stats import spearmanr

import spex_mech as sm
from spex_mech.results.interactions import r2_score
from spex_mech.store import MaskStore
from spex_mech.units.data import RetrainError, TrainingSubsets, mask_seed
from spex_mech.units.lds import Recorder, lds, lds_masks, linear_datamodel
from spex_mech.units.retrain import BatchedLogisticRegression
from spex_mech.zoo import digits

GROUPS = [[0, 1], [2], [3, 4, 5], [6], [7, 8]]
RNG_VALUES = np.random.default_rng(99).normal(size=9)


def noisy_train(indices, seed):
    """A 'training run' whose result depends on the kept data and on its seed."""
    return float(RNG_VALUES[indices].sum()) + np.random.default_rng(seed).normal()


def noisy_train_batched(keep, seeds):
    return np.array([noisy_train(np.nonzero(row)[0], s) for row, s in zip(keep, seeds)])


def identity(model):
    return model


# ------------------------------------------------------------------------------------ contract
def test_train_fn_gets_exactly_the_kept_examples_and_mask_seed():
    calls = []

    def train(indices, seed):
        calls.append((indices.tolist(), seed))
        return len(indices)

    game = TrainingSubsets(GROUPS, train, identity, always=[9], seed=4)
    assert game.n == 5 and game.labels == ["g0", "g1", "g2", "g3", "g4"]
    masks = np.array([[1, 0, 1, 0, 0], [0, 0, 0, 0, 0], [1, 1, 1, 1, 1]], dtype=bool)
    values = game(masks)
    assert calls[0][0] == [0, 1, 3, 4, 5, 9] and calls[1][0] == [9] and calls[2][0] == list(range(10))
    np.testing.assert_array_equal(values, [6, 1, 10])
    assert [c[1] for c in calls] == [mask_seed(m, 4) for m in masks]
    single = TrainingSubsets(3, train, identity)
    assert single.labels == ["ex0", "ex1", "ex2"] and single.ids == ["train[0]", "train[1]", "train[2]"]


def test_mask_seed_depends_only_on_the_mask_and_the_global_seed():
    a = np.array([1, 0, 1, 1, 0], dtype=bool)
    assert mask_seed(a, 0) == mask_seed(a.copy(), 0)
    assert mask_seed(a, 0) != mask_seed(a, 1)
    assert mask_seed(a, 0) != mask_seed(~a, 0)
    assert len({mask_seed(row, 0) for row in np.eye(5, dtype=bool)}) == 5


@pytest.mark.parametrize("batched", [False, True])
def test_same_seed_same_values_whatever_the_batch(batched):
    rng = np.random.default_rng(0)
    masks = rng.random((40, 5)) < 0.5
    fn = noisy_train_batched if batched else noisy_train
    first = TrainingSubsets(GROUPS, fn, identity, batched=batched, batch_size=16, seed=7)(masks)
    order = rng.permutation(40)
    again = TrainingSubsets(GROUPS, fn, identity, batched=batched, batch_size=3, seed=7)(masks[order])
    np.testing.assert_array_equal(again, first[order])
    other = TrainingSubsets(GROUPS, fn, identity, batched=batched, seed=8)(masks)
    assert not np.allclose(other, first)
    # the oracle: the kept data's sum plus the seeded noise of that very mask
    for mask, value in zip(masks[:5], first[:5]):
        kept = [i for j, g in enumerate(GROUPS) if mask[j] for i in g]
        expect = RNG_VALUES[kept].sum() + np.random.default_rng(mask_seed(mask, 7)).normal()
        assert value == pytest.approx(expect, abs=1e-12)


def test_duplicates_and_repeats_are_not_retrained():
    count = [0]

    def train(indices, seed):
        count[0] += 1
        return float(len(indices))

    game = TrainingSubsets(GROUPS, train, identity, batch_size=4)
    masks = np.array([[1, 1, 0, 0, 0], [1, 1, 0, 0, 0], [0, 0, 1, 0, 1]], dtype=bool)
    np.testing.assert_array_equal(game(masks), [3, 3, 5])
    game(masks[::-1])
    assert count[0] == 2 and game.n_evaluations == 2 and game.n_reused == 3


# ------------------------------------------------------------------------------------ store and errors
@pytest.mark.parametrize("batched", [False, True])
def test_failing_mask_is_named_and_finished_retrainings_are_kept(tmp_path, batched):
    def train(indices, seed):
        if 6 in indices and 0 in indices and 3 in indices:  # groups 3, 0 and 2 kept together
            raise RuntimeError("diverged")
        return float(len(indices))

    def train_batched(keep, seeds):
        return np.array([train(np.nonzero(row)[0], s) for row, s in zip(keep, seeds)])

    masks = np.zeros((10, 5), dtype=bool)
    masks[:, 1] = True
    masks[np.arange(10), np.arange(10) % 5] = True
    masks[6] = [1, 0, 1, 1, 0]  # the failing row
    game = TrainingSubsets(
        GROUPS,
        train_batched if batched else train,
        identity,
        batched=batched,
        batch_size=4,
        store=tmp_path / "store",
        labels=list("abcde"),
    )
    with pytest.raises(RetrainError) as err:
        game(masks)
    message = str(err.value)
    assert "mask row 6" in message and "kept units [a, c, d]" in message and "ablated units [b, e]" in message
    assert "diverged" in message and str(tmp_path / "store") in message
    assert err.value.row == 6 and err.value.units == ["b", "e"]
    # rows finished before the failure (and, batched, the failing chunk's other rows) are on disk
    stored, values = MaskStore(tmp_path / "store", 5, game.store.meta).load()
    finished = {tuple(r) for r in stored}
    assert {tuple(r) for r in masks[:6]} <= finished and tuple(masks[6]) not in finished
    if batched:
        assert tuple(masks[4]) in finished and tuple(masks[5]) in finished
    for row, value in zip(stored, values):
        assert value == sum(len(GROUPS[j]) for j in np.nonzero(row)[0])
    # a fresh object on the same store answers the finished masks without training
    calls = []
    def counting(indices, seed):
        calls.append(1)
        return float(len(indices))

    resumed = TrainingSubsets(GROUPS, counting, identity, store=tmp_path / "store", labels=list("abcde"))
    resumed(masks[:6])
    assert calls == [] and resumed.n_reused == 6


def test_non_finite_values_name_the_mask():
    def evaluate(model):
        return np.nan if model == 3 else float(model)

    game = TrainingSubsets(GROUPS, lambda i, s: len(i), evaluate)
    with pytest.raises(RetrainError, match=r"mask row 1 .*non-finite"):
        game(np.array([[1, 0, 0, 0, 0], [0, 0, 1, 0, 0]], dtype=bool))
    assert game.n_evaluations == 1


def test_store_refuses_a_different_game(tmp_path):
    TrainingSubsets(GROUPS, noisy_train, identity, store=tmp_path / "s", seed=1)(np.ones((1, 5), bool))
    with pytest.raises(ValueError, match="different value function"):
        TrainingSubsets(GROUPS, noisy_train, identity, store=tmp_path / "s", seed=2)


@pytest.mark.parametrize(
    "groups, kwargs, message",
    [
        ([[0, 1], [1, 2]], {}, "group 1 overlaps group 0 at example 1"),
        ([[0], []], {}, "group 1 is empty"),
        ([[0], [-2]], {}, "group 1 has a negative example index"),
        ([[0], [7]], {"n_examples": 5}, "group 1 mentions example 7, but n_examples=5"),
        ([[0], [3, 3]], {}, "group 1 lists an example twice"),
        ([[0], [1]], {"always": [1]}, "example 1 is both in group 1 and always kept"),
        ([[0], [1]], {"labels": ["a"]}, "1 labels for 2 units"),
    ],
)
def test_bad_groups_name_the_unit(groups, kwargs, message):
    with pytest.raises(ValueError) as err:
        TrainingSubsets(groups, noisy_train, identity, **kwargs)
    assert message in str(err.value)


# ------------------------------------------------------------------------------------ batched learner
def test_batched_logistic_regression_matches_scipy_on_each_mask():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(40, 3))
    y = rng.integers(0, 3, 40)
    l2 = 0.05
    learner = BatchedLogisticRegression(X, y, 3, l2=l2, steps=400, threads=1)
    keep = rng.random((3, 40)) < 0.6
    W = learner.fit(keep).numpy()
    Xt = np.hstack([X, np.ones((40, 1))])
    for b in range(3):
        rows = keep[b]

        def objective(flat):
            Wb = flat.reshape(4, 3)
            z = Xt[rows] @ Wb
            lse = np.log(np.exp(z - z.max(1, keepdims=True)).sum(1)) + z.max(1)
            onehot = np.eye(3)[y[rows]]
            loss = np.mean(lse - (z * onehot).sum(1)) + 0.5 * l2 * np.sum(Wb**2)
            grad = Xt[rows].T @ (np.exp(z - lse[:, None]) - onehot) / rows.sum() + l2 * Wb
            return loss, grad.ravel()

        ref = minimize(objective, np.zeros(12), jac=True, method="L-BFGS-B", options={"gtol": 1e-12, "ftol": 1e-15}).x
        np.testing.assert_allclose(W[b], ref.reshape(4, 3), atol=1e-5)
    # the same mask gets the same fit inside a different batch
    again = learner.fit(np.vstack([keep[2:], rng.random((5, 40)) < 0.5])).numpy()
    np.testing.assert_allclose(again[0], W[2], rtol=1e-12, atol=1e-12)


# ------------------------------------------------------------------------------------ LDS
def test_lds_is_spearman_of_predictions_on_half_subsets():
    masks = lds_masks(10, 50, alpha=0.5, seed=1)
    assert masks.shape == (50, 10) and (masks.sum(1) == 5).all()
    tau = np.arange(10.0)
    truth = masks @ tau + 0.3 * np.random.default_rng(2).normal(size=50)
    expect = spearmanr(masks @ tau, truth).statistic
    assert lds(tau, masks=masks, values=truth) == pytest.approx(expect)
    assert lds(lambda m: m @ tau, lambda m: m @ tau, masks=masks) == pytest.approx(1.0)


def test_linear_datamodel_recovers_a_linear_game_and_misses_an_and():
    rng = np.random.default_rng(5)
    w = np.array([2.0, -1.0, 0.0, 0.5, 0.0, 1.5])
    masks = rng.random((300, 6)) < 0.5
    linear = linear_datamodel(masks, 1.0 + masks @ w, alpha=1e-4)
    mob = linear.mobius()
    assert mob[()] == pytest.approx(1.0, abs=1e-2)
    for i, wi in enumerate(w):
        assert mob.get((i,), 0.0) == pytest.approx(wi, abs=1e-2)

    small = np.array([0.11, 0.052, 0.23, 0.147, 0.071, 0.019])  # distinct: no ties among the values

    def pair_game(m):
        m = np.asarray(m, bool)
        return 3.0 * (m[:, 1] & m[:, 4]) + m @ small

    held = lds_masks(6, 200, seed=9)
    fitted = linear_datamodel(masks, pair_game(masks))
    exact = sm.exhaustive(pair_game, 6)
    assert lds(exact, pair_game, masks=held) == pytest.approx(1.0)
    assert lds(fitted, pair_game, masks=held) < 0.9


# ------------------------------------------------------------------------------------ planted digits
@pytest.fixture(scope="module")
def planted_small():
    return digits.planted_lens(6, steps=120)


def test_planted_pair_is_the_top_interaction_exactly(planted_small):
    """Exhaustive retraining over 8 units: {A, B} is the top Möbius term; each alone does little."""
    exact = sm.exhaustive(planted_small)
    a, b = planted_small.planted
    top = exact.top(1)[0]
    assert top.units == (a, b) and top.value > 0.5
    mob = exact.mobius()
    assert abs(mob.get((a,), 0.0)) < 0.05 * top.value  # A alone cannot say which marker means c
    assert abs(mob.get((b,), 0.0)) < 0.5 * top.value
    assert all(abs(v) < 0.2 * top.value for k, v in mob.items() if k and k != (a, b) and k != (b,))


def test_planted_pair_recovered_by_proxyspex_and_lds_reported(capsys):
    """32 units, 800 retrainings: ProxySPEX ranks {A, B} first; on held-out half subsets it beats the
    linear datamodel fitted on the very same retrainings, in LDS and (by far) in R²: a linear model can
    order the four (A, B) states but cannot represent the AND."""
    game = digits.planted_lens(30, background_size=8, steps=120)
    asked = Recorder(game)
    result = sm.proxyspex(asked, budget=800, max_order=3, seed=0)
    assert result.top(1, min_order=2)[0].units == game.planted
    assert asked.masks.shape == (800, 32) and game.n_evaluations == 800
    masks, values = game.evaluated()  # the retrainings the game kept: the same 800
    order = np.lexsort(masks.T)
    recorded = np.lexsort(asked.masks.T)
    np.testing.assert_array_equal(masks[order], asked.masks[recorded])
    np.testing.assert_array_equal(values[order], asked.values[recorded])
    linear = linear_datamodel(asked.masks, asked.values, labels=game.labels)
    held = lds_masks(game.n, 120, seed=3)
    truth = game(held)
    sparse_lds, linear_lds = lds(result, masks=held, values=truth), lds(linear, masks=held, values=truth)
    sparse_r2, linear_r2 = r2_score(truth, result.predict(held)), r2_score(truth, linear.predict(held))
    with capsys.disabled():
        print(
            f"\n[data lens, planted digits, 800 retrainings] LDS: proxyspex {sparse_lds:.3f}, linear datamodel "
            f"{linear_lds:.3f}; R²: {sparse_r2:.4f} vs {linear_r2:.3f}"
        )
    assert sparse_lds > 0.9 and sparse_lds > linear_lds
    assert sparse_r2 > 0.99 and linear_r2 < 0.85
