"""Latency and memory of a bundle's exported variants on each runtime, at batch 1, 1 thread.

Every measurement runs in a fresh child process (``python -m edgehar.export.bench RUNTIME
MODEL WINDOWS ARENA``) so that its peak RSS is that runtime's alone: the LiteRT and TFLM
children never import TensorFlow (they report it), the Keras one is the reference.
Inputs are seeded random windows: the latency of these models does not depend on values.
"""

from __future__ import annotations

import importlib.util
import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from edgehar.errors import BundleError, ExportError

if TYPE_CHECKING:  # the child process stays lean: no scipy, no TensorFlow
    from edgehar.bundle import Bundle

DEFAULT_WINDOWS = 200
WARMUP_WINDOWS = 5
RUNTIMES = ("litert", "tflm", "keras")


def _percentiles(seconds: list[float]) -> dict:
    ms = 1000 * np.asarray(seconds)
    return {"p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99))}


def peak_rss_kib() -> int:
    """This process's peak resident memory in KiB.

    Linux's VmHWM belongs to the process image, while ``ru_maxrss`` survives exec and so
    reports the parent's peak in a child forked from a big process; it is the fallback.
    """
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _load(runtime: str, model_path: Path, arena: int):
    """(predict one window, its input shape) for a runtime."""
    if runtime == "litert":
        from edgehar.runtime.interpreter import TFLiteClassifier

        model = TFLiteClassifier(model_path, num_threads=1)
        return model.predict_window, model.input_shape[1:]
    if runtime == "tflm":
        from edgehar.export.tflm import TFLMClassifier

        model = TFLMClassifier(model_path.read_bytes(), arena)
        return model.predict_window, model.input_shape[1:]
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    import keras

    model = keras.models.load_model(model_path, compile=False)
    # predict_on_batch runs the compiled graph; an eager call is ~50x slower for an LSTM.
    return (lambda w: model.predict_on_batch(w[None])), tuple(model.input_shape[1:])


def _child(runtime: str, model_path: Path, windows: int, arena: int) -> dict:
    """Time ``windows`` windows one by one after a warm-up; report latency and peak RSS."""
    predict, shape = _load(runtime, model_path, arena)
    inputs = np.random.default_rng(0).normal(size=(WARMUP_WINDOWS + windows, *shape)).astype(np.float32)
    seconds = []
    for i, window in enumerate(inputs):
        start = time.perf_counter()
        predict(window)
        if i >= WARMUP_WINDOWS:
            seconds.append(time.perf_counter() - start)
    return {**_percentiles(seconds),
            "peak_rss_kib": peak_rss_kib(),
            "tensorflow_loaded": "tensorflow" in sys.modules}


def measure(runtime: str, model_path: Path, windows: int = DEFAULT_WINDOWS, arena: int = 0) -> dict:
    """One runtime's measurement of one model, made in a fresh child process."""
    child = subprocess.run([sys.executable, "-m", "edgehar.export.bench", runtime, str(model_path),
                            str(windows), str(arena)], capture_output=True, text=True, timeout=600)
    if child.returncode != 0:
        lines = child.stderr.strip().splitlines()
        raise ExportError(f"{runtime} benchmark of {model_path} failed: "
                          f"{lines[-1] if lines else child.returncode}")
    return json.loads(child.stdout.strip().splitlines()[-1])


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def skipped_runtimes(bundle: Bundle) -> dict[str, str]:
    """Runtimes this install or this bundle cannot bench, with the reason (the runtime-only
    install has neither TensorFlow nor TFLM; an installed default bundle has no model.keras)."""
    extra = 'pip install "edgehar[train]"'
    skipped = {}
    if not _installed("tensorflow"):
        skipped["keras"] = f"TensorFlow is not installed ({extra})"
    elif not (bundle.path / "model.keras").is_file():
        skipped["keras"] = f"{bundle.path} has no model.keras"
    if not _installed("tflite_micro"):
        skipped["tflm"] = f"tflite-micro is not installed ({extra})"
    return skipped


def bench(bundle: Bundle, windows: int = DEFAULT_WINDOWS, progress=None) -> dict:
    """Latency p50/p99, model bytes, arena bytes and peak RSS per variant and runtime.

    Runtimes in :func:`skipped_runtimes` are left out and listed under ``skipped``;
    ``progress(done, total)`` is called as measurements finish.
    """
    from edgehar.export.convert import VARIANTS
    from edgehar.export.tflm import TFLM_VARIANTS, measure_arena

    if windows < 1:
        raise ExportError(f"--windows must be at least 1, not {windows}")
    variants = [v for v in VARIANTS if (bundle.path / f"model_{v}.tflite").is_file()]
    if not variants:
        raise BundleError(f"{bundle.path}: no exported model; run `edgehar export {bundle.path}` first")
    skipped = skipped_runtimes(bundle)
    jobs = [] if "keras" in skipped else [("keras", "keras", bundle.file("model.keras"))]
    for variant in variants:
        jobs.append((variant, "litert", bundle.tflite(variant)))
        if variant in TFLM_VARIANTS and "tflm" not in skipped:
            jobs.append((variant, "tflm", bundle.tflite(variant)))
    rows = []
    for done, (variant, runtime, path) in enumerate(jobs):
        if progress:
            progress(done, len(jobs))
        arena = measure_arena(path.read_bytes()) if runtime == "tflm" else None
        rows.append({"variant": variant, "runtime": runtime, "model_bytes": path.stat().st_size,
                     "arena_bytes": arena, **measure(runtime, path, windows, arena or 0)})
    return {"bundle": str(bundle.path), "windows": windows, "batch": 1, "threads": 1, "rows": rows,
            "skipped": skipped}


if __name__ == "__main__":
    runtime, model_path, n, arena = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    if runtime not in RUNTIMES:
        raise SystemExit(f"unknown runtime {runtime!r}; choose from {RUNTIMES}")
    print(json.dumps(_child(runtime, model_path, n, arena)))
