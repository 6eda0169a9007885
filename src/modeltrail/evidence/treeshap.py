"""Exact path-dependent TreeSHAP for scikit-learn tree models, vectorised over rows and leaves.

Why by hand: shap (the ``[explain]`` extra) is optional, and its TreeExplainer is the only other exact
implementation for scikit-learn trees; XGBoost and LightGBM compute their own contributions and are used
for their models. The result is the same as ``shap.TreeExplainer(model, feature_perturbation=
"tree_path_dependent")`` (the tests compare the two when shap is installed).

The formula (Lundberg et al. 2020, "From local explanations to global understanding with explainable AI
for trees", Algorithm 2, written leaf by leaf as in the Linear TreeShap and GPUTreeShap papers). For one
tree and one leaf with value ``v``, let ``U`` be the distinct features split on along the root-to-leaf
path (``d = |U|``), ``r_j`` the product over the splits on ``j`` of the fraction of the training cover
that goes the leaf's way (the "zero fraction"), and ``o_j(x)`` 1 when ``x`` goes the leaf's way at every
split on ``j`` (the "one fraction"). The leaf's game is ``g(S) = v prod_{j in S} o_j prod_{j not in S}
r_j`` and its Shapley values are

    phi_i = v (o_i - r_i) sum_k c_k k! (d-k-1)! / d!

where ``c_k`` is the coefficient of ``t^k`` in ``prod_{j != i} (r_j + o_j t)``. Summed over leaves and
trees this is exact TreeSHAP: ``sum_i phi_i = f(x) - E[f]`` with ``E[f] = sum_leaves v prod_j r_j``, the
cover-weighted mean output. The product polynomial of all ``d`` factors is built once per (row, leaf);
the product without factor ``i`` is recovered by dividing it by ``r_i`` (when ``o_i = 0``) or by
``t + r_i`` (synthetic division from the top coefficient, stable since ``0 < r_i <= 1``). Every step is a
numpy operation over (rows x leaves); paths are padded to the longest with neutral factors (``r = 1,
o = 0``), so the number of Python-level steps is ``O(depth^2)`` per chunk of rows, independent of the
number of trees and rows.

Supported: ``DecisionTree*``, ``RandomForest*``, ``ExtraTrees*``, ``GradientBoosting*`` and
``HistGradientBoosting*`` (numeric splits), binary classification or regression. Outputs are explained on
the scale the model adds trees on: probability of the positive class for forests and single trees
(their average of tree probabilities), raw log-odds for gradient boosting classifiers, the prediction for
regressors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from modeltrail.evidence._common import BoolArray, FloatArray, IntArray

__all__ = ["TreeModel", "tree_model", "tree_shap"]

# Rows x leaves x (depth + 1) float64 elements per chunk: about 32 MB of working memory.
_CHUNK_ELEMENTS = 4_000_000


@dataclass(frozen=True)
class _Tree:
    """One tree as plain arrays: children (-1 at leaves), split feature/threshold, NaN direction, cover, value."""

    left: IntArray
    right: IntArray
    feature: IntArray
    threshold: FloatArray
    missing_left: BoolArray
    cover: FloatArray
    value: FloatArray


@dataclass(frozen=True)
class _Bucket:
    """The leaves with ``depth`` distinct path features: computed together with polynomials of that degree."""

    depth: int
    leaves: IntArray
    zero: FloatArray  # leaves x depth
    weights: FloatArray  # leaves x depth
    value: FloatArray  # leaves
    summer: sp.csr_matrix  # (leaves * depth) x features


@dataclass(frozen=True)
class TreeModel:
    """An ensemble flattened for :func:`tree_shap`: the model output is ``base_offset + sum of leaf values``.

    ``units`` names the explained scale; ``float32`` says whether inputs are compared in single precision
    (scikit-learn's decision trees cast ``X`` to float32 before comparing with thresholds).
    """

    n_features: int
    base_offset: float
    units: str
    float32: bool
    # Internal nodes of every tree, globally numbered.
    node_feature: IntArray
    node_threshold: FloatArray
    node_missing_left: BoolArray
    # Leaves (L) x path slots (D).
    leaf_value: FloatArray
    leaf_depth: IntArray  # distinct features on the path (d)
    slot_feature: IntArray  # -1 on padding
    slot_zero: FloatArray  # r, 1 on padding
    # Occurrences of splits, grouped by (leaf, slot) in flattened order; reduceat starts per group.
    occ_node: IntArray
    occ_left: BoolArray
    group_starts: IntArray
    group_slots: IntArray  # flattened (leaf * D + slot) index of each group
    weights: FloatArray  # L x D: k! (d-k-1)! / d! for k < d, else 0
    expected_value: float
    buckets: tuple[_Bucket, ...] = ()


def _sk_tree(t: Any, scale: float, classifier: bool) -> _Tree:
    tr = t.tree_
    if classifier:
        counts = tr.value[:, 0, :]
        value = counts[:, 1] / np.maximum(counts.sum(axis=1), 1e-300)
    else:
        value = tr.value[:, 0, 0]
    mgl = getattr(tr, "missing_go_to_left", None)
    missing_left = np.asarray(mgl, dtype=bool) if mgl is not None else np.ones(tr.node_count, dtype=bool)
    return _Tree(
        np.asarray(tr.children_left, dtype=np.int64),
        np.asarray(tr.children_right, dtype=np.int64),
        np.asarray(tr.feature, dtype=np.int64),
        np.asarray(tr.threshold, dtype=np.float64),
        missing_left,
        np.asarray(tr.weighted_n_node_samples, dtype=np.float64),
        np.asarray(value, dtype=np.float64) * scale,
    )


def _hist_tree(predictor: Any) -> _Tree | None:
    nodes = predictor.nodes
    if bool(np.asarray(nodes["is_categorical"]).any()):
        return None  # bitset splits on categories: not a threshold comparison
    leaf = np.asarray(nodes["is_leaf"], dtype=bool)
    left = np.where(leaf, -1, np.asarray(nodes["left"], dtype=np.int64))
    right = np.where(leaf, -1, np.asarray(nodes["right"], dtype=np.int64))
    return _Tree(
        left,
        right,
        np.asarray(nodes["feature_idx"], dtype=np.int64),
        np.asarray(nodes["num_threshold"], dtype=np.float64),
        np.asarray(nodes["missing_go_to_left"], dtype=bool),
        np.asarray(nodes["count"], dtype=np.float64),
        np.asarray(nodes["value"], dtype=np.float64),
    )


def tree_model(est: Any) -> TreeModel | None:
    """The :class:`TreeModel` of a fitted scikit-learn tree model, or None when it is not supported.

    Multi-class models, multi-output trees and histogram boosting with categorical splits return None.
    """
    from sklearn.ensemble import (
        ExtraTreesClassifier,
        ExtraTreesRegressor,
        GradientBoostingClassifier,
        GradientBoostingRegressor,
        HistGradientBoostingClassifier,
        HistGradientBoostingRegressor,
        RandomForestClassifier,
        RandomForestRegressor,
    )
    from sklearn.tree import BaseDecisionTree

    trees: list[_Tree] = []
    offset = 0.0
    float32 = True
    classifier = hasattr(est, "classes_")
    if classifier and len(est.classes_) != 2:
        return None
    if isinstance(est, BaseDecisionTree):
        if est.tree_.n_outputs != 1:
            return None
        trees = [_sk_tree(est, 1.0, classifier)]
        units = "probability" if classifier else "prediction"
    elif isinstance(est, RandomForestClassifier | RandomForestRegressor | ExtraTreesClassifier | ExtraTreesRegressor):
        if getattr(est, "n_outputs_", 1) != 1:
            return None
        trees = [_sk_tree(t, 1.0 / len(est.estimators_), classifier) for t in est.estimators_]
        units = "probability" if classifier else "prediction"
    elif isinstance(est, GradientBoostingClassifier | GradientBoostingRegressor):
        if est.estimators_.shape[1] != 1:
            return None
        lr = float(est.learning_rate)
        trees = [_sk_tree(t, lr, False) for t in est.estimators_[:, 0]]
        try:  # the initial raw prediction (log-odds of the prior); private API, hence the guard
            init = est._raw_predict_init(np.zeros((1, est.n_features_in_)))
        except AttributeError:
            return None
        offset = float(np.asarray(init).ravel()[0])
        units = "log-odds" if classifier else "prediction"
    elif isinstance(est, HistGradientBoostingClassifier | HistGradientBoostingRegressor):
        predictors = getattr(est, "_predictors", None)
        baseline = getattr(est, "_baseline_prediction", None)
        if predictors is None or baseline is None or any(len(p) != 1 for p in predictors):
            return None
        for p in predictors:
            h = _hist_tree(p[0])
            if h is None:
                return None
            trees.append(h)
        offset = float(np.asarray(baseline).ravel()[0])
        units = "log-odds" if classifier else "prediction"
        float32 = False  # histogram boosting compares float64 inputs with float64 thresholds
    else:
        return None
    return _flatten(trees, int(est.n_features_in_), offset, units, float32)


def _flatten(trees: list[_Tree], n_features: int, offset: float, units: str, float32: bool) -> TreeModel:
    node_feature: list[int] = []
    node_threshold: list[float] = []
    node_missing: list[bool] = []
    leaves: list[tuple[float, list[int], list[float], list[list[tuple[int, bool]]]]] = []
    for t in trees:
        base = len(node_feature)
        node_feature.extend(int(f) for f in t.feature)
        node_threshold.extend(float(v) for v in t.threshold)
        node_missing.extend(bool(m) for m in t.missing_left)
        # Depth-first walk carrying the path: (global node, went left, fraction of cover taken).
        stack: list[tuple[int, list[tuple[int, int, bool, float]]]] = [(0, [])]
        while stack:
            node, path = stack.pop()
            if t.left[node] < 0:
                feats: list[int] = []
                zeros: list[float] = []
                occs: list[list[tuple[int, bool]]] = []
                for gnode, feat, went_left, frac in path:
                    if feat in feats:
                        k = feats.index(feat)
                        zeros[k] *= frac
                        occs[k].append((gnode, went_left))
                    else:
                        feats.append(feat)
                        zeros.append(frac)
                        occs.append([(gnode, went_left)])
                leaves.append((float(t.value[node]), feats, zeros, occs))
                continue
            cover = t.cover[node]
            for child, went_left in ((int(t.left[node]), True), (int(t.right[node]), False)):
                # A child without cover (zero sample weights) would make r = 0; a tiny floor keeps the
                # division in tree_shap defined and changes the result by less than 1e-12 relative.
                frac = max(float(t.cover[child]) / cover, 1e-12) if cover > 0 else 0.5
                stack.append((child, [*path, (base + node, int(t.feature[node]), went_left, frac)]))
    n_leaves = len(leaves)
    depth = max(1, max((len(f) for _, f, _, _ in leaves), default=1))
    leaf_value = np.array([v for v, _, _, _ in leaves], dtype=np.float64)
    leaf_depth = np.array([len(f) for _, f, _, _ in leaves], dtype=np.int64)
    slot_feature = np.full((n_leaves, depth), -1, dtype=np.int64)
    slot_zero = np.ones((n_leaves, depth), dtype=np.float64)
    occ_node: list[int] = []
    occ_left: list[bool] = []
    starts: list[int] = []
    slots: list[int] = []
    for i, (_, feats, zeros, occs) in enumerate(leaves):
        for k, (f, z, oc) in enumerate(zip(feats, zeros, occs, strict=True)):
            slot_feature[i, k] = f
            slot_zero[i, k] = z
            starts.append(len(occ_node))
            slots.append(i * depth + k)
            for gnode, went_left in oc:
                occ_node.append(gnode)
                occ_left.append(went_left)
    weights = np.zeros((n_leaves, depth), dtype=np.float64)
    for d in set(leaf_depth.tolist()):
        if d == 0:
            continue
        w = np.array([math.factorial(k) * math.factorial(d - k - 1) / math.factorial(d) for k in range(d)])
        weights[leaf_depth == d, :d] = w
    expected = offset + float((leaf_value * slot_zero.prod(axis=1)).sum())
    buckets = []
    for d in sorted(set(leaf_depth.tolist()) - {0}):
        idx = np.flatnonzero(leaf_depth == d).astype(np.int64)
        slot_feats = slot_feature[idx, :d].ravel()
        summer = sp.csr_matrix(
            (np.ones(slot_feats.shape[0]), (np.arange(slot_feats.shape[0]), slot_feats)),
            shape=(slot_feats.shape[0], n_features),
        )
        buckets.append(_Bucket(d, idx, slot_zero[idx, :d].copy(), weights[idx, :d].copy(), leaf_value[idx], summer))
    return TreeModel(
        n_features=n_features,
        base_offset=offset,
        units=units,
        float32=float32,
        node_feature=np.maximum(np.array(node_feature, dtype=np.int64), 0),
        node_threshold=np.array(node_threshold, dtype=np.float64),
        node_missing_left=np.array(node_missing, dtype=bool),
        leaf_value=leaf_value,
        leaf_depth=leaf_depth,
        slot_feature=slot_feature,
        slot_zero=slot_zero,
        occ_node=np.array(occ_node, dtype=np.int64),
        occ_left=np.array(occ_left, dtype=bool),
        group_starts=np.array(starts, dtype=np.int64),
        group_slots=np.array(slots, dtype=np.int64),
        weights=weights,
        expected_value=expected,
        buckets=tuple(buckets),
    )


def _one_fractions(tm: TreeModel, x: FloatArray) -> FloatArray:
    """``o[row, leaf, slot]``: 1 when the row goes the leaf's way at every split on the slot's feature."""
    m = x.shape[0]
    n_leaves, depth = tm.slot_feature.shape
    xv = x[:, tm.node_feature]
    go_left = np.where(np.isnan(xv), tm.node_missing_left, xv <= tm.node_threshold)
    follows = go_left[:, tm.occ_node] == tm.occ_left
    ones = np.zeros((m, n_leaves * depth), dtype=np.float64)
    ones[:, tm.group_slots] = np.logical_and.reduceat(follows, tm.group_starts, axis=1)
    return ones.reshape(m, n_leaves, depth)


def _bucket_shap(b: _Bucket, o: FloatArray) -> FloatArray:
    """Contributions (rows x leaves*depth, slot order) of the leaves of bucket ``b``; ``o`` rows x leaves x depth."""
    m, n_leaves, d = o.shape
    r = b.zero[None, :, :]
    # Coefficients of prod_j (r_j + o_j t), lowest degree first; after s factors the degree is <= s.
    poly = np.zeros((m, n_leaves, d + 1), dtype=np.float64)
    poly[..., 0] = 1.0
    for s in range(d):
        shifted = poly[..., : s + 1] * o[..., s, None]
        poly[..., : s + 1] *= r[..., s, None]
        poly[..., 1 : s + 2] += shifted
    w = b.weights
    # o_i = 0: the factor is the constant r_i, and (o_i - r_i) * (sum_k c_k w_k) / r_i = -sum_k c_k w_k,
    # the same for every such slot of the leaf.
    shared = np.einsum("mlk,lk->ml", poly[..., :d], w)
    # o_i = 1: synthetic division by (t + r_i) from the top coefficient, for every slot at once.
    q = np.repeat(poly[..., d, None], d, axis=2)
    total = q * w[None, :, d - 1, None]
    for k in range(d - 1, 0, -1):
        q = poly[..., k, None] - r * q
        total += q * w[None, :, k - 1, None]
    contrib = np.where(o > 0, (1.0 - r) * total, -shared[..., None])
    contrib *= b.value[None, :, None]
    return contrib.reshape(m, n_leaves * d)


def tree_shap(tm: TreeModel, X: Any) -> FloatArray:
    """Exact path-dependent SHAP values (rows x features) of the model ``tm`` at the rows of ``X``.

    ``X`` is the numeric matrix the trees were fitted on (NaN allowed where the model handles it). Each
    row's values add up to ``f(x) - tm.expected_value`` on the scale ``tm.units``.
    """
    Xf = np.asarray(X, dtype=np.float64)
    if Xf.ndim == 1:
        Xf = Xf[None, :]
    if tm.float32:
        Xf = Xf.astype(np.float32).astype(np.float64)
    n = Xf.shape[0]
    n_leaves, depth = tm.slot_feature.shape
    out = np.zeros((n, tm.n_features), dtype=np.float64)
    if n == 0 or not tm.buckets:
        return out
    chunk = max(1, _CHUNK_ELEMENTS // (n_leaves * (depth + 1)))
    for lo in range(0, n, chunk):
        x = Xf[lo : lo + chunk]
        o = _one_fractions(tm, x)
        acc = np.zeros((x.shape[0], tm.n_features), dtype=np.float64)
        for b in tm.buckets:
            contrib = _bucket_shap(b, o[:, b.leaves, : b.depth])
            acc += np.asarray((b.summer.T @ contrib.T).T)
        out[lo : lo + x.shape[0]] = acc
    return out


def tree_predict(tm: TreeModel, X: Any) -> FloatArray:
    """The model output on the explained scale (``base_offset`` plus the reached leaves), for checks."""
    Xf = np.asarray(X, dtype=np.float64)
    if Xf.ndim == 1:
        Xf = Xf[None, :]
    if tm.float32:
        Xf = Xf.astype(np.float32).astype(np.float64)
    xv = Xf[:, tm.node_feature]
    go_left = np.where(np.isnan(xv), tm.node_missing_left, xv <= tm.node_threshold)
    follows = go_left[:, tm.occ_node] == tm.occ_left
    reached = np.ones((Xf.shape[0], tm.slot_feature.size), dtype=bool)
    reached[:, tm.group_slots] = np.logical_and.reduceat(follows, tm.group_starts, axis=1)
    leaf_hit = reached.reshape(Xf.shape[0], *tm.slot_feature.shape).all(axis=2)
    return np.asarray(tm.base_offset + leaf_hit.astype(np.float64) @ tm.leaf_value, dtype=np.float64)
