"""Run .tflite models with TensorFlow Lite Micro's kernels on the host; measure their arena.

TFLM runs float32 and full-int8 models (not float16 or dynamic-range ones). Its fused LSTM
keeps its state between invocations, so every window starts from ``reset()``, as on the
device. A too-small arena can crash the process, so arenas are measured and checked in a
child process (``python -m edgehar.export.tflm ARENA`` with the model on stdin).
The host build is 64-bit: a 32-bit microcontroller needs a somewhat smaller arena.
"""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np

from edgehar.errors import ExportError
from edgehar.runtime.interpreter import dequantize, quantize

TFLM_VARIANTS = ("float32", "int8")
"""The exported variants TFLM runs (it has no float16 or dynamic-range kernels)."""
_TOTAL = re.compile(rb"Arena allocation total (\d+) bytes")


class TFLMClassifier:
    """One window (window, C) of normalized float channels in, class probabilities out."""

    def __init__(self, model_bytes: bytes, arena_size: int):
        from tflite_micro import runtime

        self.interpreter = runtime.Interpreter.from_bytes(model_bytes, arena_size=arena_size)
        self._in = self.interpreter.get_input_details(0)
        self._out = self.interpreter.get_output_details(0)
        self.input_shape = tuple(int(d) for d in self._in["shape"])

    @staticmethod
    def _quantization(detail) -> tuple[float, int]:
        q = detail["quantization_parameters"]
        return float(q["scales"][0]), int(q["zero_points"][0])

    def input_tensor(self, window: np.ndarray) -> np.ndarray:
        """The exact tensor fed to the model for one window (quantized when int8)."""
        x = np.asarray(window, np.float32).reshape(self.input_shape)
        if self._in["dtype"] == np.int8:
            return quantize(x, *self._quantization(self._in))
        return x

    def scores(self, window: np.ndarray) -> np.ndarray:
        """The output tensor (n_classes,) as the model computes it (int8 when quantized),
        from a freshly reset state."""
        self.interpreter.reset()
        self.interpreter.set_input(self.input_tensor(window), 0)
        self.interpreter.invoke()
        return self.interpreter.get_output(0)[0]

    def predict_window(self, window: np.ndarray) -> np.ndarray:
        """Probabilities (n_classes,) for one window, from a freshly reset state."""
        out = self.scores(window)
        if self._out["dtype"] == np.int8:
            out = dequantize(out, *self._quantization(self._out))
        return out.astype(np.float32)

    def predict(self, windows: np.ndarray) -> np.ndarray:
        """Probabilities (N, n_classes), one invocation per window."""
        return np.stack([self.predict_window(w) for w in windows])


def _run_child(model_bytes: bytes, arena_size: int) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edgehar.export.tflm", str(arena_size)],
                          input=model_bytes, capture_output=True, timeout=300)


def runs_with_arena(model_bytes: bytes, arena_size: int) -> bool:
    """Whether the model allocates and runs one window with exactly ``arena_size`` bytes."""
    return _run_child(model_bytes, arena_size).returncode == 0


def measure_arena(model_bytes: bytes) -> int:
    """Bytes of tensor arena the model needs under TFLM, checked by running with exactly that.

    Raises ExportError if the model does not run under TFLM (float16, dynamic-range,
    unsupported ops).
    """
    child = _run_child(model_bytes, max(4 << 20, 10 * len(model_bytes)))
    found = _TOTAL.search(child.stderr)
    if child.returncode != 0 or found is None:
        lines = child.stderr.decode(errors="replace").strip().splitlines()
        raise ExportError(f"the model does not run under TFLM: {lines[-1] if lines else child.returncode}")
    arena = int(found.group(1))
    if not runs_with_arena(model_bytes, arena):
        raise ExportError(f"the model does not run under TFLM with its measured arena of {arena} B")
    return arena


def _child(arena_size: int) -> None:
    """Run one zero window with ``arena_size`` bytes; the allocation report goes to stderr."""
    model = TFLMClassifier(sys.stdin.buffer.read(), arena_size)
    model.predict_window(np.zeros(model.input_shape, np.float32))
    model.interpreter.print_allocations()


if __name__ == "__main__":
    _child(int(sys.argv[1]))
