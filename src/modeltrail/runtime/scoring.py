"""Scoring: a model's answer for a batch of rows, the same way for every path of the guard.

A model with ``predict_proba`` gives per row the most probable class (its output), that class's
probability (the confidence) and, for two classes, the probability of the second (the score; with
more classes the confidence). A model with only ``predict`` (or a plain callable) gives outputs; a
numeric output is its own score.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from ..errors import ValidationError
from ._encoding.encode import is_missing, normalise


class Scores(NamedTuple):
    """What a model said about a batch of rows, column by column."""

    outputs: list[Any]
    scores: list[float | None]
    confidences: list[float | None]
    class_index: list[int] | None = None
    """The chosen class of each row (models with ``predict_proba``)."""
    confidence: np.ndarray | None = None
    """The confidences as an array (models with ``predict_proba``, batches of 2 rows or more)."""
    score: np.ndarray | None = None
    """The scores as an array (as ``confidence``)."""


def score_probabilities(P: np.ndarray, classes: Sequence[Any] | None) -> Scores:
    """Scores from class probabilities ``P`` (one row per input); ``classes`` label the columns."""
    n = len(P)
    if n == 1:
        # One row (every ``decide``): scalar steps, several µs cheaper than the vectorised ones below.
        # No array columns: only the column-wise encoder reads them, and it builds them when absent.
        row = P[0]
        i = int(row.argmax())
        c = float(row[i])
        s = float(row[1]) if len(row) == 2 else c
        return Scores([classes[i] if classes is not None else i], [s], [c], [i])
    idx = P.argmax(axis=1)
    conf = P[np.arange(n), idx]
    two = P.shape[1] == 2
    score = P[:, 1] if two else conf
    conf_l: list[float | None] = conf.tolist()
    score_l: list[float | None] = score.tolist() if two else list(conf_l)
    idx_l: list[int] = idx.tolist()
    outputs: list[Any] = [classes[i] for i in idx_l] if classes is not None else idx_l
    return Scores(outputs, score_l, conf_l, idx_l, conf, score)


def no_scores(n: int, outputs: list[Any] | None = None) -> Scores:
    """``n`` rows without scores or confidences (a fallback's answer), outputs None unless given."""
    return Scores([None] * n if outputs is None else outputs, [None] * n, [None] * n)


def _scalar(v: Any) -> Any:
    item = getattr(v, "item", None)
    return item() if item is not None and getattr(v, "ndim", 1) == 0 else v


class ModelAdapter:
    """Uniform access to an estimator or a callable: feature order, input building, predictions."""

    def __init__(self, obj: Any, ref: str, feature_names: Sequence[str] | None) -> None:
        self.obj = obj
        self.ref = ref
        self.proba: Callable[[Any], Any] | None = getattr(obj, "predict_proba", None)
        predict = getattr(obj, "predict", None)
        if predict is None and not callable(obj):
            raise ValidationError(
                f"expected an estimator with predict/predict_proba or a callable, got {type(obj).__name__}",
                field="model",
            )
        self.predict: Callable[[Any], Any] = predict if predict is not None else obj
        classes = getattr(obj, "classes_", None)
        self.classes: list[Any] | None = [normalise(c, "classes")[0] for c in classes] if classes is not None else None
        names = list(feature_names) if feature_names else None
        fitted = getattr(obj, "feature_names_in_", None)
        # Fitted on a DataFrame: the model wants named columns (and would warn on a bare array).
        self.use_frame = fitted is not None
        if names is None and fitted is not None:
            names = [str(n) for n in fitted]
        self.names: list[str] | None = names

    def score(self, X: Any) -> Scores:
        """Outputs, scores and confidences of the model for the input ``X`` (see :class:`Scores`)."""
        if self.proba is not None:
            return score_probabilities(np.asarray(self.proba(X)), self.classes)
        outputs = [_scalar(v) for v in np.asarray(self.predict(X)).tolist()]
        # A numeric output is its own score; a model without probabilities has no confidence.
        scores = [float(o) if isinstance(o, int | float) and not isinstance(o, bool) else None for o in outputs]
        return Scores(outputs, scores, [None] * len(outputs))

    def rows(self, rows: Any) -> list[Mapping[str, Any]]:
        """A batch (sequence of mappings, 2-D array in the model's order, DataFrame) as one mapping per row."""
        m = self
        if hasattr(rows, "to_dict") and hasattr(rows, "columns"):  # a pandas DataFrame
            return list(rows.to_dict(orient="records"))
        if isinstance(rows, np.ndarray):
            if rows.ndim != 2:
                raise ValidationError(f"expected a 2-D array, got {rows.ndim} dimensions", field="X")
            names = m.names or [f"x{i}" for i in range(rows.shape[1])]
            if len(names) != rows.shape[1]:
                raise ValidationError(f"expected {len(names)} columns, got {rows.shape[1]}", field="X")
            m.names = names
            return [dict(zip(names, r, strict=True)) for r in rows.tolist()]
        out = list(rows)
        for i, r in enumerate(out):
            if not isinstance(r, Mapping):
                raise ValidationError(f"expected a mapping, got {type(r).__name__}", field=f"rows[{i}]")
        return out

    def numeric_batch(self, rows: Any) -> tuple[np.ndarray, list[str], Any] | None:
        """``(matrix, column names, model input)`` for a numeric batch that may take the columnar path.

        Only for models with ``predict_proba`` whose batch is a 2-D integer or float array, or a
        DataFrame whose columns are all of one such kind (so every value keeps its Python type, as in
        the general path) and in the model's order. None: the general path.
        """
        m = self
        if m.proba is None:
            return None
        if isinstance(rows, np.ndarray):
            if rows.ndim != 2 or rows.dtype.kind not in "iuf" or rows.shape[0] == 0:
                return None
            names = m.names or [f"x{i}" for i in range(rows.shape[1])]
            if len(names) != rows.shape[1]:
                return None
            m.names = names
            if m.use_frame:
                import pandas as pd

                return rows, names, pd.DataFrame(rows, columns=names)
            return rows, names, rows
        if hasattr(rows, "to_numpy") and hasattr(rows, "columns") and hasattr(rows, "dtypes"):  # a DataFrame
            columns = list(rows.columns)
            if not columns or len(rows) == 0 or any(type(c) is not str for c in columns):
                return None
            kinds = {dt.kind for dt in rows.dtypes}
            if len(kinds) != 1 or not kinds <= {"i", "u", "f"}:
                return None
            if m.names is not None and columns != m.names:
                return None
            X = rows.to_numpy()
            if X.dtype.kind not in "iuf":
                return None
            m.names = m.names or columns
            return X, columns, rows if m.use_frame else X
        return None

    def bind_names(self, features: Mapping[str, Any]) -> list[str]:
        """The model's input names (from the first call when nothing else says so)."""
        if self.names is None:
            self.names = list(features)
        return self.names

    def matrix(self, rows: Sequence[Mapping[str, Any]], *, missing: bool = False) -> Any:
        """The model input for ``rows`` (each a mapping with every input feature).

        ``missing``: some values are missing (None, NaN, ``pd.NA``); each becomes NaN, the missing value
        of NumPy, pandas and scikit-learn's imputers and tree models alike.
        """
        names = self.bind_names(rows[0])
        try:
            if missing:
                nan = math.nan
                values = [[nan if is_missing(v := r[n]) else v for n in names] for r in rows]
            else:
                values = [[r[n] for n in names] for r in rows]
        except KeyError as exc:
            raise ValidationError(f"missing model input {exc.args[0]!r}", field=f"input.{exc.args[0]}") from None
        if self.use_frame:
            import pandas as pd

            return pd.DataFrame(values, columns=names)
        try:
            return np.asarray(values, dtype=np.float64)
        except (TypeError, ValueError):
            return np.asarray(values, dtype=object)


__all__ = ["ModelAdapter", "Scores", "no_scores", "score_probabilities"]
