"""Evaluate a bundle on labelled windows: with its Keras model or an exported .tflite."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from edgehar.bundle import Bundle
from edgehar.data.dataset import HarWindows
from edgehar.model.metrics import classification_report, predicted_index
from edgehar.preprocess.prepare import model_inputs


def predict_probs(bundle: Bundle, windows: HarWindows, variant: str = "keras") -> np.ndarray:
    """Class probabilities (N, n_classes) from the Keras model or a .tflite variant."""
    x = model_inputs(windows, bundle.pipeline)
    if variant == "keras":
        import keras

        model = keras.models.load_model(bundle.file("model.keras"), compile=False)
        return model.predict(x, batch_size=256, verbose=0)
    from edgehar.runtime.interpreter import TFLiteClassifier

    return TFLiteClassifier.of_bundle(bundle, variant).predict(x)


def evaluate_bundle(bundle: Bundle, windows: HarWindows, variant: str = "keras") -> dict:
    probs = predict_probs(bundle, windows, variant)
    predicted = predicted_index(probs, bundle.classes, windows.classes)
    report = classification_report(windows.class_index, predicted, windows.classes, windows.subject)
    return {"bundle": str(bundle.path), "variant": variant, "data": windows.source, **report}


def plot_confusion(report: dict, classes, path: Path) -> Path:
    """Write the confusion matrix as a PNG (row-normalized colours, counts in the cells)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from edgehar import atomic

    cm = np.asarray(report["confusion_matrix"])
    fig, ax = plt.subplots(figsize=(7, 6))
    ax.imshow(cm / np.maximum(cm.sum(axis=1, keepdims=True), 1), cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"accuracy {report['accuracy']:.2%}, macro-F1 {report['macro_f1']:.2%}")
    for (i, j), v in np.ndenumerate(cm):
        ax.text(j, i, str(v), ha="center", va="center",
                color="white" if v > cm[i].sum() / 2 else "black")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    atomic.write_bytes(Path(path), buf.getvalue())
    return Path(path)
