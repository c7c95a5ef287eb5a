"""TEMPORARY: a throwaway tiny bundle for the runtime tests until the shared `tiny_bundle`
fixture lands in conftest.py (then these tests switch to it and this file goes)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edgehar.bundle import Bundle
from edgehar.preprocess.pipeline import Pipeline
from edgehar.spec import ACTIVITIES


def make_tiny_bundle(folder: Path) -> Path:
    """An untrained but deterministic raw6 Conv1D model exported to model_float32.tflite."""
    import tensorflow as tf
    import tf_keras as keras

    keras.utils.set_random_seed(0)
    inputs = keras.Input(shape=(128, 6), batch_size=1)
    h = keras.layers.Conv1D(8, 9, activation="relu")(inputs)
    h = keras.layers.GlobalAveragePooling1D()(h)
    outputs = keras.layers.Dense(len(ACTIVITIES), activation="softmax")(h)
    model = keras.Model(inputs, outputs)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model_float32.tflite").write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    rng = np.random.default_rng(0)
    pipeline = Pipeline.preset("raw6").fit(rng.normal(size=(1000, 6)) * 0.5)
    (folder / "metadata.json").write_text(json.dumps({
        "schema": "edgehar.bundle/1", "name": "tiny", "classes": list(ACTIVITIES),
        "sample_rate_hz": 50, "window": 128, "hop": 64, "pipeline": pipeline.to_dict()}))
    return folder


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory) -> Bundle:
    return Bundle.load(make_tiny_bundle(tmp_path_factory.mktemp("bundle") / "tiny"))
