"""Explainability report (EU AI Act Art. 13 transparency, Art. 86 explanation of individual decisions).

Global importance, by the first method that applies (``method="auto"``):

1. ``native``: XGBoost / LightGBM models — their own TreeSHAP contributions (``pred_contribs=True`` /
   ``pred_contrib=True``); the libraries are imported only when such a model is passed.
2. ``shap``: when the ``shap`` package (the ``[explain]`` extra) is installed — ``shap.Explainer``.
3. ``linear``: a linear scikit-learn model, alone or as the last step of a Pipeline whose preprocessing
   maps back to the raw columns (ColumnTransformer with OneHotEncoder/scalers/imputers) — the exact
   contributions ``coef * (z - mean(z))`` in the model's output space (log-odds for logistic models),
   summed over the encoded columns of each raw column.
4. ``permutation``: anything else — ``sklearn.inspection.permutation_importance`` (ROC AUC for binary
   classifiers with ``predict_proba``, else the estimator's default score).

Importance of a feature is the mean absolute contribution over ``X`` (methods 1-3) or the mean drop in
score when the feature is shuffled (method 4).

:class:`DecisionExplainer` explains single decisions cheaply enough to be logged with every inference:
exact linear contributions; for scikit-learn tree models (decision trees, random forests, extra trees,
gradient boosting) the Saabas path attribution — each split on the decision path credits its feature
with the change in the node's mean prediction — computed for all trees at once, one depth level per numpy
step. Saabas is a fast approximation of TreeSHAP: it is exact for the additive structure of the path
but order-dependent within a tree. Any other model falls back to occlusion: one batched prediction with
each feature in turn replaced by its background value (median or mode).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from modeltrail.errors import ValidationError
from modeltrail.evidence._common import FloatArray, IntArray, finite_or_none, utc_now
from modeltrail.evidence.report import Report

__all__ = ["METHODS", "SCHEMA_VERSION", "DecisionExplainer", "explainability_report"]

SCHEMA_VERSION = 1
METHODS = ("auto", "native", "shap", "linear", "permutation")


# --------------------------------------------------------------------------------------------------
# Model inspection
# --------------------------------------------------------------------------------------------------


def _split_pipeline(model: Any) -> tuple[Any | None, Any]:
    """(preprocessing, final estimator) of a scikit-learn Pipeline; (None, model) otherwise."""
    from sklearn.pipeline import Pipeline

    if isinstance(model, Pipeline) and len(model.steps) > 1:
        return model[:-1], model.steps[-1][1]
    if isinstance(model, Pipeline):
        return None, model.steps[-1][1]
    return None, model


def _is_linear(est: Any) -> bool:
    from sklearn.linear_model._base import LinearClassifierMixin, LinearModel

    return isinstance(est, LinearClassifierMixin | LinearModel) and hasattr(est, "coef_")


def _module_of(model: Any) -> str:
    return type(model).__module__.split(".")[0]


def _column_map(pre: Any | None, raw_names: Sequence[str], n_out: int) -> IntArray | None:
    """For each encoded column, the index of the raw column it comes from (None if unknown).

    Understands ColumnTransformer with OneHotEncoder / one-to-one transformers (scalers, imputers without
    indicators), possibly wrapped in a Pipeline. Anything else returns None and callers fall back.
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    if pre is None:
        return np.arange(n_out, dtype=np.int64) if n_out == len(raw_names) else None
    steps = list(pre.named_steps.values()) if isinstance(pre, Pipeline) else [pre]
    if len(steps) != 1 or not isinstance(steps[0], ColumnTransformer):
        # A chain of one-to-one transformers keeps the column order.
        return np.arange(n_out, dtype=np.int64) if n_out == len(raw_names) else None
    ct = steps[0]
    index = {name: i for i, name in enumerate(raw_names)}
    out = np.full(n_out, -1, dtype=np.int64)
    for name, trans, cols in ct.transformers_:
        if name == "remainder" and trans == "drop":
            continue
        sl = ct.output_indices_[name]
        width = sl.stop - sl.start
        if width == 0:
            continue
        col_names = [raw_names[int(c)] if isinstance(c, int | np.integer) else str(c) for c in np.atleast_1d(cols)]
        last = trans.steps[-1][1] if isinstance(trans, Pipeline) else trans
        if isinstance(last, OneHotEncoder):
            sizes = [len(c) for c in last.categories_]
            if last.drop_idx_ is not None:
                sizes = [s - (d is not None) for s, d in zip(sizes, last.drop_idx_, strict=True)]
            if sum(sizes) != width:
                return None
            pieces = np.repeat([index[c] for c in col_names], sizes)
        elif width == len(col_names):
            pieces = np.array([index[c] for c in col_names], dtype=np.int64)
        else:
            return None
        out[sl] = pieces
    return out if (out >= 0).all() else None


def _to_frame(X: Any, feature_names: Sequence[str]) -> pd.DataFrame:
    if isinstance(X, pd.DataFrame):
        return X
    arr = np.asarray(X)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.shape[1] != len(feature_names):
        raise ValidationError(f"{arr.shape[1]} columns but {len(feature_names)} feature names", field="X")
    return pd.DataFrame(arr, columns=list(feature_names))


def _dense(z: Any) -> FloatArray:
    if hasattr(z, "toarray"):
        z = z.toarray()
    return np.asarray(z, dtype=np.float64)


def _compile_encoder(pre: Any | None, names: Sequence[str], n_out: int) -> Any | None:
    """A plain-Python encoder ``row mapping -> z`` equal to ``pre.transform`` for one row, or None.

    scikit-learn's transform of a one-row frame costs milliseconds of validation; the runtime explains
    every decision, so the common preprocessing (a ColumnTransformer of OneHotEncoder without ``drop``,
    StandardScaler and passthrough columns) is replayed from the fitted attributes instead. Anything else
    returns None and the explainer uses ``pre.transform``.
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

    if pre is None:
        return lambda row: np.array([float(row[c]) for c in names], dtype=np.float64)
    ct = pre
    if not isinstance(ct, ColumnTransformer) and hasattr(pre, "steps") and len(pre.steps) == 1:
        ct = pre.steps[0][1]
    if not isinstance(ct, ColumnTransformer):
        return None
    plan: list[tuple[str, int, list[str], Any]] = []
    for name, trans, cols in ct.transformers_:
        sl = ct.output_indices_[name]
        if sl.stop == sl.start or (isinstance(trans, str) and trans == "drop"):
            continue
        col_names = [names[int(c)] if isinstance(c, int | np.integer) else str(c) for c in np.atleast_1d(cols)]
        if (isinstance(trans, str) and trans == "passthrough") or (
            isinstance(trans, FunctionTransformer) and trans.func is None
        ):
            plan.append(("pass", sl.start, col_names, None))
        elif (
            isinstance(trans, OneHotEncoder)
            and trans.drop_idx_ is None
            and not getattr(trans, "_infrequent_enabled", False)
        ):
            offsets = np.cumsum([0] + [len(c) for c in trans.categories_])[:-1]
            lookup = [
                {v: int(off) + j for j, v in enumerate(cats.tolist())}
                for off, cats in zip(offsets, trans.categories_, strict=True)
            ]
            plan.append(("onehot", sl.start, col_names, lookup))
        elif isinstance(trans, StandardScaler):
            mean = trans.mean_ if trans.mean_ is not None else np.zeros(len(col_names))
            scale = trans.scale_ if trans.scale_ is not None else np.ones(len(col_names))
            plan.append(("scale", sl.start, col_names, (mean, scale)))
        else:
            return None

    def encode(row: Mapping[str, Any]) -> FloatArray:
        z = np.zeros(n_out, dtype=np.float64)
        for kind, start, cols, params in plan:
            if kind == "onehot":
                for col, table in zip(cols, params, strict=True):
                    hit = table.get(row[col])
                    if hit is not None:
                        z[start + hit] = 1.0
            else:
                values = np.array([float(row[c]) for c in cols], dtype=np.float64)
                if kind == "scale":
                    values = (values - params[0]) / params[1]
                z[start : start + len(cols)] = values
        return z

    return encode


# --------------------------------------------------------------------------------------------------
# Per-decision explanations
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _TreeArrays:
    """All trees of an ensemble padded into (trees x nodes) arrays for a level-by-level walk."""

    left: IntArray
    right: IntArray
    feature: IntArray
    threshold: FloatArray
    delta: FloatArray  # value(node) - value(parent), 0 at the roots
    missing_left: np.ndarray[Any, np.dtype[np.bool_]]
    depth: int
    base: float


def _tree_arrays(est: Any) -> _TreeArrays | None:
    """Saabas arrays of a scikit-learn tree model (binary classification or regression), else None."""
    from sklearn.ensemble import (
        ExtraTreesClassifier,
        ExtraTreesRegressor,
        GradientBoostingClassifier,
        GradientBoostingRegressor,
        RandomForestClassifier,
        RandomForestRegressor,
    )
    from sklearn.tree import BaseDecisionTree

    scale = 1.0
    base = 0.0
    if isinstance(est, BaseDecisionTree):
        trees = [est]
    elif isinstance(est, RandomForestClassifier | RandomForestRegressor | ExtraTreesClassifier | ExtraTreesRegressor):
        trees = list(est.estimators_)
        scale = 1.0 / len(trees)
    elif isinstance(est, GradientBoostingClassifier | GradientBoostingRegressor):
        if est.estimators_.shape[1] != 1:
            return None  # multi-class boosting: one tree per class, not supported here
        trees = list(est.estimators_[:, 0])
        scale = float(est.learning_rate)
        try:  # the initial raw prediction (log-odds of the prior); private API, hence the guard
            init = est._raw_predict_init(np.zeros((1, est.n_features_in_)))
        except AttributeError:
            return None
        base = float(np.asarray(init).ravel()[0])
    else:
        return None
    classifier = hasattr(est, "classes_") and not isinstance(est, GradientBoostingClassifier)
    if classifier and len(est.classes_) != 2:
        return None
    width = max(t.tree_.node_count for t in trees)
    T = len(trees)
    left = np.full((T, width), -1, dtype=np.int64)
    right = np.full((T, width), -1, dtype=np.int64)
    feature = np.zeros((T, width), dtype=np.int64)
    threshold = np.zeros((T, width), dtype=np.float64)
    delta = np.zeros((T, width), dtype=np.float64)
    missing_left = np.zeros((T, width), dtype=bool)
    depth = 0
    for i, t in enumerate(trees):
        tr = t.tree_
        k = tr.node_count
        value = tr.value[:, 0, 1] if classifier else tr.value[:, 0, 0]
        if classifier and tr.value[:, 0, :].sum(axis=1).max() > 1.0 + 1e-9:
            value = value / tr.value[:, 0, :].sum(axis=1)  # counts in old versions, fractions in new ones
        value = value * scale
        left[i, :k], right[i, :k] = tr.children_left, tr.children_right
        feature[i, :k] = np.maximum(tr.feature, 0)
        threshold[i, :k] = tr.threshold
        mgl = getattr(tr, "missing_go_to_left", None)
        if mgl is not None:
            missing_left[i, :k] = np.asarray(mgl, dtype=bool)
        internal = tr.children_left >= 0
        parents = np.flatnonzero(internal)
        delta[i, tr.children_left[parents]] = value[tr.children_left[parents]] - value[parents]
        delta[i, tr.children_right[parents]] = value[tr.children_right[parents]] - value[parents]
        base += float(value[0])
        depth = max(depth, int(tr.max_depth))
    return _TreeArrays(left, right, feature, threshold, delta, missing_left, depth, base)


def _saabas(arrays: _TreeArrays, z: FloatArray, n_features: int) -> FloatArray:
    """Contributions of the encoded features ``z`` (1-D) walking every tree at once."""
    T = arrays.left.shape[0]
    rows = np.arange(T)
    node = np.zeros(T, dtype=np.int64)
    contrib = np.zeros(n_features, dtype=np.float64)
    for _ in range(arrays.depth):
        lft = arrays.left[rows, node]
        active = lft >= 0
        if not active.any():
            break
        feat = arrays.feature[rows, node]
        x = z[feat]
        go_left = np.where(np.isnan(x), arrays.missing_left[rows, node], x <= arrays.threshold[rows, node])
        child = np.where(go_left, lft, arrays.right[rows, node])
        child = np.where(active, child, node)
        gain = np.where(active, arrays.delta[rows, child], 0.0)
        contrib += np.bincount(feat, weights=gain, minlength=n_features)
        node = child
    return contrib


class DecisionExplainer:
    """Top-k feature contributions of single decisions, cheap enough to log per inference.

    Build with :meth:`fit`; ``method`` says which attribution is used (``linear``, ``saabas``, ``native``
    or ``occlusion``) and ``units`` what the contributions are measured in.
    """

    def __init__(
        self,
        model: Any,
        feature_names: Sequence[str],
        method: str,
        units: str,
        base_value: float,
        state: dict[str, Any],
    ) -> None:
        self.model = model
        self.feature_names = list(feature_names)
        self.method = method
        self.units = units
        self.base_value = base_value
        self._state = state

    @classmethod
    def fit(cls, model: Any, X_background: Any, *, feature_names: Sequence[str] | None = None) -> DecisionExplainer:
        """Prepare explanations of ``model`` (fitted) relative to the background data ``X_background``."""
        names = list(feature_names) if feature_names is not None else _names_of(X_background)
        bg = _to_frame(X_background, names)
        pre, est = _split_pipeline(model)
        mod = _module_of(est)
        if mod in ("xgboost", "lightgbm"):
            # The libraries' own TreeSHAP: one column per encoded input plus the bias (the expected raw
            # margin, the same for every row), mapped back to the raw features like the other methods.
            sample = _native_contributions(est, pre, bg.iloc[:1])
            cmap_native = _column_map(pre, names, sample.shape[1] - 1)
            if cmap_native is None:
                raise ValidationError("can not map the model's columns back to the features", field="model")
            state_native = {"pre": pre, "est": est, "map": cmap_native}
            return cls(model, names, "native", "raw margin", float(sample[0, -1]), state_native)
        n_out = -1
        z_bg: FloatArray | None = None
        if _is_linear(est) or _tree_arrays(est) is not None:
            z_bg = _dense(pre.transform(bg) if pre is not None else bg.to_numpy(dtype=np.float64))
            n_out = z_bg.shape[1]
        cmap = _column_map(pre, names, n_out) if z_bg is not None else None
        if z_bg is not None and cmap is not None and _is_linear(est):
            coef = np.asarray(est.coef_, dtype=np.float64).reshape(-1, n_out)
            if coef.shape[0] == 1:
                mean = z_bg.mean(axis=0)
                intercept = float(np.ravel(getattr(est, "intercept_", 0.0))[0])
                units = "log-odds" if hasattr(est, "predict_proba") else "model output"
                base = intercept + float(coef[0] @ mean)
                state = {
                    "pre": pre,
                    "coef": coef[0],
                    "mean": mean,
                    "map": cmap,
                    "fast": _compile_encoder(pre, names, n_out),
                }
                return cls(model, names, "linear", units, base, state)
        if z_bg is not None and cmap is not None:
            arrays = _tree_arrays(est)
            if arrays is not None:
                units = "log-odds" if type(est).__name__ == "GradientBoostingClassifier" else "model output"
                state = {
                    "pre": pre,
                    "arrays": arrays,
                    "map": cmap,
                    "n_out": n_out,
                    "fast": _compile_encoder(pre, names, n_out),
                }
                return cls(model, names, "saabas", units, arrays.base, state)
        # Occlusion against a typical background row (median of numbers, mode of anything else).
        typical: dict[str, Any] = {}
        for c in names:
            col = bg[c]
            typical[c] = col.median() if pd.api.types.is_numeric_dtype(col) else col.mode(dropna=True).iloc[0]
        predict = _predict_fn(model)
        base = float(predict(pd.DataFrame([typical], columns=names))[0])
        return cls(model, names, "occlusion", "prediction", base, {"typical": typical, "predict": predict})

    def explain(self, x_row: Any, top_k: int = 5) -> list[tuple[str, float]]:
        """The ``top_k`` largest contributions (by absolute value) for one input row, largest first.

        ``x_row`` is a mapping of feature name to value, a 1-D sequence in ``feature_names`` order, or a
        one-row frame.
        """
        contrib = self.contributions(x_row)
        k = max(0, min(top_k, contrib.shape[0]))
        top = np.argsort(-np.abs(contrib), kind="stable")[:k]
        return [(self.feature_names[i], float(contrib[i])) for i in top]

    def contributions(self, x_row: Any) -> FloatArray:
        """Contribution of every feature for one row (``feature_names`` order)."""
        st = self._state
        n = len(self.feature_names)
        if st.get("fast") is not None and not isinstance(x_row, pd.DataFrame | pd.Series):
            record = x_row if isinstance(x_row, Mapping) else dict(zip(self.feature_names, list(x_row), strict=True))
            z = st["fast"](record)
            parts = st["coef"] * (z - st["mean"]) if self.method == "linear" else _saabas(st["arrays"], z, st["n_out"])
            return np.asarray(np.bincount(st["map"], weights=parts, minlength=n), dtype=np.float64)
        row = self._row(x_row)
        if self.method == "linear":
            z = self._encode(row)
            parts = st["coef"] * (z - st["mean"])
            return np.asarray(np.bincount(st["map"], weights=parts, minlength=n), dtype=np.float64)
        if self.method == "saabas":
            z = self._encode(row)
            parts = _saabas(st["arrays"], z, st["n_out"])
            return np.asarray(np.bincount(st["map"], weights=parts, minlength=n), dtype=np.float64)
        if self.method == "native":
            values = _native_contributions(st["est"], st["pre"], row)[0, :-1]
            return np.asarray(np.bincount(st["map"], weights=values, minlength=n), dtype=np.float64)
        typical = st["typical"]
        frame = pd.DataFrame(
            [row.iloc[0].to_dict()] + [{**row.iloc[0].to_dict(), c: typical[c]} for c in self.feature_names]
        )
        pred = np.asarray(st["predict"](frame), dtype=np.float64)
        out: FloatArray = pred[0] - pred[1:]
        return out

    def _row(self, x_row: Any) -> pd.DataFrame:
        if isinstance(x_row, pd.DataFrame):
            return x_row.iloc[:1]
        if isinstance(x_row, pd.Series):
            return x_row.to_frame().T
        if isinstance(x_row, Mapping):
            return pd.DataFrame([{c: x_row[c] for c in self.feature_names}], columns=self.feature_names)
        return _to_frame(np.asarray(x_row, dtype=object), self.feature_names)

    def _encode(self, row: pd.DataFrame) -> FloatArray:
        pre = self._state["pre"]
        if pre is None:
            return np.asarray(row.to_numpy(dtype=np.float64)[0], dtype=np.float64)
        z: FloatArray = _dense(pre.transform(row))[0]
        return z


def _names_of(X: Any) -> list[str]:
    if isinstance(X, pd.DataFrame):
        return [str(c) for c in X.columns]
    raise ValidationError("feature_names are needed when X is not a DataFrame", field="feature_names")


def _predict_fn(model: Any) -> Any:
    """Function returning the positive-class probability (binary classifiers) or the prediction."""
    if hasattr(model, "predict_proba"):
        return lambda X: np.asarray(model.predict_proba(X))[:, -1]
    return lambda X: np.asarray(model.predict(X), dtype=np.float64)


def _native_contributions(est: Any, pre: Any | None, X: pd.DataFrame) -> FloatArray:
    """TreeSHAP contributions from XGBoost / LightGBM themselves (last column: the bias)."""
    data = pre.transform(X) if pre is not None else X
    if _module_of(est) == "xgboost":
        import xgboost

        booster = est.get_booster() if hasattr(est, "get_booster") else est
        out = booster.predict(xgboost.DMatrix(data), pred_contribs=True)
    else:
        booster = est.booster_ if hasattr(est, "booster_") else est
        out = booster.predict(data, pred_contrib=True)
    arr = np.asarray(out, dtype=np.float64)
    return arr.reshape(arr.shape[0], -1)


# --------------------------------------------------------------------------------------------------
# Global report
# --------------------------------------------------------------------------------------------------


def _choose(method: str, est: Any, linear_ok: bool) -> str:
    if method != "auto":
        return method
    if _module_of(est) in ("xgboost", "lightgbm"):
        return "native"
    if importlib.util.find_spec("shap") is not None:
        return "shap"
    if linear_ok:
        return "linear"
    return "permutation"


def explainability_report(
    model: Any,
    X: Any,
    y: Any,
    *,
    feature_names: Sequence[str],
    subject: dict[str, str] | None = None,
    method: str = "auto",
    protected: Sequence[str] = (),
    n_repeats: int = 5,
    seed: int = 0,
) -> Report:
    """Ranked global feature importances of a fitted ``model`` on ``X`` (with targets ``y``).

    ``method`` is one of :data:`METHODS` (see the module documentation). ``protected`` names protected
    attributes among the features; their share of the total importance is reported, since a model that
    leans on them directly is a finding for the fairness review.
    """
    if method not in METHODS:
        raise ValidationError(f"must be one of {', '.join(METHODS)}", field="method")
    names = [str(f) for f in feature_names]
    frame = _to_frame(X, names)
    if list(map(str, frame.columns)) != names:
        raise ValidationError("feature_names must match the columns of X", field="feature_names")
    pre, est = _split_pipeline(model)
    linear_ok = False
    cmap: IntArray | None = None
    if _is_linear(est):
        z = _dense(pre.transform(frame) if pre is not None else frame.to_numpy(dtype=np.float64))
        cmap = _column_map(pre, names, z.shape[1])
        linear_ok = cmap is not None and np.asarray(est.coef_).reshape(-1, z.shape[1]).shape[0] == 1
    chosen = _choose(method, est, linear_ok)
    std: FloatArray | None = None
    detail: dict[str, Any] = {}
    if chosen == "linear":
        if not linear_ok or cmap is None:
            raise ValidationError("the model is not a single-output linear model on mappable columns", field="method")
        coef = np.asarray(est.coef_, dtype=np.float64).reshape(-1)
        parts = coef * (z - z.mean(axis=0))
        per_feature = np.zeros((parts.shape[0], len(names)))
        np.add.at(per_feature.T, cmap, parts.T)
        importance = np.abs(per_feature).mean(axis=0)
        detail["units"] = "mean |contribution| (log-odds)" if hasattr(est, "predict_proba") else "mean |contribution|"
    elif chosen in ("native", "shap"):
        if chosen == "native":
            contrib = _native_contributions(est, pre, frame)[:, :-1]
            cm = _column_map(pre, names, contrib.shape[1])
        else:
            import shap

            explainer = shap.Explainer(_predict_fn(model), frame)
            contrib = np.asarray(explainer(frame).values, dtype=np.float64).reshape(len(frame), -1)
            cm = np.arange(len(names), dtype=np.int64)
        if cm is None:
            raise ValidationError("can not map the model's columns back to the features", field="model")
        per_feature = np.zeros((contrib.shape[0], len(names)))
        np.add.at(per_feature.T, cm, contrib.T)
        importance = np.abs(per_feature).mean(axis=0)
        detail["units"] = "mean |SHAP value|"
    else:
        from sklearn.inspection import permutation_importance

        yy = np.asarray(y)
        scoring = "roc_auc" if hasattr(model, "predict_proba") and len(np.unique(yy)) == 2 else None
        result = permutation_importance(model, frame, yy, scoring=scoring, n_repeats=n_repeats, random_state=seed)
        importance = np.asarray(result.importances_mean, dtype=np.float64)
        std = np.asarray(result.importances_std, dtype=np.float64)
        detail.update({"units": f"mean drop in {scoring or 'score'}", "n_repeats": n_repeats, "seed": seed})

    order = np.argsort(-importance, kind="stable")
    total = float(np.abs(importance).sum())
    ranked = []
    for rank, i in enumerate(order, start=1):
        entry: dict[str, Any] = {
            "rank": rank,
            "feature": names[i],
            "importance": finite_or_none(importance[i]),
            "share": finite_or_none(abs(importance[i]) / total) if total > 0 else None,
        }
        if std is not None:
            entry["std"] = finite_or_none(std[i])
        ranked.append(entry)
    metrics: dict[str, float] = {"explainability.features": float(len(names))}
    for i, name in enumerate(names):
        v = finite_or_none(importance[i])
        if v is not None:
            metrics[f"explainability.importance[{name}]"] = v
    warnings: list[str] = []
    if total > 0:
        metrics["explainability.top_feature_share"] = float(abs(importance[order[0]]) / total)
        unknown = [p for p in protected if p not in names]
        if unknown:
            raise ValidationError(f"not among the features: {', '.join(unknown)}", field="protected")
        if protected:
            share = float(sum(abs(importance[names.index(p)]) for p in protected) / total)
            metrics["explainability.protected_importance_share"] = share
            if share > 0:
                warnings.append(f"protected attributes carry {share:.1%} of the importance: {', '.join(protected)}")
    body = {
        "method": chosen,
        "model": f"{type(model).__module__}.{type(model).__name__}",
        "rows": len(frame),
        "importances": ranked,
        "protected": list(protected),
        **detail,
    }
    return Report(
        kind="explainability",
        schema_version=SCHEMA_VERSION,
        subject=dict(subject or {}),
        metrics=metrics,
        body=body,
        warnings=warnings,
        created_at=utc_now(),
    )
