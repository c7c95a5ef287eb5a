"""Export a tiny real LSTM bundle to every TFLite variant; check the graphs, state and TFLM."""

from __future__ import annotations

import shutil
import subprocess
import sys

import numpy as np
import pytest

from edgehar.bundle import Bundle
from edgehar.data.uci import load_split
from edgehar.errors import ExportError
from edgehar.export.convert import (
    FUSED_LSTM,
    VARIANTS,
    check_operators,
    convert,
    export_variants,
    is_recurrent,
    operators,
    rebuild_batch1,
)
from edgehar.export.report import REPORT_FILE, validate
from edgehar.export.tflm import TFLMClassifier, measure_arena, runs_with_arena
from edgehar.model.architectures import build
from edgehar.preprocess.prepare import model_inputs
from edgehar.runtime.interpreter import TFLiteClassifier


@pytest.fixture(scope="module")
def splits(uci_dir):
    train, test = load_split(uci_dir, "train"), load_split(uci_dir, "test")
    return train.take(slice(0, 200)), test.take(slice(0, 120))


@pytest.fixture(scope="module")
def exported(tiny_bundle, splits, tmp_path_factory):
    path = tmp_path_factory.mktemp("export") / "tiny"
    shutil.copytree(tiny_bundle.path, path)
    bundle = Bundle.load(path)
    paths = export_variants(bundle, splits[0])
    return Bundle.load(path), paths


def test_every_variant_is_written_and_loads_in_litert(exported):
    bundle, paths = exported
    assert set(paths) == set(VARIANTS)
    for variant, path in paths.items():
        assert path == bundle.tflite(variant)
        model = TFLiteClassifier(path)
        assert model.input_shape == (1, bundle.window, len(bundle.pipeline.channels))
        probs = model.predict_window(np.zeros(model.input_shape[1:], np.float32))
        assert probs.shape == (6,) and abs(float(probs.sum()) - 1) < 0.02


def test_exported_models_carry_no_tensor_names(exported):
    from ai_edge_litert.tools import flatbuffer_utils

    _, paths = exported
    for variant, path in paths.items():
        model = flatbuffer_utils.read_model(str(path))
        assert all(not t.name for g in model.subgraphs for t in g.tensors), variant


def test_lstm_converts_to_the_fused_op_without_loops(exported):
    bundle, paths = exported
    for variant, path in paths.items():
        ops = operators(path.read_bytes())
        assert FUSED_LSTM in ops, variant
        assert "WHILE" not in ops, variant
        assert bundle.metadata["exports"][variant]["ops"] == ops


def test_int8_metadata_records_quantization(exported):
    bundle, paths = exported
    int8 = bundle.metadata["exports"]["int8"]
    assert int8["input"]["dtype"] == int8["output"]["dtype"] == "int8"
    assert int8["input"]["scale"] > 0 and -128 <= int8["input"]["zero_point"] <= 127
    assert int8["output"]["shape"] == [1, 6]
    assert int8["bytes"] == paths["int8"].stat().st_size
    assert int8["calibration"]["windows"] == 200  # the whole 200-window training slice
    assert bundle.metadata["exports"]["float32"]["input"]["scale"] == 0.0


@pytest.fixture(scope="module")
def long_memory_lstm(splits):
    """float32 and int8 .tflite of an LSTM whose cell state lasts across a whole window.

    Forget gate ~1, input gate ~0.05, no recurrence: the final state is the initial state
    plus a small sum over the window, so a state carried over from the previous window
    shows in the output (a trained model may forget it within 128 steps).
    """
    units = 4
    model = build("lstm", (128, 9), 6, units=units, dense=4)
    lstm = model.layers[0]
    kernel, recurrent, bias = lstm.get_weights()
    bias[:] = 0
    bias[:units], bias[units:2 * units] = -3, 10
    lstm.set_weights([kernel * 0.1, recurrent * 0, bias])
    model.layers[2].set_weights([10 * np.eye(units, dtype=np.float32), np.full(units, 0.5, np.float32)])
    model.layers[3].set_weights([np.random.default_rng(0).normal(size=(units, 6)).astype(np.float32),
                                 np.zeros(6, np.float32)])
    twin = rebuild_batch1(model)
    return {v: convert(twin, v, splits[0].X[:50]) for v in ("float32", "int8")}


def _raw_invoke(model, window):
    """Run one window WITHOUT resetting the state first (what the classifiers must not do)."""
    if isinstance(model, TFLiteClassifier):
        index = model.interpreter.get_input_details()[0]["index"]
        model.interpreter.set_tensor(index, model.input_tensor(window))
        model.interpreter.invoke()
        return model.interpreter.get_tensor(model.interpreter.get_output_details()[0]["index"])[0]
    model.interpreter.set_input(model.input_tensor(window), 0)
    model.interpreter.invoke()
    return model.interpreter.get_output(0)[0]


@pytest.mark.parametrize("runtime", ["litert", "tflm"])
@pytest.mark.parametrize("variant", ["float32", "int8"])
def test_a_window_does_not_depend_on_the_windows_before(long_memory_lstm, splits, variant, runtime):
    data = long_memory_lstm[variant]
    model = TFLiteClassifier(data) if runtime == "litert" else TFLMClassifier(data, measure_arena(data))
    a, b = splits[1].X[0], splits[1].X[1]
    fresh = _raw_invoke(model, b).copy()  # from the freshly allocated (zero) state
    _raw_invoke(model, a)
    assert not np.array_equal(_raw_invoke(model, b), fresh)  # a's state carried over into b
    alone = model.predict_window(b)
    model.predict_window(a)
    assert np.array_equal(model.predict_window(b), alone)


@pytest.mark.parametrize(("family", "params"), [
    ("cnn", {"filters": 4, "dense": 8}),
    ("dscnn", {"filters": (8, 8)}),
    ("convlstm", {"filters": (8,), "units": 4}),
])
def test_other_families_convert_to_int8_builtin_ops(splits, family, params):
    model = build(family, (128, 9), 6, **params)
    ops = operators(convert(rebuild_batch1(model), "int8", splits[0].X[:20]))
    check_operators(ops, recurrent=is_recurrent(model), what=family)
    assert "WHILE" not in ops
    assert (FUSED_LSTM in ops) == (family == "convlstm")


def test_per_tensor_int8_drops_the_per_channel_scales(splits):
    twin = rebuild_batch1(build("dscnn", (128, 9), 6, filters=(16, 24)))
    per_channel = convert(twin, "int8", splits[0].X[:20])
    per_tensor = convert(twin, "int8", splits[0].X[:20], per_channel=False)
    assert len(per_tensor) < len(per_channel)

    def scales(model):
        details = TFLiteClassifier(model).interpreter.get_tensor_details()
        return sum(len(d["quantization_parameters"]["scales"]) for d in details)

    assert scales(per_tensor) < scales(per_channel) / 2
    assert operators(per_tensor) == operators(per_channel)


@pytest.mark.parametrize("variant", ["float32", "int8"])
def test_tflm_runs_with_the_measured_arena_and_not_less(exported, splits, variant):
    bundle, paths = exported
    data = paths[variant].read_bytes()
    arena = measure_arena(data)
    assert runs_with_arena(data, arena)
    assert not runs_with_arena(data, arena - 64)
    x = model_inputs(splits[1].take(slice(0, 20)), bundle.pipeline)
    tflm = TFLMClassifier(data, arena)
    litert = TFLiteClassifier(data).predict(x)
    assert (tflm.predict(x).argmax(axis=1) == litert.argmax(axis=1)).mean() >= 0.95


def test_tflm_refuses_float16(exported):
    with pytest.raises(ExportError, match="TFLM"):
        measure_arena(exported[1]["float16"].read_bytes())


def test_report_on_a_slice_has_every_field(exported, splits):
    bundle, _ = exported
    report = validate(bundle, splits[1])
    assert report["windows"] == 120
    assert (bundle.path / REPORT_FILE).is_file()
    for variant in VARIANTS:
        row = report["variants"][variant]
        assert {"bytes", "ops", "accuracy", "macro_f1", "agreement_vs_keras",
                "max_abs_prob_diff_vs_keras"} <= set(row)
        assert 0 <= row["accuracy"] <= 1
        assert ("tflm" in row) == (variant in ("float32", "int8"))
    assert report["variants"]["float32"]["max_abs_prob_diff_vs_keras"] < 1e-4
    tflm = report["variants"]["int8"]["tflm"]
    assert tflm["arena_bytes"] > 0 and tflm["agreement_with_litert"] >= 0.95
    assert set(report["targets"]) == {"int8_accuracy_drop_points", "int8_bytes", "finite_outputs",
                                      "int8_agreement_with_keras", "float32_litert_tflm_agreement",
                                      "int8_litert_tflm_agreement"}
    assert report["targets"]["int8_bytes"]["pass"]


def test_forbidden_ops_are_named():
    with pytest.raises(ExportError, match="WHILE"):
        check_operators(["RESHAPE", "WHILE", "SOFTMAX"], recurrent=False, what="m")
    with pytest.raises(ExportError, match="FlexTensorListReserve"):
        check_operators(["FlexTensorListReserve"], recurrent=False, what="m")
    with pytest.raises(ExportError, match="unrolled"):
        check_operators(["FULLY_CONNECTED", "TANH", "LOGISTIC"], recurrent=True, what="m")


KERAS3_LSTM = """
import keras, tensorflow as tf
from edgehar.export.convert import check_operators, operators
m = keras.Sequential([keras.Input((128, 9), batch_size=1), keras.layers.LSTM(4),
                      keras.layers.Dense(6, activation="softmax")])
check_operators(operators(tf.lite.TFLiteConverter.from_keras_model(m).convert()), True, "keras3")
"""


def test_a_keras3_lstm_converted_directly_is_refused_for_its_while_loop():
    # In a child process: converting Keras-3 recurrent graphs can crash the converter.
    child = subprocess.run([sys.executable, "-c", KERAS3_LSTM], capture_output=True, text=True,
                           timeout=300)
    assert child.returncode != 0
    assert "ExportError" in child.stderr and "WHILE" in child.stderr
