"""Firmware packages of real pipelines: the C preprocessing against Python, C arrays, ops, constants.

The portable C is built with gcc (-std=c11 -Wall -Wextra -Werror, via the package Makefile)
and fed real recordings: a stitched UCI HAR test segment and a slice of a HAPT experiment.
(test_firmware_tflm.py builds whole packages against TensorFlow Lite Micro.)
"""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess

import numpy as np
import pytest
from conftest import REPO

from edgehar import atomic
from edgehar.bundle import SCHEMA, Bundle, sha256_of
from edgehar.data.segments import stitch
from edgehar.data.uci import load_split
from edgehar.errors import ExportError
from edgehar.export.carrays import FIRMWARE_TEMPLATE, TEMPLATES
from edgehar.export.convert import convert, export_variants, operators, tensor_info
from edgehar.export.firmware import (
    CMSIS_NN_ALLOWANCE,
    OP_RESOLVER_METHODS,
    TFLM_KERNELS,
    arena_with_margin,
    op_resolver_sources,
    write_firmware,
)
from edgehar.export.tflm import runs_with_arena
from edgehar.metadata import seal
from edgehar.preprocess.pipeline import Pipeline
from edgehar.preprocess.windows import sliding_windows, window_starts
from edgehar.runtime.interpreter import quantize
from edgehar.runtime.limits import SampleLimits
from edgehar.spec import ACTIVITIES, HOP, WINDOW

HAPT_SAMPLES = 1600


def tiny_int8_model(representative: np.ndarray, n_classes: int = len(ACTIVITIES)) -> bytes:
    """An untrained batch-1 Conv1D classifier, full-int8, calibrated on real windows."""
    import tf_keras as keras

    keras.utils.set_random_seed(0)
    inputs = keras.Input((WINDOW, representative.shape[-1]), batch_size=1)
    x = keras.layers.Conv1D(8, 5, activation="relu")(inputs)
    x = keras.layers.MaxPooling1D(2)(x)
    x = keras.layers.GlobalAveragePooling1D()(x)
    outputs = keras.layers.Dense(n_classes, activation="softmax")(x)
    return convert(keras.Model(inputs, outputs, name="tiny_cnn"), "int8", representative)


def make_bundle(path, pipeline: Pipeline, model: bytes, window: int = WINDOW, classes=ACTIVITIES) -> Bundle:
    atomic.write_bytes(path / "model_int8.tflite", model)
    atomic.write_json(path / "metadata.json", seal({
        "schema": SCHEMA, "name": path.name, "classes": list(classes), "window": window,
        "hop": HOP, "sample_rate_hz": pipeline.sample_rate_hz, "pipeline": pipeline.to_dict(),
        "sha256": {"model_int8.tflite": sha256_of(path / "model_int8.tflite")}}))
    return Bundle.load(path)


def build_host_test(package):
    subprocess.run(["make", "-C", str(package), "CC=gcc", "host_test"], check=True, capture_output=True)
    return package / "host_test"


def run_host_test(package, raw: np.ndarray):
    """(window ends, normalized rows, int8 rows) the C code produces for ``raw`` (n, 6)."""
    text = "".join(" ".join(repr(float(v)) for v in row) + "\n" for row in raw)
    out = subprocess.run([str(package / "host_test")], input=text, capture_output=True, text=True,
                         check=True).stdout
    lines = [line.split() for line in out.splitlines()]
    return (np.array([int(line[1]) for line in lines if line[0] == "W"]),
            np.array([line[1:] for line in lines if line[0] == "F"], np.float32),
            np.array([line[1:] for line in lines if line[0] == "Q"], np.int64))


def host_params(package) -> dict[str, list[str]]:
    out = subprocess.run([str(package / "host_test"), "--params"], capture_output=True, text=True,
                         check=True).stdout
    return {line.split()[0]: line.split()[1:] for line in out.splitlines()}


@pytest.fixture(scope="module")
def recordings(uci_dir, hapt_raw):
    """Real raw streams (n, 6) float32: the longest WALKING segment of the first 300 UCI HAR
    test windows, and the start of HAPT experiment 1 (user 1); all segments, for fitting."""
    segments = stitch(load_split(uci_dir, "test").take(slice(0, 300)))
    walking = [s for s in segments if ACTIVITIES[s.label - 1] == "WALKING"]
    uci = max(walking, key=lambda s: len(s.raw)).raw.astype(np.float32)
    acc = np.loadtxt(hapt_raw / "acc_exp01_user01.txt.gz", max_rows=HAPT_SAMPLES)
    gyro = np.loadtxt(hapt_raw / "gyro_exp01_user01.txt.gz", max_rows=HAPT_SAMPLES)
    hapt = np.hstack([acc, gyro]).astype(np.float32)
    return {"uci": uci, "hapt": hapt, "fit": [s.raw for s in segments]}


@pytest.fixture(scope="module")
def packages(recordings, tmp_path_factory):
    """Firmware packages for 'causal9' (fitted normalization), the same with a noise
    low-pass, 'uci9' (median and noise low-pass) on raw HAPT samples, and 'raw6' (no
    normalization); each with its host_test built."""
    def fitted(pipeline):
        return pipeline.fit(np.concatenate([pipeline.transform(raw) for raw in recordings["fit"]]))

    def representative(pipeline):
        return np.concatenate([sliding_windows(pipeline.transform(raw)) for raw in recordings["fit"]])

    causal9 = fitted(Pipeline.preset("causal9"))
    noisy9 = fitted(Pipeline.preset("causal9", noise_cutoff_hz=20.0))
    uci9 = fitted(Pipeline.preset("uci9"))
    raw6 = Pipeline.preset("raw6")
    model9 = tiny_int8_model(representative(causal9))
    model6 = tiny_int8_model(representative(raw6))
    root = tmp_path_factory.mktemp("firmware")
    out = {}
    for name, pipeline, model, raw in (("causal9", causal9, model9, recordings["uci"]),
                                       ("causal9_noise", noisy9, model9, recordings["uci"]),
                                       ("uci9", uci9, model9, recordings["hapt"]),
                                       ("raw6", raw6, model6, recordings["hapt"])):
        bundle = make_bundle(root / f"bundle_{name}", pipeline, model)
        package = write_firmware(bundle, root / f"firmware_{name}")
        build_host_test(package)
        out[name] = (bundle, package, raw)
    return out


@pytest.mark.parametrize("name", ["causal9", "causal9_noise", "uci9", "raw6"])
def test_c_preprocessing_and_quantization_match_python(packages, name):
    bundle, package, raw = packages[name]
    pipeline = bundle.pipeline
    ends, rows, quantized = run_host_test(package, raw)

    expected = pipeline.transform(raw)
    np.testing.assert_array_equal(ends, window_starts(len(raw), bundle.window, bundle.hop) + bundle.window)
    assert len(ends) >= 10
    np.testing.assert_allclose(rows, expected, rtol=0, atol=1e-5)

    q = tensor_info(bundle.tflite("int8").read_bytes())["input"]
    expected_q = quantize(expected, q["scale"], q["zero_point"])
    np.testing.assert_array_equal(quantized, expected_q)
    assert len(np.unique(expected_q)) > 50  # the comparison spans the int8 range, not a constant


@pytest.mark.parametrize("name", ["causal9", "raw6"])
def test_model_array_is_the_tflite_byte_for_byte(packages, name, tmp_path):
    bundle, package, _ = packages[name]
    model = bundle.tflite("int8").read_bytes()
    source = (package / "src" / "model_data.cpp").read_text()
    body = source[source.index("g_model_data[] = {"):source.index("};")]
    assert bytes(int(b, 16) for b in re.findall(r"0x([0-9a-f]{2})", body)) == model
    assert f"g_model_data_len = {len(model)};" in source

    # What a C++ compiler makes of it: the same bytes, 16-byte aligned.
    (tmp_path / "dump.cc").write_text(
        '#include <cstdint>\n#include <cstdio>\n#include "model_data.h"\n'
        "int main() {\n"
        "  if (reinterpret_cast<std::uintptr_t>(g_model_data) % 16 != 0) return 1;\n"
        "  std::fwrite(g_model_data, 1, g_model_data_len, stdout);\n}\n")
    src = package / "src"
    subprocess.run(["g++", "-std=c++11", "-Wall", "-Wextra", "-Werror", f"-I{src}", "-o",
                    str(tmp_path / "dump"), str(tmp_path / "dump.cc"), str(src / "model_data.cpp")],
                   check=True)
    dumped = subprocess.run([str(tmp_path / "dump")], capture_output=True, check=True).stdout
    assert dumped == model


def files_under(folder) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


def test_package_holds_the_static_files_and_every_template_filled(packages):
    _, package, _ = packages["raw6"]
    generated = {t.relative_to(TEMPLATES).as_posix().removesuffix(".in") for t in TEMPLATES.rglob("*.in")}
    generated.add("library.json")  # written by a JSON encoder
    static = {f for f in files_under(FIRMWARE_TEMPLATE)
              if not f.startswith(("templates/", "__")) and "__pycache__" not in f}
    assert {"src/edgehar.h", "CMakeLists.txt", "zephyr/module.yml", "idf_component.yml"} <= static
    assert {"library.json", "library.properties", "tflm/tflm_kernels.cmake"} <= generated
    assert files_under(package) == static | generated | {"host_test"}
    for name in generated:
        assert "${" not in (package / name).read_text()


def resolver_methods(package) -> list[str]:
    return re.findall(r"resolver\.(\w+)\(\)", (package / "src" / "op_resolver.cpp").read_text())


def test_op_resolver_adds_exactly_the_model_ops(packages):
    bundle, package, _ = packages["causal9"]
    ops = set(operators(bundle.tflite("int8").read_bytes()))
    assert {"CONV_2D", "FULLY_CONNECTED", "SOFTMAX"} <= ops
    methods = resolver_methods(package)
    assert sorted(methods) == sorted(OP_RESOLVER_METHODS[op] for op in ops)
    assert f"kEdgeharOpCount = {len(ops)};" in (package / "src" / "op_resolver.h").read_text()
    kernels = (package / "tflm" / "tflm_kernels.cmake").read_text().split("EDGEHAR_TFLM_KERNELS ")[1]
    assert set(kernels.rstrip(")\n").split()) == {k for op in ops for k in TFLM_KERNELS[op]}


def test_an_op_tflm_cannot_register_is_an_export_error():
    with pytest.raises(ExportError, match="FlexThing"):
        op_resolver_sources(["CONV_2D", "FlexThing"], "b", "int8")


@pytest.mark.parametrize("name", ["causal9_noise", "uci9", "raw6"])
def test_generated_constants_equal_the_bundle(packages, name):
    bundle, package, _ = packages[name]
    pipeline = bundle.pipeline
    model = bundle.tflite("int8").read_bytes()
    tensors = tensor_info(model)
    params = host_params(package)

    assert params["classes"] == list(bundle.classes)
    assert [int(params["window"][0]), int(params["hop"][0])] == [bundle.window, bundle.hop]
    assert float(params["sample_rate_hz"][0]) == pipeline.sample_rate_hz
    assert [int(i) for i in params["channel_index"]] == pipeline.channel_index.tolist()
    for key in ("input", "output"):
        scale, zero_point = params[f"{key}_quantization"]
        assert np.float32(scale) == np.float32(tensors[key]["scale"])
        assert int(zero_point) == tensors[key]["zero_point"]
    mean = pipeline.mean or (0.0,) * len(pipeline.channels)
    std = pipeline.std or (1.0,) * len(pipeline.channels)
    np.testing.assert_array_equal(np.float32(params["mean"]), np.float32(mean))
    np.testing.assert_array_equal(np.float32(params["std"]), np.float32(std))
    np.testing.assert_array_equal(np.float64(params["gravity_sos"]), pipeline.gravity_sos().ravel())
    noise = pipeline.noise_sos()
    np.testing.assert_array_equal(np.float64(params["noise_sos"]),
                                  np.zeros(0) if noise is None else noise.ravel())
    assert int(params["median_length"][0]) == (pipeline.median_length or 0)

    header = (package / "src" / "edgehar_params.h").read_text()
    measured = int(re.search(r"reference kernels ([\d,]+) B", header).group(1).replace(",", ""))
    arena = int(params["arena_size"][0])
    # Exported without TFLM's sources: CMSIS-NN's need is the reference one plus the allowance.
    assert arena == arena_with_margin(math.ceil(measured * (1 + CMSIS_NN_ALLOWANCE))) and arena % 16 == 0
    assert runs_with_arena(model, arena)
    rows = int(params["ring_rows"][0])
    assert rows & (rows - 1) == 0 and bundle.window + bundle.hop < rows <= 2 * (bundle.window + bundle.hop)
    limits = SampleLimits.of_bundle(bundle)
    acc_g, gyro_rads, bridged = params["sample_limits"]
    assert np.float32(acc_g) == np.float32(limits.acc_g)
    assert np.float32(gyro_rads) == np.float32(limits.bounds()[3])
    assert int(bridged) == 4  # holes up to the stream's --max-gap, 0.1 s at 50 Hz, are bridged


def test_without_tflm_sources_the_arena_covers_every_cmsis_nn_need_measured():
    """The README's plain `export --firmware` (no --tflm-sources) once reserved 20,848 B for
    lstm100, whose CMSIS-NN kernels need 22,016 B: every CMSIS-NN arena measured for a shipped
    model must fit in what an export without the sources reserves."""
    checked = 0
    for path in sorted((REPO / "models").glob("*/export_report.json")):
        arena = json.loads(path.read_text()).get("firmware", {}).get("arena", {})
        reference, cmsis_nn = (arena.get(k, {}) for k in ("reference", "cmsis-nn"))
        if reference.get("bytes") and cmsis_nn.get("bytes") and not cmsis_nn.get("estimated"):
            reserved = arena_with_margin(math.ceil(reference["bytes"] * (1 + CMSIS_NN_ALLOWANCE)))
            assert reserved >= arena_with_margin(cmsis_nn["bytes"]), path
            checked += 1
    assert checked >= 2


def test_bundle_and_model_disagreeing_is_an_export_error(packages, tmp_path):
    bundle, _, _ = packages["raw6"]
    wrong = make_bundle(tmp_path / "wrong", bundle.pipeline, bundle.tflite("int8").read_bytes(),
                        window=64)
    with pytest.raises(ExportError, match=r"\[1, 64, 6\]"):
        write_firmware(wrong, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_folder_that_is_not_a_package_is_never_replaced(packages, tmp_path):
    bundle, package, _ = packages["raw6"]
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ExportError, match="not an edgehar firmware package"):
        write_firmware(bundle, tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_lstm_bundle_exports_with_the_fused_lstm_op(tiny_bundle, uci_dir, tmp_path):
    path = tmp_path / "tiny"
    shutil.copytree(tiny_bundle.path, path)
    bundle = Bundle.load(path)
    export_variants(bundle, load_split(uci_dir, "train").take(slice(0, 100)), variants=("int8",))
    package = write_firmware(Bundle.load(path), tmp_path / "firmware")

    ops = operators(Bundle.load(path).tflite("int8").read_bytes())
    assert "AddUnidirectionalSequenceLSTM" in resolver_methods(package)
    assert sorted(resolver_methods(package)) == sorted({OP_RESOLVER_METHODS[op] for op in ops})
    build_host_test(package)
    params = host_params(package)
    assert params["classes"] == list(ACTIVITIES)
    recorded = Bundle.load(path).metadata["exports"]["int8"]
    for key in ("input", "output"):
        scale, zero_point = params[f"{key}_quantization"]
        assert np.float32(scale) == np.float32(recorded[key]["scale"])
        assert int(zero_point) == recorded[key]["zero_point"]


def test_the_bundle_decoder_goes_into_the_package_and_builds(packages, hapt_raw, tmp_path):
    from edgehar.runtime.hmm_fit import add_decoder

    bundle, plain, _ = packages["causal9"]
    assert "#define EDGEHAR_HMM_FROM_BUNDLE 0" in (plain / "src" / "edgehar_hmm_params.h").read_text()
    shutil.copytree(bundle.path, tmp_path / "bundle")
    package = write_firmware(add_decoder(Bundle.load(tmp_path / "bundle"), hapt_raw), tmp_path / "fw")
    header = (package / "src" / "edgehar_hmm_params.h").read_text()
    assert "#define EDGEHAR_HMM_FROM_BUNDLE 1" in header and "#define EDGEHAR_HMM_STATES 12" in header
    assert '"SIT_TO_LIE"' in (package / "src" / "edgehar_hmm_params.c").read_text()
    subprocess.run(["make", "-C", str(package), "CC=gcc", "check"], check=True, capture_output=True)
    assert (package / "hmm_test").is_file()


@pytest.mark.parametrize("classes", [("active", "static", "LAYING"), (*ACTIVITIES, "STAND_TO_SIT")],
                         ids=["3 merged classes", "7 classes with a transition"])
def test_a_bundle_of_any_class_set_gets_its_class_table_output_size_and_decoder(recordings, classes,
                                                                                 hapt_raw, tmp_path):
    from edgehar.runtime.hmm import HmmDecoder, HmmParams
    from edgehar.runtime.hmm_fit import add_decoder
    from edgehar.runtime.interpreter import TFLiteClassifier

    pipeline = Pipeline.preset("raw6")
    windows = sliding_windows(pipeline.transform(recordings["hapt"]))
    (tmp_path / "bundle").mkdir()
    model = tiny_int8_model(windows, len(classes))
    bundle = make_bundle(tmp_path / "bundle", pipeline, model, classes=classes)
    decoded = "STAND_TO_SIT" in classes  # HAPT's labels name these classes: estimate a decoder
    if decoded:
        bundle = add_decoder(bundle, hapt_raw)
    package = write_firmware(bundle, tmp_path / "fw")
    subprocess.run(["make", "-C", str(package), "CC=gcc", "check"], check=True, capture_output=True)

    params = host_params(package)
    assert params["classes"] == list(classes)
    assert f"#define EDGEHAR_NUM_CLASSES {len(classes)}" in (package / "src" / "edgehar_params.h").read_text()
    assert tensor_info(bundle.tflite("int8").read_bytes())["output"]["shape"] == [1, len(classes)]
    hmm = HmmParams.from_bundle(bundle) if decoded else HmmParams.passthrough(classes, WINDOW, HOP)
    header = (package / "src" / "edgehar_hmm_params.h").read_text()
    assert f"#define EDGEHAR_HMM_FROM_BUNDLE {int(decoded)}" in header
    assert f"#define EDGEHAR_HMM_CLASSES {len(classes)}" in header
    assert f"#define EDGEHAR_HMM_STATES {len(hmm.states)}" in header
    assert len(hmm.states) == (12 if decoded else len(classes))  # + the 5 other transitions

    # The C decoder on the model's real outputs over the HAPT slice equals the Python one.
    probs = TFLiteClassifier(bundle.tflite("int8")).predict(windows)
    text = "".join(" ".join(repr(float(v)) for v in row) + "\n" for row in probs)
    out = subprocess.run([str(package / "hmm_test")], input=text, capture_output=True, text=True,
                         check=True).stdout
    decoder = HmmDecoder(hmm, 0)
    assert [int(line.split()[1]) for line in out.splitlines()] == [decoder.update(p) for p in probs]
