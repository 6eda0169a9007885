"""Shared fixtures for the model evidence tests: the German Credit data and two small fitted models.

Statlog (German Credit Data) by Hans Hofmann, UCI Machine Learning Repository, CC BY 4.0 (see
tests/data/README.md). Models are fitted once per process and cached.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

DATA = Path(__file__).parent / "data" / "german_credit.csv"
PROTECTED = ["sex", "age_band"]


@cache
def credit() -> tuple[pd.DataFrame, np.ndarray[Any, Any]]:
    """Features (without the label and the sex/status mix) and the 0/1 label (1 = good risk)."""
    df = pd.read_csv(DATA)
    y = (df["credit_risk"] == "good").astype(np.int64).to_numpy()
    X = df.drop(columns=["credit_risk", "personal_status_sex"])
    return X, y


def _columns(X: pd.DataFrame) -> tuple[list[str], list[str]]:
    cat = [c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c])]
    return cat, [c for c in X.columns if c not in cat]


@cache
def logistic() -> Pipeline:
    """OneHotEncoder + StandardScaler + LogisticRegression on the credit data."""
    X, y = credit()
    cat, num = _columns(X)
    pre = ColumnTransformer([("cat", OneHotEncoder(handle_unknown="ignore"), cat), ("num", StandardScaler(), num)])
    return make_pipeline(pre, LogisticRegression(max_iter=2000)).fit(X, y)


@cache
def boosting() -> Pipeline:
    """OneHotEncoder (dense) + passthrough numbers + GradientBoostingClassifier on the credit data."""
    X, y = credit()
    cat, _ = _columns(X)
    pre = ColumnTransformer(
        [("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False), cat)], remainder="passthrough"
    )
    model = GradientBoostingClassifier(n_estimators=60, max_depth=3, random_state=0)
    return make_pipeline(pre, model).fit(X, y)


@cache
def predictions(kind: str = "logistic") -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """(y_true, y_score, y_pred at 0.5) of a model on the credit data (in-sample, as evidence only)."""
    X, y = credit()
    model = logistic() if kind == "logistic" else boosting()
    score = model.predict_proba(X)[:, 1]
    return y, score, (score >= 0.5).astype(np.int64)
