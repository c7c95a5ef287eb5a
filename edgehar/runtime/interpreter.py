"""Run a .tflite classifier with whichever LiteRT interpreter is installed.

Order: ``ai_edge_litert`` (LiteRT), then ``tflite_runtime``, then ``tensorflow.lite``.
The fused LSTM op keeps its state between invocations, so every window starts from
``reset_all_variables()``: a window's output never depends on the windows before it.

Many windows are classified in one invocation per batch (:meth:`TFLiteClassifier.predict`) where
the model allows it: the converter writes batch 1 into the model's RESHAPE targets, which
:func:`batched_model` frees. Each window is computed on its own (int8 scales are per tensor), so
the outputs are those of one window at a time, bit for bit. A model that keeps state (variable
tensors: the fused LSTM) is run one window at a time.
"""

from __future__ import annotations

import functools
import importlib
from pathlib import Path

import numpy as np

from edgehar import tflog
from edgehar.errors import BundleError

BATCH = 64
"""Most windows per invocation; a batch is split into powers of two up to this (no padding)."""

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
    """Float -> integer as TFLite and the firmware do it: round half to even, then clip. (In place
    on one float32 array: this runs for every window, and each step's temporary cost about a µs.)"""
    low, high = _limits(dtype)
    q = np.divide(x, np.float32(scale), dtype=np.float32)
    np.rint(q, out=q)
    q += zero_point
    np.minimum(q, high, out=q)  # np.clip's Python layers cost more than the clipping (~4 µs)
    np.maximum(q, low, out=q)
    return q.astype(dtype)


@functools.cache
def _limits(dtype) -> tuple[int, int]:
    info = np.iinfo(dtype)
    return int(info.min), int(info.max)


def dequantize(q: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """Integer -> float32 (the difference from the zero point is exact, so each value is rounded
    once, in the product)."""
    out = q.astype(np.float32)
    out -= zero_point
    out *= np.float32(scale)
    return out


def batched_model(content: bytes) -> bytes | None:
    """The model with a free batch dimension (RESHAPE targets ``[1, ...]`` become ``[-1, ...]``), or
    None when it keeps state between invocations or cannot be read (it is then run window by window)."""
    try:
        import flatbuffers
        from ai_edge_litert import schema_py_generated as schema
    except ImportError:
        return None
    try:
        model = schema.ModelT.InitFromPackedBuf(bytearray(content), 0)
    except Exception:  # noqa: BLE001  (flatbuffers raises anything on a file it cannot read)
        return None
    reshape = {i for i, code in enumerate(model.operatorCodes or [])
               if max(code.builtinCode, code.deprecatedBuiltinCode) == schema.BuiltinOperator.RESHAPE}
    for graph in model.subgraphs or []:
        if any(tensor.isVariable for tensor in graph.tensors or []):
            return None
        for op in graph.operators or []:
            if op.opcodeIndex in reshape and len(op.inputs) > 1 and op.inputs[1] >= 0:
                buffer = model.buffers[graph.tensors[op.inputs[1]].buffer]
                if buffer.data is None:
                    continue  # a shape computed in the graph
                shape = np.frombuffer(bytes(buffer.data), "<i4").copy()
                if len(shape) and shape[0] == 1:
                    shape[0] = -1
                    buffer.data = np.frombuffer(shape.tobytes(), np.uint8)
        for i in graph.inputs:
            graph.tensors[i].shapeSignature = [-1, *graph.tensors[i].shape[1:]]
    builder = flatbuffers.Builder(len(content) + 4096)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


class TFLiteClassifier:
    """One window (window, C) of normalized float channels in, class probabilities out."""

    def __init__(self, model: Path | str | bytes, num_threads: int = 1):
        cls, self.backend = interpreter_class()
        self._model, self._num_threads = model, num_threads
        self._batches: dict[int, tuple] = {}
        """Batch size (2, 4, ... BATCH) -> (interpreter, input index, output index), made when needed."""
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
        return out.astype(np.float32, copy=False)

    def predict(self, windows: np.ndarray) -> np.ndarray:
        """Probabilities (N, n_classes) for a stack of windows: what :meth:`predict_window` gives each,
        in one invocation per batch of up to BATCH (one per window for a model that keeps state)."""
        windows = np.asarray(windows, np.float32)
        out, start = [], 0
        while start < len(windows):
            size = 1 << min(len(windows) - start, BATCH).bit_length() - 1  # largest power of two that fits
            interpreter = self._interpreter(size)
            if interpreter is None:
                out += [self.predict_window(w) for w in windows[start:]]
                break
            out.append(self._invoke(interpreter, windows[start:start + size]))
            start += size
        return np.concatenate([np.atleast_2d(o) for o in out]) if out else \
            np.zeros((0, int(self._out["shape"][-1])), np.float32)

    @functools.cached_property
    def _batched_model(self) -> bytes | None:
        content = self._model if isinstance(self._model, bytes) else Path(self._model).read_bytes()
        return batched_model(content)

    def _interpreter(self, size: int) -> tuple | None:
        """(interpreter, input index, output index) for batches of ``size`` windows (None: run
        them one at a time)."""
        if size == 1 or self._batched_model is None:
            return None
        if size not in self._batches:
            cls, _ = interpreter_class()
            with tflog.quiet():
                interpreter = cls(model_content=self._batched_model, num_threads=self._num_threads)
                index = interpreter.get_input_details()[0]["index"]
                interpreter.resize_tensor_input(index, [size, *self.input_shape[1:]])
                interpreter.allocate_tensors()
            self._batches[size] = interpreter, index, interpreter.get_output_details()[0]["index"]
        return self._batches[size]

    def _invoke(self, batch: tuple, windows: np.ndarray) -> np.ndarray:
        interpreter, in_index, out_index = batch
        x = windows.reshape(len(windows), *self.input_shape[1:])
        if self.quantized_input:
            x = quantize(x, self._in_q[0], self._in_q[1], self.input_dtype)
        interpreter.set_tensor(in_index, x)
        interpreter.invoke()
        out = interpreter.get_tensor(out_index)
        if self._out["dtype"] in (np.int8, np.uint8):
            out = dequantize(out, self._out_q[0], self._out_q[1])
        return out.astype(np.float32, copy=False)
