"""Model families, each a small Keras builder; ``build`` picks one by name.

``lstm`` and ``cnn`` are the reference notebook's models. Every builder takes the input
shape (window, channels) and the class count and returns an uncompiled Keras model whose
last layer is a softmax.
"""

from __future__ import annotations

import keras
from keras import layers


def lstm(input_shape, n_classes, units: int = 100, dense: int = 100, dropout: float = 0.5):
    """Reference: LSTM(units) -> Dropout -> Dense(dense, relu) -> Dense(softmax)."""
    return keras.Sequential([
        keras.Input(input_shape),
        layers.LSTM(units),
        layers.Dropout(dropout),
        layers.Dense(dense, activation="relu"),
        layers.Dense(n_classes, activation="softmax"),
    ], name=f"lstm{units}")


def cnn(input_shape, n_classes, filters: int = 64, kernel: int = 3, dense: int = 100,
        dropout: float = 0.5):
    """Reference: Conv1D(filters, kernel, relu) x2 -> Dropout -> MaxPool(2) -> Dense -> softmax."""
    return keras.Sequential([
        keras.Input(input_shape),
        layers.Conv1D(filters, kernel, activation="relu"),
        layers.Conv1D(filters, kernel, activation="relu"),
        layers.Dropout(dropout),
        layers.MaxPooling1D(2),
        layers.Flatten(),
        layers.Dense(dense, activation="relu"),
        layers.Dense(n_classes, activation="softmax"),
    ], name=f"cnn{filters}")


FAMILIES = {"lstm": lstm, "cnn": cnn}

DEFAULTS = {
    "lstm": dict(epochs=15, batch_size=32, pipeline="dataset9", normalize=False),
    "cnn": dict(epochs=10, batch_size=64, pipeline="dataset9", normalize=False),
}
"""Training recipe of each family when the command line does not override it."""


def build(family: str, input_shape, n_classes: int, **params) -> keras.Model:
    if family not in FAMILIES:
        raise ValueError(f"unknown model {family!r}; choose from {sorted(FAMILIES)}")
    return FAMILIES[family](tuple(input_shape), n_classes, **params)
