"""Read fitted tree models into one flat node table over binary inputs (:class:`TreeEnsemble`).

Every supported model is read by applying the model's own split rule to x_j = 0 and x_j = 1, so splits
that cannot separate binary values (a threshold outside [0, 1), or a feature already fixed higher on the
path) are handled exactly. :mod:`spex_mech.algorithms.trees` expands the table into exact spectra.

Supported: scikit-learn ``HistGradientBoostingRegressor``, ``GradientBoostingRegressor``, single
decision/extra trees, random/extra forests; LightGBM (``LGBMRegressor`` or ``Booster``) and XGBoost
(``XGBRegressor`` or ``Booster``, gbtree) when installed. XGBoost predicts in float32, so its
``predict`` agrees with the float64 spectrum only to float32 precision.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

__all__ = ["TreeEnsemble", "tree_table"]


@dataclass(frozen=True)
class TreeEnsemble:
    """A sum of binary-input regression trees as one flat node table.

    Node ``i`` of the concatenated table splits on unit ``feature[i]`` (−1 at a leaf); ``left[i]`` is
    the node reached when that unit is ablated (x_j = 0), ``right[i]`` when it is kept (x_j = 1); the
    two are equal when the split does not separate 0 from 1. ``value[i]`` is a leaf's contribution
    (learning rate and tree weight already applied). The model's output is ``baseline`` plus the
    reached leaf's value summed over the trees rooted at ``roots``.

    Attributes
    ----------
    feature : numpy.ndarray
        Split unit per node, −1 at leaves (int64).
    left : numpy.ndarray
        Child reached when the unit is ablated (int64).
    right : numpy.ndarray
        Child reached when the unit is kept (int64).
    value : numpy.ndarray
        Leaf contribution per node (float64; 0 at inner nodes).
    roots : numpy.ndarray
        Root node of each tree (int64).
    baseline : float
        The ensemble's constant (init score).
    n_features : int
        Number of units the model reads.
    """

    feature: np.ndarray
    left: np.ndarray
    right: np.ndarray
    value: np.ndarray
    roots: np.ndarray
    baseline: float
    n_features: int

    @property
    def n_trees(self) -> int:
        """Number of trees in the table."""
        return int(self.roots.shape[0])

    def predict(self, masks: np.ndarray) -> np.ndarray:
        """Evaluate the table on masks by descending all trees in lockstep.

        Parameters
        ----------
        masks : numpy.ndarray
            Masks [B, n] (bool).

        Returns
        -------
        numpy.ndarray
            Predictions [B] (float64).
        """
        masks = np.asarray(masks, dtype=bool)
        rows = masks.shape[0]
        node = np.broadcast_to(self.roots[None, :], (rows, self.n_trees)).copy()
        row_idx = np.broadcast_to(np.arange(rows)[:, None], node.shape)
        while True:
            feat = self.feature[node]
            inner = feat >= 0
            if not inner.any():
                break
            bit = masks[row_idx[inner], feat[inner]]
            node[inner] = np.where(bit, self.right[node[inner]], self.left[node[inner]])
        return self.baseline + self.value[node].sum(axis=1)


# ---------------------------------------------------------------------------------------------- readers


def _concat(
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]], baseline: float, n: int
) -> TreeEnsemble:
    """Concatenate per-tree (feature, left, right, value) arrays with local child indices."""
    feats, lefts, rights, values, roots = [], [], [], [], []
    offset = 0
    for feature, left, right, value in parts:
        size = feature.shape[0]
        inner = feature >= 0
        feats.append(feature.astype(np.int64))
        lefts.append(np.where(inner, left + offset, -1).astype(np.int64))
        rights.append(np.where(inner, right + offset, -1).astype(np.int64))
        values.append(np.where(inner, 0.0, value).astype(np.float64))
        roots.append(offset)
        offset += size
    if not parts:
        empty = np.zeros(0, dtype=np.int64)
        return TreeEnsemble(empty, empty, empty, np.zeros(0), empty, float(baseline), int(n))
    return TreeEnsemble(
        np.concatenate(feats),
        np.concatenate(lefts),
        np.concatenate(rights),
        np.concatenate(values),
        np.array(roots, dtype=np.int64),
        float(baseline),
        int(n),
    )


def _binary_children(feature, children_le, children_gt, threshold, strict: bool = False):
    """Children reached by x = 0 and x = 1 under ``x <= threshold`` (or ``x < threshold``) → first child."""
    go0 = (0.0 < threshold) if strict else (0.0 <= threshold)
    go1 = (1.0 < threshold) if strict else (1.0 <= threshold)
    left = np.where(go0, children_le, children_gt)
    right = np.where(go1, children_le, children_gt)
    inner = feature >= 0
    return np.where(inner, left, -1), np.where(inner, right, -1)


def _sklearn_tree(tree: Any, scale: float) -> tuple[np.ndarray, ...]:
    """One fitted sklearn ``Tree`` (``estimator.tree_``); leaves go left when x <= threshold."""
    t = tree
    feature = np.where(t.children_left < 0, -1, t.feature).astype(np.int64)
    if t.value.shape[1] != 1 or t.value.shape[2] != 1:
        raise ValueError("only single-output regression trees are supported")
    left, right = _binary_children(feature, t.children_left, t.children_right, np.asarray(t.threshold, np.float64))
    value = t.value[:, 0, 0].astype(np.float64) * scale
    return feature, left, right, value


def _from_sklearn_single(model: Any, n: int) -> TreeEnsemble:
    return _concat([_sklearn_tree(model.tree_, 1.0)], 0.0, n)


def _from_sklearn_forest(model: Any, n: int) -> TreeEnsemble:
    trees = list(model.estimators_)
    scale = 1.0 / len(trees)
    return _concat([_sklearn_tree(est.tree_, scale) for est in trees], 0.0, n)


def _from_sklearn_gbr(model: Any, n: int) -> TreeEnsemble:
    from sklearn.dummy import DummyRegressor

    init = model.init_
    if isinstance(init, str) and init == "zero":
        baseline = 0.0
    elif isinstance(init, DummyRegressor):
        baseline = float(np.asarray(init.constant_).reshape(-1)[0])
    else:
        raise TypeError(
            "GradientBoostingRegressor with a custom init estimator has no constant baseline; "
            "use init=None (the default) or init='zero'"
        )
    lr = float(model.learning_rate)
    parts = [_sklearn_tree(stage[0].tree_, lr) for stage in model.estimators_]
    return _concat(parts, baseline, n)


def _from_sklearn_hgb(model: Any, n: int) -> TreeEnsemble:
    baseline = np.asarray(model._baseline_prediction, dtype=np.float64).reshape(-1)
    if baseline.shape[0] != 1:
        raise ValueError("only single-output HistGradientBoosting models are supported")
    parts = []
    for iteration in model._predictors:
        for predictor in iteration:
            nodes = predictor.nodes
            leaf = nodes["is_leaf"].astype(bool)
            if np.any(nodes["is_categorical"].astype(bool) & ~leaf):
                raise ValueError("categorical splits are not supported; fit on the 0/1 masks as numeric features")
            feature = np.where(leaf, -1, nodes["feature_idx"]).astype(np.int64)
            left, right = _binary_children(
                feature, nodes["left"].astype(np.int64), nodes["right"].astype(np.int64), nodes["num_threshold"]
            )
            parts.append((feature, left, right, nodes["value"].astype(np.float64)))
    return _concat(parts, float(baseline[0]), n)


_LGBM_REGRESSION = (
    "regression", "regression_l2", "l2", "mean_squared_error", "mse", "huber", "fair", "regression_l1", "l1", "quantile"
)


def _lgbm_numbers(lines: list[str], dtype: Any) -> np.ndarray:
    """Read the numbers of several ``key=v1 v2 …`` lines of LightGBM's model text, concatenated."""
    return np.array(" ".join(line.split("=", 1)[1] for line in lines).split(), dtype=dtype)


def _from_lightgbm(model: Any, n: int) -> TreeEnsemble:
    """Read LightGBM's text model format, all trees at once (far faster than ``dump_model``'s JSON).

    Per tree, internal nodes come first (0 … L−2), then the L leaves; a child index c < 0 means leaf
    ~c. ``decision_type`` bits: 1 categorical, 2 default-left, (t >> 2) & 3 the missing type (1: zero
    is missing, so x = 0 follows the default direction instead of the threshold).
    """
    booster = getattr(model, "booster_", model)
    text = booster.model_to_string()  # the best iteration when early stopping was used, as `predict` does
    cut = text.find("end of trees")
    lines = (text if cut < 0 else text[:cut]).splitlines()
    first = next((i for i, line in enumerate(lines) if line.startswith("Tree=")), len(lines))
    header = dict(line.split("=", 1) if "=" in line else (line, "") for line in lines[:first])
    if int(header.get("num_class", "1")) != 1 or int(header.get("num_tree_per_iteration", "1")) != 1:
        raise ValueError("only single-output LightGBM regressors are supported")
    objective = header.get("objective", "regression").split()[0]
    if objective not in _LGBM_REGRESSION:
        raise ValueError(
            f"LightGBM objective {objective!r} has a non-identity output transform; only regression is supported"
        )
    keys = (
        "num_leaves", "split_feature", "threshold", "decision_type",
        "left_child", "right_child", "leaf_value", "is_linear",
    )
    by_key: dict[str, list[str]] = {k: [] for k in keys}
    for line in lines[first:]:
        key = line.split("=", 1)[0]
        if key in by_key:
            by_key[key].append(line)
    n_trees = sum(1 for line in lines[first:] if line.startswith("Tree="))
    if any(len(v) != n_trees for v in by_key.values()):
        raise ValueError("unexpected LightGBM model text: every tree needs " + ", ".join(keys))
    if any(line.split("=", 1)[1].strip() not in ("", "0") for line in by_key["is_linear"]):
        raise ValueError("LightGBM linear trees are not supported (leaves must be constants)")
    if n_trees == 0:
        return _concat([], 0.0, n)
    leaves = _lgbm_numbers(by_key["num_leaves"], np.int64)
    inner = leaves - 1
    offset = np.concatenate([[0], np.cumsum(2 * leaves - 1)[:-1]])  # first node of each tree
    size = int((2 * leaves - 1).sum())
    split = _lgbm_numbers(by_key["split_feature"], np.int64)
    threshold = _lgbm_numbers(by_key["threshold"], np.float64)
    decision = _lgbm_numbers(by_key["decision_type"], np.int64)
    leaf_value = _lgbm_numbers(by_key["leaf_value"], np.float64)
    if split.shape[0] != inner.sum() or leaf_value.shape[0] != leaves.sum() or threshold.shape[0] != split.shape[0]:
        raise ValueError("unexpected LightGBM model text: node counts disagree with num_leaves")
    if np.any(decision & 1):
        raise ValueError("LightGBM categorical splits are not supported; fit on the 0/1 masks as numeric features")
    tree_of_inner = np.repeat(np.arange(n_trees), inner)
    base = offset[tree_of_inner]  # first node of each internal node's tree
    start_inner = np.concatenate([[0], np.cumsum(inner)[:-1]])
    inner_pos = base + np.arange(split.shape[0]) - start_inner[tree_of_inner]
    start_leaf = np.concatenate([[0], np.cumsum(leaves)[:-1]])
    tree_of_leaf = np.repeat(np.arange(n_trees), leaves)
    leaf_pos = offset[tree_of_leaf] + inner[tree_of_leaf] + np.arange(leaf_value.shape[0]) - start_leaf[tree_of_leaf]
    children = []
    for key in ("left_child", "right_child"):
        c = _lgbm_numbers(by_key[key], np.int64)
        children.append(np.where(c >= 0, base + c, base + inner[tree_of_inner] + ~c))
    zero_missing = ((decision >> 2) & 3) == 1
    to0_left = np.where(zero_missing, (decision & 2) != 0, 0.0 <= threshold)
    to1_left = 1.0 <= threshold
    feature = np.full(size, -1, np.int64)
    left = np.full(size, -1, np.int64)
    right = np.full(size, -1, np.int64)
    value = np.zeros(size, np.float64)
    feature[inner_pos] = split
    left[inner_pos] = np.where(to0_left, children[0], children[1])
    right[inner_pos] = np.where(to1_left, children[0], children[1])
    value[leaf_pos] = leaf_value / (n_trees if "average_output" in header else 1)
    return TreeEnsemble(feature, left, right, value, offset.astype(np.int64), 0.0, int(n))


def _xgb_float(text: Any) -> float:
    """XGBoost stores base_score as '[5E-1]' (newer) or '0.5' (older): a float32, read exactly."""
    s = str(text).strip().strip("[]").split(",")[0]
    return float(np.float32(s))


def _from_xgboost(model: Any, n: int) -> TreeEnsemble:
    booster = model.get_booster() if hasattr(model, "get_booster") else model
    doc = json.loads(bytes(booster.save_raw(raw_format="json")).decode())
    learner = doc["learner"]
    gb = learner["gradient_booster"]
    if gb.get("name") not in ("gbtree",):
        raise ValueError(f"only XGBoost gbtree boosters are supported, got {gb.get('name')!r}")
    params = learner["learner_model_param"]
    if int(params.get("num_target", "1")) > 1 or int(params.get("num_class", "0")) > 1:
        raise ValueError("only single-output XGBoost regressors are supported")
    objective = learner.get("objective", {}).get("name", "reg:squarederror")
    if objective not in ("reg:squarederror", "reg:absoluteerror", "reg:pseudohubererror", "reg:quantileerror"):
        raise ValueError(f"XGBoost objective {objective!r} has a non-identity output transform")
    trees = gb["model"]["trees"]
    indptr = gb["model"].get("iteration_indptr")
    n_trees = len(trees)
    best = None
    if hasattr(model, "get_booster"):
        try:
            best = model.best_iteration  # `predict` stops here after early stopping
        except AttributeError:
            best = None
    if best is not None and indptr is not None:
        n_trees = int(indptr[int(best) + 1])
    parts = []
    for tree in trees[:n_trees]:
        left_c = np.asarray(tree["left_children"], np.int64)
        right_c = np.asarray(tree["right_children"], np.int64)
        cond = np.asarray(tree["split_conditions"], np.float32).astype(np.float64)
        if np.any(np.asarray(tree.get("split_type", [0]), np.int64) != 0):
            raise ValueError("XGBoost categorical splits are not supported")
        leaf = left_c < 0
        feature = np.where(leaf, -1, np.asarray(tree["split_indices"], np.int64))
        left, right = _binary_children(feature, left_c, right_c, cond, strict=True)
        parts.append((feature, left, right, np.where(leaf, cond, 0.0)))
    return _concat(parts, _xgb_float(params["base_score"]), n)


def _qualname(obj: Any) -> str:
    cls = type(obj)
    return f"{cls.__module__}.{cls.__name__}"


def _n_features(model: Any, n: Optional[int]) -> int:
    guess = getattr(model, "n_features_in_", None)
    if guess is None and hasattr(model, "num_feature"):
        guess = model.num_feature()
    if n is None:
        if guess is None:
            raise ValueError("cannot tell the number of units from this model; pass n=...")
        return int(guess)
    if guess is not None and int(guess) != int(n):
        raise ValueError(f"n={n} disagrees with the model's {int(guess)} input features")
    return int(n)


def tree_table(model: Any, n: Optional[int] = None) -> TreeEnsemble:
    """Read a fitted tree model into a :class:`TreeEnsemble` (its decisions on 0/1 inputs).

    Parameters
    ----------
    model : Any
        A :class:`TreeEnsemble` (returned as is), a scikit-learn tree regressor or ensemble, or a LightGBM /
        XGBoost regressor or booster.
    n : int, optional
        Number of units; by default the model's number of input features (they must agree when both are known).

    Returns
    -------
    TreeEnsemble
        The flat node table.

    Raises
    ------
    TypeError
        If the model is of an unsupported type.
    ValueError
        If the model is not fitted, ``n`` disagrees with it, or it uses splits or objectives that are not
        supported (categorical splits, non-identity output transforms, several outputs).
    """
    if isinstance(model, TreeEnsemble):
        return model
    name = _qualname(model)
    cls = type(model).__name__
    if name.startswith("sklearn."):
        if not hasattr(model, "n_features_in_"):
            raise ValueError(f"{cls} is not fitted")
        nf = _n_features(model, n)
        if cls == "HistGradientBoostingRegressor":
            return _from_sklearn_hgb(model, nf)
        if cls == "GradientBoostingRegressor":
            return _from_sklearn_gbr(model, nf)
        if cls in ("DecisionTreeRegressor", "ExtraTreeRegressor"):
            return _from_sklearn_single(model, nf)
        if cls in ("RandomForestRegressor", "ExtraTreesRegressor"):
            return _from_sklearn_forest(model, nf)
    elif name.startswith("lightgbm.") and cls in ("LGBMRegressor", "Booster"):
        return _from_lightgbm(model, _n_features(model, n))
    elif name.startswith("xgboost.") and cls in ("XGBRegressor", "Booster"):
        return _from_xgboost(model, _n_features(model, n))
    raise TypeError(
        f"unsupported tree model {name}: expected a fitted scikit-learn tree regressor or ensemble "
        "(HistGradientBoostingRegressor, GradientBoostingRegressor, DecisionTree/ExtraTree, "
        "RandomForest/ExtraTrees), "
        "a LightGBM LGBMRegressor/Booster or an XGBoost XGBRegressor/Booster"
    )
