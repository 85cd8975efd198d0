"""Data and model for the sentiment example: short financial-news sentences, labelled by hand."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline

DATA = Path(__file__).with_name("data") / "headlines.csv"


def load_data() -> tuple[np.ndarray, np.ndarray]:
    """The sentences and their labels, from the labelled file shipped with the example."""
    with DATA.open(newline="") as f:
        rows = list(csv.DictReader(f))
    return np.array([r["text"] for r in rows], dtype=object), np.array([r["label"] for r in rows])


def build_model(params: dict[str, Any]) -> Pipeline:
    """Character 2-5-gram TF-IDF (robust to "rose"/"rise", "cut"/"cuts" on little data) into a
    logistic regression."""
    return make_pipeline(
        TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True),
        LogisticRegression(C=float(params["C"]), max_iter=1000),
    )
