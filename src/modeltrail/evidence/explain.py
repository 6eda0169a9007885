"""Explainability report (EU AI Act Art. 13 transparency, Art. 86 explanation of individual decisions).

Every method gives SHAP values that add up: ``base_value + sum(contributions) = model output`` on the
explained scale (named in ``units``), per row, to rounding. Global importance of a feature is the mean
absolute contribution over the explained rows. The method is the first that applies (``method="auto"``):

1. ``native``: XGBoost / LightGBM models — their own TreeSHAP (``pred_contribs=True`` /
   ``pred_contrib=True``), on the raw margin; the libraries are imported only when such a model is passed.
2. ``tree``: scikit-learn tree models (decision trees, random forests, extra trees, gradient boosting,
   histogram gradient boosting), alone or behind a mappable preprocessing — exact path-dependent
   TreeSHAP: shap's ``TreeExplainer`` when the ``shap`` package (the ``[explain]`` extra) is installed,
   else :mod:`modeltrail.evidence.treeshap` (the same values; the tests compare them). Forests are
   explained on the probability, boosting on the log-odds.
3. ``linear``: a linear scikit-learn model, alone or as the last step of a Pipeline whose preprocessing
   maps back to the raw columns (ColumnTransformer with OneHotEncoder/scalers/imputers) — the exact
   linear SHAP values ``coef * (z - mean(z))`` (independent features) in the model's output space
   (log-odds for logistic models), summed over the encoded columns of each raw column.
4. ``sampling``: anything else — Shapley values estimated by permutation sampling (Štrumbelj & Kononenko
   2014) against background rows, with antithetic permutation pairs, on the predicted probability (or
   the prediction). Each sampled permutation's contributions add up exactly to ``f(x) - f(background)``,
   so the estimate is additive by construction; it is random only through the seeded generator, so one
   seed gives one answer. It works on the raw rows (text columns included).

``permutation`` (``sklearn.inspection.permutation_importance``, the mean drop in ROC AUC or score when a
feature is shuffled, seeded) is available by name; it measures importance, not contributions.

:class:`DecisionExplainer` explains single decisions with the same code, cheaply enough to be logged with
every inference: the native contributions, exact TreeSHAP (:func:`~modeltrail.evidence.treeshap.tree_shap`
on one row), the linear terms, or seeded permutation sampling for other models.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from modeltrail.errors import ValidationError
from modeltrail.evidence._common import FloatArray, IntArray, finite_or_none, utc_now
from modeltrail.evidence.report import Report
from modeltrail.evidence.treeshap import tree_model, tree_shap

__all__ = [
    "GLOBAL_MAX_ROWS",
    "METHODS",
    "SAMPLING_BACKGROUND",
    "SAMPLING_PERMUTATIONS",
    "SCHEMA_VERSION",
    "DecisionExplainer",
    "explainability_report",
    "sampling_shapley",
]

SCHEMA_VERSION = 1
METHODS = ("auto", "native", "tree", "shap", "linear", "sampling", "permutation")
"""``shap`` is ``tree`` computed by shap's TreeExplainer (the package must be installed)."""


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


# Permutation-sampling Shapley values: defaults for single decisions and for the global report.
SAMPLING_PERMUTATIONS = 8
"""Permutations per explained row (in antithetic pairs: a permutation and its reverse)."""
SAMPLING_BACKGROUND = 16
"""Background rows each permutation is played against."""
GLOBAL_MAX_ROWS = 200
"""Rows explained (a seeded sample when there are more) for the global importance of sampled methods."""
_PREDICT_BATCH_ROWS = 50_000


def _take(frame: pd.DataFrame, idx: IntArray) -> pd.DataFrame:
    """Rows ``idx`` of ``frame`` with every column's dtype kept (categoricals stay categorical)."""
    return pd.DataFrame({c: frame[c].array.take(idx) for c in frame.columns})


def sampling_shapley(
    predict: Any,
    X: pd.DataFrame,
    background: pd.DataFrame,
    *,
    n_permutations: int = SAMPLING_PERMUTATIONS,
    seed: int = 0,
) -> tuple[FloatArray, float]:
    """Shapley values of ``predict`` at the rows of ``X`` by permutation sampling; also ``E[predict(bg)]``.

    For each row, ``n_permutations`` feature orders (half of them drawn, the other half their reverses)
    are each played against every background row: features are switched from the background value to
    the row's value in that order and each switch is credited with the change in prediction. The
    contributions of one order add up to ``f(x) - f(b)``, so the average adds up to
    ``f(x) - mean_b f(b)`` exactly.
    """
    names = list(X.columns)
    n, n_feat, n_bg = len(X), len(names), len(background)
    if n_bg == 0:
        raise ValidationError("needs at least one background row", field="background")
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x5A3]))
    half = max(1, n_permutations // 2)
    combined = pd.concat([X.reset_index(drop=True), background.reset_index(drop=True)], ignore_index=True)
    base = float(np.mean(np.asarray(predict(background), dtype=np.float64)))
    out = np.zeros((n, n_feat), dtype=np.float64)
    per_row = 2 * half * n_bg * (n_feat + 1)
    batch = max(1, _PREDICT_BATCH_ROWS // per_row)
    steps = np.arange(n_feat + 1)
    for lo in range(0, n, batch):
        rows = np.arange(lo, min(n, lo + batch))
        perms = np.stack([rng.permutation(n_feat) for _ in range(half * len(rows))]).reshape(len(rows), half, n_feat)
        perms = np.concatenate([perms, perms[..., ::-1]], axis=1)  # (rows, P, F)
        rank = np.argsort(perms, axis=-1)  # position of each feature in its order
        # Source row of every cell: the explained row once the feature has been switched, else background.
        switched = rank[:, :, None, None, :] < steps[None, None, None, :, None]  # (rows, P, 1, F+1, F)
        bg_idx = n + np.arange(n_bg)[None, None, :, None, None]
        idx = np.where(switched, rows[:, None, None, None, None], bg_idx)  # (rows, P, B, F+1, F)
        shape = idx.shape
        flat = idx.reshape(-1, n_feat)
        frame = pd.DataFrame({c: combined[c].array.take(flat[:, j]) for j, c in enumerate(names)})
        pred = np.asarray(predict(frame), dtype=np.float64).reshape(shape[:-1])
        gains = np.diff(pred, axis=-1)  # (rows, P, B, F): the step that switched perms[..., k]
        mean_gain = gains.mean(axis=2)  # over background rows
        for r in range(len(rows)):
            phi = np.zeros(n_feat, dtype=np.float64)
            np.add.at(phi, perms[r].ravel(), mean_gain[r].ravel())
            out[rows[r]] = phi / perms.shape[1]
    return out, base


def _background(frame: pd.DataFrame, size: int, seed: int) -> pd.DataFrame:
    """A seeded sample of at most ``size`` rows of ``frame``."""
    if len(frame) <= size:
        return frame.reset_index(drop=True)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0xB6]))
    return _take(frame, np.sort(rng.choice(len(frame), size=size, replace=False)).astype(np.int64))


class DecisionExplainer:
    """Top-k feature contributions of single decisions, cheap enough to log per inference.

    Build with :meth:`fit`; ``method`` says which attribution is used (``native``, ``treeshap``,
    ``linear`` or ``sampling``), ``units`` what the contributions are measured in, and ``base_value`` the
    expected output they are measured from: ``base_value + contributions(x).sum()`` is the model output.
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
    def fit(
        cls, model: Any, X_background: Any, *, feature_names: Sequence[str] | None = None, seed: int = 0
    ) -> DecisionExplainer:
        """Prepare explanations of ``model`` (fitted) relative to the background data ``X_background``.

        ``seed`` fixes the permutations of the sampling method (the others are exact), so one input
        always gets the same explanation.
        """
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
        tm = tree_model(est)
        n_out = -1
        z_bg: FloatArray | None = None
        if _is_linear(est) or tm is not None:
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
        if tm is not None and cmap is not None:
            state = {"pre": pre, "tree": tm, "map": cmap, "fast": _compile_encoder(pre, names, n_out)}
            return cls(model, names, "treeshap", tm.units, tm.expected_value, state)
        background = _background(bg, SAMPLING_BACKGROUND, seed)
        predict = _predict_fn(model)
        units = "probability" if hasattr(model, "predict_proba") else "prediction"
        base = float(np.mean(np.asarray(predict(background), dtype=np.float64)))
        return cls(model, names, "sampling", units, base, {"background": background, "predict": predict, "seed": seed})

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
            return self._fold(z)
        row = self._row(x_row)
        if self.method in ("linear", "treeshap"):
            return self._fold(self._encode(row))
        if self.method == "native":
            values = _native_contributions(st["est"], st["pre"], row)[0, :-1]
            return np.asarray(np.bincount(st["map"], weights=values, minlength=n), dtype=np.float64)
        phi, _ = sampling_shapley(st["predict"], row, st["background"], seed=st["seed"])
        return np.asarray(phi[0], dtype=np.float64)

    def contributions_many(self, X: Any) -> FloatArray:
        """Contributions (rows x features) of many rows at once: a frame, or a list of mappings.

        The batch form of :meth:`contributions` (one transform and one vectorised TreeSHAP pass instead
        of one per row); the values are the same.
        """
        frame = X if isinstance(X, pd.DataFrame) else pd.DataFrame(list(X), columns=self.feature_names)
        frame = frame[self.feature_names]
        st = self._state
        n = len(self.feature_names)
        if self.method == "sampling":
            phi, _ = sampling_shapley(st["predict"], frame, st["background"], seed=st["seed"])
            return phi
        if self.method == "native":
            values = _native_contributions(st["est"], st["pre"], frame)[:, :-1]
        else:
            pre = st["pre"]
            z = _dense(pre.transform(frame) if pre is not None else frame.to_numpy(dtype=np.float64))
            values = st["coef"] * (z - st["mean"]) if self.method == "linear" else tree_shap(st["tree"], z)
        out = np.zeros((values.shape[0], n), dtype=np.float64)
        np.add.at(out.T, st["map"], values.T)
        return out

    def explain_many(self, X: Any, top_k: int = 5) -> list[list[tuple[str, float]]]:
        """:meth:`explain` for many rows at once (see :meth:`contributions_many`)."""
        contrib = self.contributions_many(X)
        k = max(0, min(top_k, contrib.shape[1]))
        top = np.argsort(-np.abs(contrib), axis=1, kind="stable")[:, :k]
        return [[(self.feature_names[i], float(row[i])) for i in idx] for row, idx in zip(contrib, top, strict=True)]

    def _fold(self, z: FloatArray) -> FloatArray:
        """Contributions of the encoded row ``z`` summed onto the raw features (linear or TreeSHAP)."""
        st = self._state
        parts = st["coef"] * (z - st["mean"]) if self.method == "linear" else tree_shap(st["tree"], z)[0]
        return np.asarray(np.bincount(st["map"], weights=parts, minlength=len(self.feature_names)), dtype=np.float64)

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


def _choose(method: str, est: Any, linear_ok: bool, tree_ok: bool = False) -> str:
    if method != "auto":
        return method
    if _module_of(est) in ("xgboost", "lightgbm"):
        return "native"
    if tree_ok:
        return "tree"
    if linear_ok:
        return "linear"
    return "sampling"


def _shap_tree_values(est: Any, z: FloatArray) -> tuple[FloatArray, float]:
    """Path-dependent TreeSHAP from shap's TreeExplainer, for the positive class of a classifier."""
    import shap

    explainer = shap.TreeExplainer(est, feature_perturbation="tree_path_dependent")
    values = explainer.shap_values(z)
    expected = np.ravel(np.asarray(explainer.expected_value, dtype=np.float64))
    if isinstance(values, list):
        values = values[-1]
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim == 3:
        arr = arr[..., -1]
    return arr, float(expected[-1])


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
    tm = tree_model(est) if _module_of(est) == "sklearn" else None
    z: FloatArray | None = None
    if _is_linear(est) or tm is not None:
        z = _dense(pre.transform(frame) if pre is not None else frame.to_numpy(dtype=np.float64))
        cmap = _column_map(pre, names, z.shape[1])
        linear_ok = _is_linear(est) and cmap is not None and np.asarray(est.coef_).reshape(-1, z.shape[1]).shape[0] == 1
    tree_ok = tm is not None and cmap is not None
    chosen = _choose(method, est, linear_ok, tree_ok)
    std: FloatArray | None = None
    detail: dict[str, Any] = {}
    if chosen == "linear":
        if not linear_ok or cmap is None or z is None:
            raise ValidationError("the model is not a single-output linear model on mappable columns", field="method")
        coef = np.asarray(est.coef_, dtype=np.float64).reshape(-1)
        parts = coef * (z - z.mean(axis=0))
        per_feature = np.zeros((parts.shape[0], len(names)))
        np.add.at(per_feature.T, cmap, parts.T)
        importance = np.abs(per_feature).mean(axis=0)
        detail["units"] = "mean |contribution| (log-odds)" if hasattr(est, "predict_proba") else "mean |contribution|"
        detail["base_value"] = float(np.ravel(getattr(est, "intercept_", 0.0))[0]) + float(coef @ z.mean(axis=0))
    elif chosen in ("tree", "shap"):
        if tm is None or cmap is None or z is None:
            raise ValidationError(
                "the model is not a supported scikit-learn tree model on mappable columns", field="method"
            )
        use_shap = chosen == "shap" or importlib.util.find_spec("shap") is not None
        if chosen == "shap" and importlib.util.find_spec("shap") is None:
            raise ValidationError(
                "method 'shap' needs the shap package (pip install 'modeltrail[explain]')", field="method"
            )
        if use_shap:
            contrib, base_value = _shap_tree_values(est, z)
        else:
            contrib, base_value = tree_shap(tm, z), tm.expected_value
        per_feature = np.zeros((contrib.shape[0], len(names)))
        np.add.at(per_feature.T, cmap, contrib.T)
        importance = np.abs(per_feature).mean(axis=0)
        chosen = "tree"
        detail.update(
            {
                "units": f"mean |SHAP value| ({tm.units})",
                "engine": "shap.TreeExplainer" if use_shap else "modeltrail.evidence.treeshap",
                "algorithm": "path-dependent TreeSHAP (exact)",
                "base_value": base_value,
            }
        )
    elif chosen == "native":
        contrib = _native_contributions(est, pre, frame)
        cm = _column_map(pre, names, contrib.shape[1] - 1)
        if cm is None:
            raise ValidationError("can not map the model's columns back to the features", field="model")
        per_feature = np.zeros((contrib.shape[0], len(names)))
        np.add.at(per_feature.T, cm, contrib[:, :-1].T)
        importance = np.abs(per_feature).mean(axis=0)
        detail.update({"units": "mean |SHAP value| (raw margin)", "base_value": float(contrib[0, -1])})
    elif chosen == "sampling":
        rows = _background(frame, GLOBAL_MAX_ROWS, seed + 1)
        background = _background(frame, SAMPLING_BACKGROUND, seed)
        phi, base_value = sampling_shapley(_predict_fn(model), rows, background, seed=seed)
        importance = np.abs(phi).mean(axis=0)
        detail.update(
            {
                "units": "mean |Shapley value| ("
                + ("probability" if hasattr(model, "predict_proba") else "prediction")
                + ")",
                "algorithm": "permutation sampling with antithetic pairs (Štrumbelj & Kononenko 2014)",
                "permutations": 2 * max(1, SAMPLING_PERMUTATIONS // 2),
                "background_rows": len(background),
                "explained_rows": len(rows),
                "seed": seed,
                "base_value": base_value,
            }
        )
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
