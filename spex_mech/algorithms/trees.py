"""Exact Fourier spectra of tree ensembles over binary inputs.

A regression tree on masks x ∈ {0,1}^n is a sum over its leaves of ``value · Π_{(j, b) on the path}
[x_j = b]``. Each indicator is ``(1 + s·(−1)^{x_j})/2`` with ``s = +1`` for the ``x_j = 0`` branch and
``s = −1`` for ``x_j = 1``, so a leaf at path length d contributes ``value · 2^−d · Π_{j∈T} s_j`` to the
Fourier coefficient of every subset T of its path. Summed over leaves this is the node recursion
N[S] = (L+R)/2, N[S ∪ {j}] = (L−R)/2 unrolled; it is done here for all leaves of all trees at once
with bit patterns, then identical supports are summed. Adding the ensemble's baseline (init score)
to F(∅) makes the inverse transform equal the model's ``predict`` on every mask. The Möbius (AND-basis)
spectrum is read off the same paths (:func:`mobius_spectrum`): [x_j = 1] = x_j, [x_j = 0] = 1 − x_j.

Every supported model is first read into one flat table (:class:`TreeEnsemble`) by applying the
model's own split rule to x_j = 0 and x_j = 1, so splits that cannot separate binary values (a
threshold outside [0, 1), or a feature already fixed higher on the path) are handled exactly.

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

from ..results import spectrum as spec

__all__ = ["TreeEnsemble", "tree_table", "fourier_spectrum", "mobius_spectrum", "MAX_TERMS"]

# Extraction expands Σ_leaves 2^depth terms before summing duplicates; refuse beyond this many.
MAX_TERMS = 60_000_000
_CHUNK_TERMS = 4_000_000  # leaves are expanded in chunks of about this many terms


@dataclass(frozen=True)
class TreeEnsemble:
    """A sum of binary-input regression trees as one flat node table.

    Node ``i`` of the concatenated table splits on unit ``feature[i]`` (−1 at a leaf); ``left[i]`` is
    the node reached when that unit is ablated (x_j = 0), ``right[i]`` when it is kept (x_j = 1); the
    two are equal when the split does not separate 0 from 1. ``value[i]`` is a leaf's contribution
    (learning rate and tree weight already applied). The model's output is ``baseline`` plus the
    reached leaf's value summed over the trees rooted at ``roots``.
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
        return int(self.roots.shape[0])

    def predict(self, masks: np.ndarray) -> np.ndarray:
        """Evaluate the table on bool masks [B, n] (float64), by descending all trees in lockstep."""
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


def _concat(parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]], baseline: float, n: int) -> TreeEnsemble:
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


_LGBM_REGRESSION = ("regression", "regression_l2", "l2", "mean_squared_error", "mse", "huber", "fair", "regression_l1", "l1", "quantile")


def _lgbm_numbers(lines: list[str], dtype: Any) -> np.ndarray:
    """The numbers of several ``key=v1 v2 …`` lines of LightGBM's model text, concatenated."""
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
        raise ValueError(f"LightGBM objective {objective!r} has a non-identity output transform; only regression is supported")
    keys = ("num_leaves", "split_feature", "threshold", "decision_type", "left_child", "right_child", "leaf_value", "is_linear")
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

    Accepts a :class:`TreeEnsemble` (returned as is), scikit-learn tree regressors and ensembles, and
    LightGBM / XGBoost regressors or boosters. Raises TypeError for anything else.
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
        "(HistGradientBoostingRegressor, GradientBoostingRegressor, DecisionTree/ExtraTree, RandomForest/ExtraTrees), "
        "a LightGBM LGBMRegressor/Booster or an XGBoost XGBRegressor/Booster"
    )


# ------------------------------------------------------------------------------------------ extraction


def _leaf_paths(ens: TreeEnsemble) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every reachable leaf's path: (leaf node, sorted path units [L, D] −1-padded, signs [L, D], length [L]).

    Trees are descended level by level, all at once. A split on a unit already fixed on the path, or
    one whose two branches coincide for binary inputs, adds no condition (the other branch is
    unreachable on masks).
    """
    nodes = ens.roots.copy()
    feats = np.zeros((nodes.shape[0], 0), np.int64)
    signs = np.zeros((nodes.shape[0], 0), np.int8)
    out_nodes, out_feats, out_signs = [], [], []
    depth = 0
    while nodes.shape[0]:
        feat = ens.feature[nodes]
        leaf = feat < 0
        if leaf.any():
            out_nodes.append(nodes[leaf])
            out_feats.append(feats[leaf])
            out_signs.append(signs[leaf])
        inner = ~leaf
        nodes, feats, signs, feat = nodes[inner], feats[inner], signs[inner], feat[inner]
        if not nodes.shape[0]:
            break
        depth += 1
        if depth > 512:
            raise ValueError("tree deeper than 512 levels (cyclic table?)")
        c0, c1 = ens.left[nodes], ens.right[nodes]
        match = feats == feat[:, None]
        seen = match.any(axis=1)
        prior = (signs * match).sum(axis=1)  # +1: already x_j = 0 on the path, −1: x_j = 1
        forced = seen | (c0 == c1)
        forced_child = np.where(seen, np.where(prior > 0, c0, c1), c0)
        pad_f = np.full((feats.shape[0], 1), -1, np.int64)
        pad_s = np.zeros((feats.shape[0], 1), np.int8)
        keep_f = np.concatenate([feats, pad_f], axis=1)
        keep_s = np.concatenate([signs, pad_s], axis=1)
        split = ~forced
        f0 = keep_f[split].copy()
        f0[:, -1] = feat[split]
        s0 = keep_s[split].copy()
        s0[:, -1] = 1
        s1 = s0.copy()
        s1[:, -1] = -1
        nodes = np.concatenate([forced_child[forced], c0[split], c1[split]])
        feats = np.concatenate([keep_f[forced], f0, f0])
        signs = np.concatenate([keep_s[forced], s0, s1])
    width = max([f.shape[1] for f in out_feats] + [0])
    leaves = np.concatenate(out_nodes) if out_nodes else np.zeros(0, np.int64)
    pf = np.full((leaves.shape[0], max(width, 1)), -1, np.int64)
    ps = np.zeros((leaves.shape[0], max(width, 1)), np.int8)
    row = 0
    for f, s in zip(out_feats, out_signs):
        pf[row : row + f.shape[0], : f.shape[1]] = f
        ps[row : row + f.shape[0], : s.shape[1]] = s
        row += f.shape[0]
    big = np.iinfo(np.int64).max
    order = np.argsort(np.where(pf < 0, big, pf), axis=1, kind="stable")
    pf = np.take_along_axis(pf, order, axis=1)
    ps = np.take_along_axis(ps, order, axis=1)
    lengths = (pf >= 0).sum(axis=1)
    return leaves, pf, ps, lengths


def _subset_terms(
    feats: np.ndarray, signs: np.ndarray, values: np.ndarray, d: int, shift: int, basis: str = "fourier", closure: bool = False
):
    """Path-subset terms of L leaves of path length d: (packed codes or padded keys, coefficients).

    Fourier: every subset T of the path, value · 2^−d · Π_{j∈T} s_j. Möbius: with P1 the path's
    x_j = 1 units and P0 its x_j = 0 units, Π_{P1} x_j · Π_{P0} (1 − x_j) = Σ_{T⊆P0} (−1)^|T| AND(P1 ∪ T),
    so only subsets containing P1 carry a (±value) coefficient; the others are dropped unless
    ``closure`` (then they stay, with coefficient 0).
    """
    patterns = np.arange(1 << d, dtype=np.int64)
    bits = ((patterns[:, None] >> np.arange(d)[None, :]) & 1).astype(np.int64)  # [P, d]
    neg = (signs[:, :d] < 0).astype(np.int64)  # [L, d]: the x_j = 1 branch
    if basis == "fourier":
        parity = (neg @ bits.T) & 1  # [L, P]
        coef = (values / float(1 << d))[:, None] * (1.0 - 2.0 * parity)
        take = None
    else:
        parity = ((1 - neg) @ bits.T) & 1  # |T ∩ P0| mod 2
        coef = values[:, None] * (1.0 - 2.0 * parity)
        valid = (neg @ (1 - bits).T) == 0  # the subset keeps every P1 unit
        if closure:
            coef, take = coef * valid, None
        else:
            take = valid.reshape(-1)
    if shift:
        rank = np.cumsum(bits, axis=1) - 1  # position of unit i among the chosen ones
        keys = np.zeros((feats.shape[0], bits.shape[0]), np.int64)
        for i in range(d):
            term = (feats[:, i, None] + 1) << (shift * rank[None, :, i])
            keys += np.where(bits[None, :, i].astype(bool), term, 0)
        keys = keys.reshape(-1)
    else:
        keys = np.where(bits[None, :, :].astype(bool), feats[:, None, :d], -1).reshape(-1, d)
    coef = coef.reshape(-1)
    return (keys, coef) if take is None else (keys[take], coef[take])


def _decode_codes(codes: np.ndarray, shift: int, width: int) -> np.ndarray:
    keys = np.empty((codes.shape[0], max(width, 1)), np.int64)
    mask = (1 << shift) - 1
    for pos in range(max(width, 1)):
        keys[:, pos] = ((codes >> (shift * pos)) & mask) - 1
    return keys


def fourier_spectrum(
    model: Any,
    n: Optional[int] = None,
    *,
    max_terms: int = MAX_TERMS,
    drop_zeros: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """The exact Fourier spectrum of a tree model on masks: ``(keys [K, D], values [K])``.

    ``keys`` are padded sorted unit indices (−1 pads; the empty set is all −1), as in
    :mod:`spex_mech.results.spectrum`; the ensemble's baseline is included in F(∅), so
    ``Σ_k F(k)(−1)^⟨x,k⟩`` equals the model's prediction at every mask x. Cost: Σ over leaves of
    2^(path length) terms (refused above ``max_terms``); cap tree depth to keep it small.
    """
    return _expand(tree_table(model, n), "fourier", max_terms, drop_zeros)


def mobius_spectrum(
    model: Any,
    n: Optional[int] = None,
    *,
    max_terms: int = MAX_TERMS,
    drop_zeros: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """The exact Möbius (AND-basis) spectrum of a tree model on masks: ``(keys [K, D], values [K])``.

    ``Σ_k a(k)·Π_{i∈k} x_i`` equals the model's prediction at every mask x (the baseline is a(∅)).
    Read straight off the leaf paths (a leaf with kept units P1 and ablated units P0 contributes
    ±value to AND(P1 ∪ T) for every T ⊆ P0), which is cheaper than converting the Fourier spectrum.
    With ``drop_zeros=False`` the support is every subset of every reachable leaf path (the zero
    coefficients included), the same support as the Fourier spectrum's.
    """
    return _expand(tree_table(model, n), "mobius", max_terms, drop_zeros)


def _expand(ens: TreeEnsemble, basis: str, max_terms: int, drop_zeros: bool) -> tuple[np.ndarray, np.ndarray]:
    """Sum every reachable leaf's path-subset terms (see :func:`_subset_terms`) over the ensemble."""
    nf = ens.n_features
    leaves, pf, ps, lengths = _leaf_paths(ens)
    values = ens.value[leaves]
    total = int(np.sum(np.left_shift(1, lengths.astype(np.int64)))) if leaves.size else 0
    if total > max_terms:
        raise ValueError(
            f"the tree model expands to {total} path-subset terms (more than max_terms={max_terms}); "
            f"its deepest path has {int(lengths.max())} splits: cap the depth (max_depth / max_order)"
        )
    max_len = int(lengths.max(initial=0))
    shift = max(1, int(nf).bit_length())
    packed = shift * max(max_len, 1) <= 63
    codes_parts, coef_parts = [], []
    for d in np.unique(lengths):
        d = int(d)
        rows = np.nonzero(lengths == d)[0]
        per = max(1, _CHUNK_TERMS >> d)
        for start in range(0, rows.shape[0], per):
            sel = rows[start : start + per]
            keys, coef = _subset_terms(pf[sel], ps[sel], values[sel], d, shift if packed else 0, basis, not drop_zeros)
            if not packed:
                full = np.full((keys.shape[0], max(max_len, 1)), -1, np.int64)
                full[:, : keys.shape[1]] = keys
                keys = full
            codes_parts.append(keys)
            coef_parts.append(coef)
    width = max(max_len, 1)
    if packed:
        codes = np.concatenate(codes_parts + [np.zeros(1, np.int64)])
        coefs = np.concatenate(coef_parts + [np.array([ens.baseline])])
        uniq, inverse = np.unique(codes, return_inverse=True)
        sums = np.bincount(inverse.reshape(-1), weights=coefs, minlength=uniq.shape[0])
        keys = _decode_codes(uniq, shift, width)
    else:
        keys = np.concatenate(codes_parts + [np.full((1, width), -1, np.int64)])
        coefs = np.concatenate(coef_parts + [np.array([ens.baseline])])
        keys, sums = spec.aggregate(keys, coefs)
    if drop_zeros:
        nz = sums != 0.0
        empty = np.all(keys < 0, axis=1)
        keep = nz | empty
        keys, sums = keys[keep], sums[keep]
    return keys, sums
