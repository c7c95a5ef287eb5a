"""Quantizing a window as TFLite and the firmware do: round half to even, then saturate."""

import numpy as np

from edgehar.runtime.interpreter import dequantize, quantize


def test_quantize_rounds_half_to_even_and_saturates_at_the_integer_range():
    x = np.array([[-1e9, -129.0, -128.5, -127.5, -0.5, 0.5, 1.5, 2.5, 126.5, 127.5, 1e9]], np.float32)
    assert quantize(x, 1.0, 0).tolist() == [[-128, -128, -128, -128, 0, 0, 2, 2, 126, 127, 127]]
    assert quantize(x, 1.0, 0).dtype == np.int8
    assert quantize(np.array([-300.0, -0.5, 0.5, 300.0]), 1.0, 128, np.uint8).tolist() == [0, 128, 128, 255]


def test_quantize_matches_the_clipping_reference_on_real_scales():
    rng = np.random.default_rng(0)
    x = rng.normal(0, 40, (64, 128, 9)).astype(np.float32)
    for scale, zero_point in ((0.0478, -3), (0.12, 5), (1 / 3, 0)):
        expected = np.clip(np.rint(x / np.float32(scale)) + zero_point, -128, 127).astype(np.int8)
        assert np.array_equal(quantize(x, scale, zero_point), expected)


def test_dequantize_rounds_each_value_once_as_the_float64_reference():
    q = np.arange(-128, 128, dtype=np.int8)
    for scale, zero_point in ((0.00390625, -128), (0.0478, -3), (1 / 3, 7)):
        expected = ((q.astype(np.float64) - zero_point) * np.float64(np.float32(scale))).astype(np.float32)
        got = dequantize(q, scale, zero_point)
        assert got.dtype == np.float32 and np.array_equal(got, expected)
