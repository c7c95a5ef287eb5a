"""Validate every exported variant against the Keras model on labelled test windows.

For each variant: accuracy, macro-F1, top-1 agreement with Keras, the largest probability
difference from Keras, bytes and ops. Checks fail when any output is not a finite number (a
model with NaN weights labels everything class 0 and still agrees with itself) and when int8
agrees with Keras on too few windows (a degenerate model can lose no accuracy while its int8
labels are all different). Float32 and int8 also run under TFLM with the arena
they need (measured, then checked by running with exactly that arena), compared with LiteRT.
The result is ``BUNDLE/export_report.json`` and a table.
"""

from __future__ import annotations

import numpy as np
from rich.table import Table

from edgehar import atomic
from edgehar.bundle import Bundle
from edgehar.data.dataset import HarWindows
from edgehar.export.convert import VARIANTS, operators
from edgehar.export.tflm import TFLM_VARIANTS, TFLMClassifier, measure_arena
from edgehar.model.metrics import classification_report, predicted_index
from edgehar.preprocess.prepare import model_inputs
from edgehar.runtime.interpreter import TFLiteClassifier
from edgehar.scoring.confidence import mean_confidence

REPORT_FILE = "export_report.json"
MAX_INT8_DROP_POINTS = 0.5
MIN_LITERT_TFLM_AGREEMENT = 0.999
MAX_INT8_BYTES = 64 * 1024
MIN_INT8_AGREEMENT = 0.95
"""int8 top-1 agreement with Keras: every shipped model's is 0.982 to 0.995."""


def _scores(probs: np.ndarray, windows: HarWindows, classes) -> dict:
    report = classification_report(windows.class_index, predicted_index(probs, classes, windows.classes),
                                   windows.classes)
    return {"accuracy": report["accuracy"], "macro_f1": report["macro_f1"]}


def _compare(probs: np.ndarray, reference: np.ndarray) -> dict:
    """Top-1 agreement and the largest |difference| (None where an output is not finite)."""
    diff = np.abs(probs - reference).max(initial=0.0)
    return {"agreement": float((probs.argmax(axis=1) == reference.argmax(axis=1)).mean()),
            "max_abs_prob_diff": float(diff) if np.isfinite(diff) else None}


def _non_finite(probs: np.ndarray) -> int:
    return int((~np.isfinite(probs)).sum())


def _target(value, limit, passed: bool) -> dict:
    return {"value": value, "limit": limit, "pass": bool(passed)}


def _targets(report: dict) -> dict:
    """Pass/fail of the targets set for the reference LSTM-100 (checked for every bundle)."""
    variants = report["variants"]
    bad = report["keras"]["non_finite_outputs"] + sum(row["non_finite_outputs"] for row in variants.values())
    targets = {"finite_outputs": _target(bad, 0, bad == 0)}
    if "int8" in variants:
        agreement = variants["int8"]["agreement_vs_keras"]
        targets["int8_agreement_with_keras"] = _target(agreement, MIN_INT8_AGREEMENT,
                                                       agreement >= MIN_INT8_AGREEMENT)
        drop = 100 * (report["keras"]["accuracy"] - variants["int8"]["accuracy"])
        targets["int8_accuracy_drop_points"] = _target(round(drop, 3), MAX_INT8_DROP_POINTS,
                                                       drop <= MAX_INT8_DROP_POINTS)
        size = variants["int8"]["bytes"]
        targets["int8_bytes"] = _target(size, MAX_INT8_BYTES, size <= MAX_INT8_BYTES)
    for variant, row in variants.items():
        if "tflm" in row:
            agreement = row["tflm"]["agreement_with_litert"]
            targets[f"{variant}_litert_tflm_agreement"] = _target(
                agreement, MIN_LITERT_TFLM_AGREEMENT, agreement >= MIN_LITERT_TFLM_AGREEMENT)
    return targets


def validate(bundle: Bundle, test: HarWindows, variants=VARIANTS, progress=None) -> dict:
    """Validate the exported ``variants`` of ``bundle`` on ``test``; write and return the report.

    ``progress(done, total)`` is called as variants are validated."""
    import keras

    x = model_inputs(test, bundle.pipeline)
    model = keras.models.load_model(bundle.file("model.keras"), compile=False)
    keras_probs = model.predict(x, batch_size=256, verbose=0)
    report = {"bundle": str(bundle.location), "data": test.source, "windows": len(test),
              "keras": {**_scores(keras_probs, test, bundle.classes),
                        "mean_confidence": round(mean_confidence(keras_probs), 4),
                        "non_finite_outputs": _non_finite(keras_probs)}, "variants": {}}
    for done, variant in enumerate(variants):
        if progress:
            progress(done, len(variants))
        data = bundle.tflite(variant).read_bytes()
        probs = TFLiteClassifier(data).predict(x)
        row = {"bytes": len(data), "ops": operators(data), **_scores(probs, test, bundle.classes),
               **{f"{k}_vs_keras": v for k, v in _compare(probs, keras_probs).items()},
               "non_finite_outputs": _non_finite(probs)}
        if variant in TFLM_VARIANTS:
            arena = measure_arena(data)
            tflm_probs = TFLMClassifier(data, arena).predict(x)
            litert = _compare(tflm_probs, probs)
            row["tflm"] = {"arena_bytes": arena, "arena_checked": True,
                           **_scores(tflm_probs, test, bundle.classes),
                           "agreement_with_litert": litert["agreement"],
                           "max_abs_prob_diff_vs_litert": litert["max_abs_prob_diff"]}
        report["variants"][variant] = row
    report["targets"] = _targets(report)
    if (firmware := _firmware_of_the_same_model(bundle)) is not None:
        report["firmware"] = firmware
    atomic.write_json(bundle.path / REPORT_FILE, report)
    return report


def _firmware_of_the_same_model(bundle: Bundle) -> dict | None:
    """The earlier report's firmware section, if it is about the int8 model there is now."""
    import json

    from edgehar.checksum import sha256_of

    path, model = bundle.path / REPORT_FILE, bundle.path / "model_int8.tflite"
    if not path.is_file() or not model.is_file():
        return None
    firmware = json.loads(path.read_text()).get("firmware")
    same = isinstance(firmware, dict) and firmware.get("model_sha256") == sha256_of(model)
    return firmware if same else None


def failed_checks(report: dict) -> list[str]:
    """Names of the report's targets that failed."""
    return [name for name, target in report["targets"].items() if not target["pass"]]


def report_table(report: dict) -> Table:
    """The report as a table of variants."""
    table = Table(title=f"{report['bundle']}: {report['windows']} windows of {report['data']}")
    for column in ("variant", "bytes", "accuracy", "macro-F1", "agree Keras", "max |Δp|",
                   "TFLM arena", "TFLM accuracy", "agree LiteRT"):
        table.add_column(column, justify="left" if column == "variant" else "right")
    keras_scores = report["keras"]
    table.add_row("keras", "", f"{keras_scores['accuracy']:.2%}", f"{keras_scores['macro_f1']:.2%}",
                  "", "", "", "", "")
    for variant, row in report["variants"].items():
        tflm = row.get("tflm")
        table.add_row(variant, f"{row['bytes']:,}", f"{row['accuracy']:.2%}", f"{row['macro_f1']:.2%}",
                      f"{row['agreement_vs_keras']:.2%}", _diff(row["max_abs_prob_diff_vs_keras"]),
                      f"{tflm['arena_bytes']:,}" if tflm else "-",
                      f"{tflm['accuracy']:.2%}" if tflm else "-",
                      f"{tflm['agreement_with_litert']:.2%}" if tflm else "-")
    return table


def _diff(value: float | None) -> str:
    return "not finite" if value is None else f"{value:.4f}"
