"""Tree ensemble → Fourier extraction is exact: the inverse transform equals the model's own predictions.

The oracle is each library's ``predict`` on all 2^n masks (and, for XGBoost, whose ``predict`` works in
float32, the leaf indices it reports summed in float64); the inverse is taken with the independent
dense fast Walsh–Hadamard transform, not with the code under test.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from sklearn.ensemble import (
    ExtraTreesRegressor,
    GradientBoostingRegressor,
    HistGradientBoostingRegressor,
    RandomForestRegressor,
)
from sklearn.tree import DecisionTreeRegressor

from spex_mech.algorithms.trees import TreeEnsemble, fourier_spectrum, mobius_spectrum, tree_table
from spex_mech.transforms import all_masks, inverse_fourier_transform, inverse_mobius_transform

HAS_LGB = importlib.util.find_spec("lightgbm") is not None


@pytest.fixture(autouse=True)
def single_thread():
    """OpenMP tree builders slow down badly on a shared, oversubscribed machine."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        yield
HAS_XGB = importlib.util.find_spec("xgboost") is not None


def dense_inverse(keys: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """f on all 2^n masks (row i = mask with bit j of i for unit j) from a sparse spectrum."""
    table = np.zeros(1 << n)
    codes = np.where(keys >= 0, np.left_shift(1, np.maximum(keys, 0)), 0).sum(axis=1)
    np.add.at(table, codes, values)
    return inverse_fourier_transform(table)


def dense_mobius_inverse(keys: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """f on all 2^n masks from a sparse Möbius (AND-basis) spectrum, by the dense zeta transform."""
    table = np.zeros(1 << n)
    codes = np.where(keys >= 0, np.left_shift(1, np.maximum(keys, 0)), 0).sum(axis=1)
    np.add.at(table, codes, values)
    return inverse_mobius_transform(table)


def training_data(n: int, rows: int, seed: int, levels: int = 2):
    """Random masks (or ``levels``-valued inputs) and a target with interactions plus noise."""
    rng = np.random.default_rng(seed)
    X = rng.integers(0, levels, size=(rows, n)).astype(np.float64) / (levels - 1)
    y = X[:, 0] * X[:, 1] - 2 * X[:, 2] * X[:, 3] * X[:, 4] + X[:, 5] + 0.5 * rng.normal(size=rows)
    return X, y


def sklearn_models(seed: int):
    return {
        "hist_gradient_boosting": HistGradientBoostingRegressor(
            max_iter=40, max_depth=None, max_leaf_nodes=15, random_state=seed
        ),
        "gradient_boosting": GradientBoostingRegressor(
            n_estimators=30, max_depth=4, learning_rate=0.2, random_state=seed
        ),
        "decision_tree": DecisionTreeRegressor(max_depth=9, random_state=seed),
        "random_forest": RandomForestRegressor(n_estimators=8, max_depth=6, random_state=seed),
        "extra_trees": ExtraTreesRegressor(n_estimators=5, max_depth=6, random_state=seed),
    }


@pytest.mark.parametrize("n", [10, 13])
@pytest.mark.parametrize("name", list(sklearn_models(0)))
def test_sklearn_spectrum_is_exact(name, n):
    X, y = training_data(n, 1500, seed=n)
    model = sklearn_models(n)[name].fit(X, y)
    keys, values = fourier_spectrum(model)
    masks = all_masks(n)
    np.testing.assert_allclose(
        dense_inverse(keys, values, n), model.predict(masks.astype(np.float64)), rtol=0, atol=1e-9
    )


@pytest.mark.parametrize("levels", [2, 3])
@pytest.mark.parametrize("name", list(sklearn_models(0)) + (["lightgbm"] if HAS_LGB else []))
def test_mobius_spectrum_is_exact(name, levels):
    """Read straight off the leaves, the AND-basis spectrum reproduces predict on all masks (3-level
    training data adds thresholds above 1 and repeated units on a path)."""
    n = 11
    X, y = training_data(n, 2000, seed=7, levels=levels)
    if name == "lightgbm":
        import lightgbm as lgb

        model = lgb.LGBMRegressor(n_estimators=40, num_leaves=20, verbose=-1, random_state=0, n_jobs=1).fit(X, y)
    else:
        model = sklearn_models(7)[name].fit(X, y)
    keys, values = mobius_spectrum(model)
    masks = all_masks(n).astype(np.float64)
    np.testing.assert_allclose(dense_mobius_inverse(keys, values, n), model.predict(masks), rtol=0, atol=1e-9)
    # the same function as the Fourier read-out, and as sparse (no zero coefficients kept beyond ∅)
    fourier_keys, fourier_values = fourier_spectrum(model)
    np.testing.assert_allclose(
        dense_mobius_inverse(keys, values, n), dense_inverse(fourier_keys, fourier_values, n), rtol=0, atol=1e-9
    )
    assert np.all((values != 0) | np.all(keys < 0, axis=1))
    # drop_zeros=False: every path subset, the Fourier spectrum's support, zeros included
    closure_keys, closure_values = mobius_spectrum(model, drop_zeros=False)
    all_fourier_keys, _ = fourier_spectrum(model, drop_zeros=False)
    np.testing.assert_array_equal(closure_keys, all_fourier_keys)
    np.testing.assert_allclose(
        dense_mobius_inverse(closure_keys, closure_values, n), model.predict(masks), rtol=0, atol=1e-9
    )


@pytest.mark.parametrize("name", ["decision_tree", "hist_gradient_boosting"])
def test_splits_that_do_not_separate_binary_values(name):
    """Trained on 3-level inputs {0, ½, 1}: thresholds above 1 and repeated units on a path occur."""
    n = 11
    X, y = training_data(n, 3000, seed=3, levels=3)
    model = sklearn_models(3)[name].fit(X, y)
    keys, values = fourier_spectrum(model)
    masks = all_masks(n).astype(np.float64)
    np.testing.assert_allclose(dense_inverse(keys, values, n), model.predict(masks), rtol=0, atol=1e-9)


@pytest.mark.skipif(not HAS_LGB, reason="lightgbm not installed")
@pytest.mark.parametrize("levels", [2, 3])
def test_lightgbm_spectrum_is_exact(levels):
    import lightgbm as lgb

    n = 12
    X, y = training_data(n, 2000, seed=levels, levels=levels)
    model = lgb.LGBMRegressor(n_estimators=40, num_leaves=20, verbose=-1, random_state=0, n_jobs=1).fit(X, y)
    keys, values = fourier_spectrum(model)
    masks = all_masks(n).astype(np.float64)
    np.testing.assert_allclose(dense_inverse(keys, values, n), model.predict(masks), rtol=0, atol=1e-9)
    booster_keys, booster_values = fourier_spectrum(model.booster_, n)  # a raw Booster reads the same
    np.testing.assert_array_equal(booster_keys, keys)
    np.testing.assert_allclose(booster_values, values, rtol=0, atol=0)


@pytest.mark.skipif(not HAS_LGB, reason="lightgbm not installed")
def test_lightgbm_early_stopping_uses_the_best_iteration():
    import lightgbm as lgb

    n = 10
    X, y = training_data(n, 1500, seed=5)
    Xv, yv = training_data(n, 300, seed=6)
    model = lgb.LGBMRegressor(n_estimators=400, learning_rate=0.3, verbose=-1, n_jobs=1)
    model.fit(X, y, eval_set=[(Xv, yv)], callbacks=[lgb.early_stopping(5, verbose=False)])
    assert model.booster_.best_iteration < 400
    keys, values = fourier_spectrum(model)
    masks = all_masks(n).astype(np.float64)
    np.testing.assert_allclose(dense_inverse(keys, values, n), model.predict(masks), rtol=0, atol=1e-9)


@pytest.mark.skipif(not HAS_LGB, reason="lightgbm not installed")
@pytest.mark.parametrize(
    "params",
    [
        dict(boosting_type="rf", subsample=0.7, subsample_freq=1, colsample_bytree=0.8),  # averaged output
        dict(min_child_samples=900),  # single-leaf trees
        dict(min_child_samples=600),  # stumps
        dict(objective="huber", max_depth=3, num_leaves=8),
    ],
    ids=["random_forest", "single_leaf_trees", "stumps", "huber"],
)
def test_lightgbm_text_format_variants_are_exact(params):
    import lightgbm as lgb

    n = 10
    X, y = training_data(n, 1500, seed=11, levels=2)
    model = lgb.LGBMRegressor(n_estimators=30, verbose=-1, random_state=0, n_jobs=1, **params).fit(X, y)
    keys, values = fourier_spectrum(model)
    masks = all_masks(n).astype(np.float64)
    np.testing.assert_allclose(dense_inverse(keys, values, n), model.predict(masks), rtol=0, atol=1e-9)


@pytest.mark.skipif(not HAS_LGB, reason="lightgbm not installed")
def test_lightgbm_zero_as_missing_splits_are_exact():
    """Splits whose missing type is "zero" send x = 0 the default way, whatever the threshold: the
    model text is edited to give every split that type (default left on even nodes, right on odd),
    and LightGBM's own predict on the edited model is the oracle."""
    import lightgbm as lgb

    n = 10
    X, y = training_data(n, 1500, seed=11, levels=2)
    text = lgb.LGBMRegressor(n_estimators=20, verbose=-1, random_state=0, n_jobs=1).fit(X, y).booster_.model_to_string()
    lines = []
    for line in text.splitlines():
        if line.startswith("decision_type="):
            count = len(line.split("=", 1)[1].split())
            line = "decision_type=" + " ".join("6" if i % 2 == 0 else "4" for i in range(count))
        lines.append(line)
    booster = lgb.Booster(model_str="\n".join(lines) + "\n")
    masks = all_masks(n).astype(np.float64)
    keys, values = fourier_spectrum(booster, n)
    np.testing.assert_allclose(dense_inverse(keys, values, n), booster.predict(masks), rtol=0, atol=1e-9)
    original = lgb.Booster(model_str=text)
    assert np.abs(booster.predict(masks) - original.predict(masks)).max() > 1e-3  # the edit changed the model


@pytest.mark.skipif(not HAS_LGB, reason="lightgbm not installed")
def test_lightgbm_linear_trees_are_refused():
    import lightgbm as lgb

    X, y = training_data(8, 600, seed=3)
    model = lgb.LGBMRegressor(n_estimators=5, linear_tree=True, verbose=-1, n_jobs=1).fit(X, y)
    with pytest.raises(ValueError, match="linear trees"):
        fourier_spectrum(model)


@pytest.mark.skipif(not HAS_XGB, reason="xgboost not installed")
@pytest.mark.parametrize("levels", [2, 3])
def test_xgboost_spectrum_is_exact(levels):
    """XGBoost predicts in float32: compare to 1e-9 against its own leaf assignment summed in float64,
    and to float32 precision against ``predict``."""
    import json

    import xgboost as xgb

    n = 12
    X, y = training_data(n, 2000, seed=levels, levels=levels)
    model = xgb.XGBRegressor(n_estimators=40, max_depth=5, random_state=0, n_jobs=1).fit(X, y)
    keys, values = fourier_spectrum(model)
    masks = all_masks(n).astype(np.float64)
    inverse = dense_inverse(keys, values, n)
    # oracle 1: the leaf XGBoost itself routes each mask to, with leaf values and base score from its model file
    leaves = model.get_booster().predict(xgb.DMatrix(masks), pred_leaf=True).astype(np.int64)  # [2^n, trees]
    doc = json.loads(bytes(model.get_booster().save_raw(raw_format="json")).decode())
    trees = doc["learner"]["gradient_booster"]["model"]["trees"]
    leaf_values = [np.asarray(t["split_conditions"], np.float32).astype(np.float64) for t in trees]
    base = float(np.float32(doc["learner"]["learner_model_param"]["base_score"].strip("[]")))
    oracle = base + sum(leaf_values[t][leaves[:, t]] for t in range(len(trees)))
    np.testing.assert_allclose(inverse, oracle, rtol=0, atol=1e-9)
    # oracle 2: predict (float32 arithmetic)
    np.testing.assert_allclose(inverse, model.predict(masks).astype(np.float64), rtol=1e-5, atol=1e-5)


def test_one_split_by_hand():
    """f = a if x_j = 0 else b: F(∅) = (a + b)/2 + baseline, F({j}) = (a − b)/2 (the node recursion)."""
    a, b, base = 1.5, -0.25, 0.125
    ens = TreeEnsemble(
        feature=np.array([3, -1, -1]),
        left=np.array([1, -1, -1]),
        right=np.array([2, -1, -1]),
        value=np.array([0.0, a, b]),
        roots=np.array([0]),
        baseline=base,
        n_features=5,
    )
    keys, values = fourier_spectrum(ens)
    got = {tuple(int(u) for u in row if u >= 0): v for row, v in zip(keys, values)}
    assert got == pytest.approx({(): (a + b) / 2 + base, (3,): (a - b) / 2})


def test_wide_inputs_use_the_unpacked_path():
    """n large and deep paths: keys no longer fit a packed int64, the padded-key aggregation is used."""
    rng = np.random.default_rng(0)
    n = 2100  # 12 bits per unit × depth 6 > 63 bits
    X = (rng.random((1200, n)) < 0.5).astype(np.float64)
    y = X[:, 0] * X[:, 2099] + X[:, 17] * X[:, 1500] * X[:, 3] + 0.1 * rng.normal(size=1200)
    model = DecisionTreeRegressor(max_depth=6, random_state=0).fit(X, y)
    keys, values = fourier_spectrum(model)
    masks = (rng.random((300, n)) < 0.5).astype(np.float64)
    from spex_mech.results.spectrum import evaluate_fourier

    np.testing.assert_allclose(
        evaluate_fourier(keys, values, masks.astype(bool), n), model.predict(masks), rtol=0, atol=1e-9
    )


def test_table_predict_matches_model():
    n = 9
    X, y = training_data(n, 1000, seed=1)
    model = GradientBoostingRegressor(n_estimators=20, max_depth=3, random_state=0).fit(X, y)
    masks = all_masks(n)
    np.testing.assert_allclose(
        tree_table(model).predict(masks), model.predict(masks.astype(np.float64)), rtol=0, atol=1e-12
    )


def test_unsupported_models_are_refused():
    from sklearn.linear_model import LinearRegression

    X, y = training_data(6, 200, seed=0)
    with pytest.raises(TypeError, match="unsupported tree model"):
        fourier_spectrum(LinearRegression().fit(X, y))
    with pytest.raises(ValueError, match="not fitted"):
        fourier_spectrum(DecisionTreeRegressor())
    deep = DecisionTreeRegressor(random_state=0).fit(*training_data(8, 500, seed=1))
    with pytest.raises(ValueError, match="max_terms"):
        fourier_spectrum(deep, max_terms=10)
