"""Knowledge distillation: a small student learns from a bigger trained bundle's probabilities.

Targets become ``[one-hot labels | teacher probabilities]``; the loss mixes cross-entropy on
the labels with the KL divergence between teacher and student, both softened at a
temperature (Hinton et al., 2015, "Distilling the Knowledge in a Neural Network"). The
teacher sees the same augmented windows as the student, normalized its own way.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
from keras import ops

from edgehar.bundle import Bundle
from edgehar.errors import BundleError
from edgehar.preprocess.pipeline import Pipeline


class Teacher:
    """A trained bundle's Keras model, as a source of soft targets."""

    def __init__(self, path: Path | str, pipeline: Pipeline):
        bundle = Bundle.load(path)
        theirs = bundle.pipeline
        if (theirs.channels, theirs.train_from) != (pipeline.channels, pipeline.train_from):
            raise BundleError(f"teacher {path} reads pipeline {theirs.name!r}, the student {pipeline.name!r}")
        self.pipeline = theirs
        self.model = keras.models.load_model(bundle.file("model.keras"), compile=False)

    def targets(self, channels: np.ndarray, y: np.ndarray) -> np.ndarray:
        """One-hot labels ``y`` (N, K) followed by the teacher's probabilities (N, K)."""
        probs = self.model.predict_on_batch(self.pipeline.normalize(channels))
        return np.concatenate([y, probs], axis=1).astype(np.float32)


def _soften(probs, temperature: float):
    return ops.softmax(ops.log(ops.clip(probs, 1e-7, 1.0)) / temperature, axis=-1)


def loss(n_classes: int, weight: float, temperature: float):
    """(1 - weight) * cross-entropy on the labels + weight * T² * KL(teacher_T || student_T)."""

    def distillation(y, p):
        hard, soft = y[:, :n_classes], y[:, n_classes:]
        teacher, student = _soften(soft, temperature), _soften(p, temperature)
        kl = ops.sum(teacher * (ops.log(ops.clip(teacher, 1e-7, 1.0)) - ops.log(student)), axis=-1)
        ce = keras.losses.categorical_crossentropy(hard, p)
        return (1 - weight) * ce + weight * temperature ** 2 * kl

    return distillation


def accuracy(n_classes: int):
    """Top-1 accuracy against the label part of the targets (named 'accuracy' for the logs)."""

    def accuracy(y, p):
        return keras.metrics.categorical_accuracy(y[:, :n_classes], p)

    return accuracy
