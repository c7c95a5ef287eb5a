"""Model families, each a small Keras builder; ``build`` picks one by name.

``lstm`` and ``cnn`` are the reference notebook's models. Every builder takes the input
shape (window, channels) and the class count and returns an uncompiled Keras model whose
last layer is a softmax.
"""

from __future__ import annotations

import inspect

import keras
from keras import layers

from edgehar.errors import OptionError
from edgehar.model.recipes import recipe


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


def _per_block(value, blocks: int, what: str) -> tuple[int, ...]:
    values = (value,) * blocks if isinstance(value, int) else tuple(value)
    if len(values) != blocks:
        raise ValueError(f"{len(values)} {what} for {blocks} blocks")
    return values


def dscnn(input_shape, n_classes, filters=(32, 48, 64, 96), kernel=7, strides=2,
          full_convs: int = 1, dropout: float = 0.2):
    """Compact: strided conv blocks (conv, batch norm, ReLU), global average pooling.

    The first ``full_convs`` blocks are full convolutions, the rest depthwise-separable;
    ``kernel`` and ``strides`` are one value for every block or one per block. Strided
    blocks keep activations (and the TFLM arena) small: 0.29 M multiply-accumulates per
    window with the defaults.
    """
    kernels = _per_block(kernel, len(filters), "kernel sizes")
    steps = _per_block(strides, len(filters), "strides")
    inputs = keras.Input(input_shape)
    x = inputs
    for i, (width, size, step) in enumerate(zip(filters, kernels, steps, strict=True)):
        conv = layers.Conv1D if i < full_convs else layers.SeparableConv1D
        x = conv(width, size, strides=step, padding="same", use_bias=False)(x)
        x = layers.ReLU()(layers.BatchNormalization()(x))
    x = layers.GlobalAveragePooling1D()(x)
    x = layers.Dropout(dropout)(x)
    outputs = layers.Dense(n_classes, activation="softmax")(x)
    return keras.Model(inputs, outputs, name=f"dscnn{filters[-1]}")


def convlstm(input_shape, n_classes, filters=(16, 24), kernel: int = 5, units: int = 24,
             dropout: float = 0.2):
    """Compact: strided conv front end (128 -> 32 steps), then a small fused LSTM."""
    inputs = keras.Input(input_shape)
    x = inputs
    for width in filters:
        x = layers.Conv1D(width, kernel, strides=2, padding="same", use_bias=False)(x)
        x = layers.ReLU()(layers.BatchNormalization()(x))
    x = layers.LSTM(units)(x)
    x = layers.Dropout(dropout)(x)
    outputs = layers.Dense(n_classes, activation="softmax")(x)
    return keras.Model(inputs, outputs, name=f"convlstm{units}")


FAMILIES = {"lstm": lstm, "cnn": cnn, "dscnn": dscnn, "convlstm": convlstm}

def build(family: str, input_shape, n_classes: int, **params) -> keras.Model:
    """The family's model; an unknown family or parameter, or a bad value, is an OptionError."""
    recipe(family)
    builder = FAMILIES[family]
    accepted = list(inspect.signature(builder).parameters)[2:]
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise OptionError(f"--params {', '.join(unknown)}: {family} takes {', '.join(accepted)}")
    try:
        return builder(tuple(input_shape), n_classes, **params)
    except (TypeError, ValueError) as err:
        raise OptionError(f"--params {params}: {family} cannot be built with them: {err}") from None
