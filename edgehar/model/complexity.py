"""Multiply-accumulates per window of a Keras model, layer by layer."""

from __future__ import annotations

import math

from keras import layers


def _steps(shape) -> int:
    return int(shape[1]) if len(shape) == 3 else 1


def layer_macs(layer) -> int:
    """MACs of one layer for one window (0 for layers without multiplies worth counting)."""
    if not layer.weights or isinstance(layer, layers.BatchNormalization):
        return 0  # inputs, activations, pooling; batch norm folds into the layer before it
    out_shape = layer.output.shape
    in_shape = layer.input.shape
    if isinstance(layer, layers.SeparableConv1D):
        c_in, c_out = int(in_shape[-1]), int(out_shape[-1])
        return _steps(out_shape) * (layer.kernel_size[0] * c_in * layer.depth_multiplier
                                    + c_in * layer.depth_multiplier * c_out)
    if isinstance(layer, layers.DepthwiseConv1D):
        return _steps(out_shape) * layer.kernel_size[0] * int(out_shape[-1])
    if isinstance(layer, layers.Conv1D):
        return _steps(out_shape) * layer.kernel_size[0] * int(in_shape[-1]) * int(out_shape[-1])
    if isinstance(layer, layers.Dense):
        return math.prod(int(d) for d in in_shape[1:]) // int(in_shape[-1]) \
            * int(in_shape[-1]) * int(out_shape[-1])
    if isinstance(layer, layers.LSTM | layers.GRU):
        gates = 4 if isinstance(layer, layers.LSTM) else 3
        units, c_in = layer.units, int(in_shape[-1])
        return int(in_shape[1]) * gates * units * (c_in + units)
    return 0


def macs(model) -> int:
    """Total multiply-accumulates of ``model`` for one input window."""
    return sum(layer_macs(layer) for layer in model.layers)
