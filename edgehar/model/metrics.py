"""Classification metrics from label indices, in plain numpy (no TensorFlow, no sklearn)."""

from __future__ import annotations

import numpy as np

from edgehar.spec import activity_of


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """Counts (n_classes, n_classes): rows are true classes, columns predictions."""
    cm = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(cm, (np.asarray(y_true), np.asarray(y_pred)), 1)
    return cm


def classification_report(y_true, y_pred, classes, subjects=None) -> dict:
    """Accuracy, macro-F1, per-class precision/recall/F1, per-subject accuracy, confusion matrix.

    ``y_true``/``y_pred`` are 0-based class indices; fractions are in 0..1.
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    cm = confusion_matrix(y_true, y_pred, len(classes))
    tp = np.diag(cm).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.nan_to_num(tp / cm.sum(axis=0))
        recall = np.nan_to_num(tp / cm.sum(axis=1))
        f1 = np.nan_to_num(2 * precision * recall / (precision + recall))
    report = {
        "windows": int(len(y_true)),
        "accuracy": float((y_true == y_pred).mean()) if len(y_true) else 0.0,
        "macro_f1": float(f1.mean()),
        "per_class": {
            name: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for name, p, r, f, s in zip(classes, precision, recall, f1, cm.sum(axis=1), strict=True)
        },
        "confusion_matrix": cm.tolist(),
    }
    if subjects is not None:
        subjects = np.asarray(subjects)
        report["per_subject"] = {
            str(s): float((y_true[subjects == s] == y_pred[subjects == s]).mean())
            for s in np.unique(subjects)
        }
    return report


def predicted_index(probs: np.ndarray, model_classes, classes) -> np.ndarray:
    """Each window's predicted index into ``classes`` (those of the labelled windows): the model's
    top class, a postural transition read as its destination posture when ``classes`` has no
    such class (a 12-class model scored on UCI HAR's 6 activities)."""
    model_classes, classes = list(model_classes), list(classes)
    to = np.array([classes.index(c if c in classes else activity_of(c)) for c in model_classes])
    return to[np.asarray(probs).argmax(axis=1)]
