"""Run a .tflite classifier with whichever LiteRT interpreter is installed.

Order: ``ai_edge_litert`` (LiteRT), then ``tflite_runtime``, then ``tensorflow.lite``.
The fused LSTM op keeps its state between invocations, so every window starts from
``reset_all_variables()``: a window's output never depends on the windows before it.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np

from edgehar import tflog
from edgehar.errors import BundleError

_INTERPRETERS = ("ai_edge_litert.interpreter", "tflite_runtime.interpreter", "tensorflow.lite")


def interpreter_class():
    """The first importable ``Interpreter`` class, with the module it came from."""
    for module_name in _INTERPRETERS:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        return module.Interpreter, module_name
    raise ImportError("no TFLite interpreter found: pip install ai-edge-litert")


def quantize(x: np.ndarray, scale: float, zero_point: int, dtype=np.int8) -> np.ndarray:
    """Float -> integer as TFLite and the firmware do it: round half to even, then clip."""
    info = np.iinfo(dtype)
    q = np.rint(np.asarray(x, np.float32) / np.float32(scale)) + zero_point
    return np.clip(q, info.min, info.max).astype(dtype)


def dequantize(q: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    return ((q.astype(np.float32) - zero_point) * np.float32(scale)).astype(np.float32)


class TFLiteClassifier:
    """One window (window, C) of normalized float channels in, class probabilities out."""

    def __init__(self, model: Path | str | bytes, num_threads: int = 1):
        cls, self.backend = interpreter_class()
        try:
            with tflog.quiet():  # "INFO: Created TensorFlow Lite XNNPACK delegate for CPU."
                if isinstance(model, bytes):
                    self.interpreter = cls(model_content=model, num_threads=num_threads)
                else:
                    self.interpreter = cls(model_path=str(model), num_threads=num_threads)
                self.interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as err:
            where = "the model" if isinstance(model, bytes) else str(model)
            reason = str(err).strip().splitlines()[0][:200] if str(err).strip() else type(err).__name__
            raise BundleError(f"{where}: not a TFLite model this runtime can run ({reason})") from None
        self._in = self.interpreter.get_input_details()[0]
        self._out = self.interpreter.get_output_details()[0]
        self.input_shape = tuple(int(d) for d in self._in["shape"])
        self.input_dtype = self._in["dtype"]
        self._in_q = self._in["quantization"]
        self._out_q = self._out["quantization"]

    @classmethod
    def of_bundle(cls, bundle, variant: str) -> TFLiteClassifier:
        """The bundle's exported ``variant``, checked: a BundleError when the model's input is not
        [1, window, channels] or its outputs are not the bundle's classes (it would label wrongly)."""
        path = bundle.tflite(variant)
        classifier = cls(path)
        outputs = int(np.prod(classifier._out["shape"]))
        if outputs != len(bundle.classes):
            raise BundleError(f"{path}: the model has {outputs} outputs but the bundle has "
                              f"{len(bundle.classes)} classes ({', '.join(bundle.classes)})")
        expected = (1, bundle.window, len(bundle.pipeline.channels))
        if classifier.input_shape != expected:
            raise BundleError(f"{path}: the model takes input {list(classifier.input_shape)}, not "
                              f"[1, window, channels] = {list(expected)}")
        return classifier

    @property
    def quantized_input(self) -> bool:
        return self.input_dtype in (np.int8, np.uint8)

    def input_tensor(self, window: np.ndarray) -> np.ndarray:
        """The exact tensor fed to the model for one window (quantized when int8)."""
        x = np.asarray(window, np.float32).reshape(self.input_shape)
        if self.quantized_input:
            return quantize(x, self._in_q[0], self._in_q[1], self.input_dtype)
        return x

    def predict_window(self, window: np.ndarray) -> np.ndarray:
        """Probabilities (n_classes,) for one window, from a freshly reset state."""
        self.interpreter.reset_all_variables()
        self.interpreter.set_tensor(self._in["index"], self.input_tensor(window))
        self.interpreter.invoke()
        out = self.interpreter.get_tensor(self._out["index"])[0]
        if self._out["dtype"] in (np.int8, np.uint8):
            out = dequantize(out, self._out_q[0], self._out_q[1])
        return out.astype(np.float32)

    def predict(self, windows: np.ndarray) -> np.ndarray:
        """Probabilities (N, n_classes) for a stack of windows, one invocation each."""
        return np.stack([self.predict_window(w) for w in windows]) if len(windows) else \
            np.zeros((0, int(self._out["shape"][-1])), np.float32)
