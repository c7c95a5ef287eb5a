"""Convert a bundle's Keras model into the four TFLite variants the devices run.

Every variant has a fixed input (1, window, channels). Keras 3 recurrent layers never
convert to TFLite's fused ``UNIDIRECTIONAL_SEQUENCE_LSTM`` op (they become a ``WHILE`` loop
whose int8 conversion crashes), so the model is first rebuilt layer by layer in ``tf_keras``
with batch size 1 and the trained weights copied over; that graph converts to fused ops.
"""

from __future__ import annotations

import inspect
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np

from edgehar import atomic, tflog
from edgehar.bundle import TFLITE_VARIANTS, Bundle
from edgehar.data.dataset import HarWindows
from edgehar.data.recordings import RecordingWindows, concat_windows, hapt_windows
from edgehar.errors import ExportError
from edgehar.preprocess.prepare import channel_windows, model_inputs

VARIANTS = TFLITE_VARIANTS
REPRESENTATIVE_WINDOWS = 500
CALIBRATION_SEED = 0
FUSED_LSTM = "UNIDIRECTIONAL_SEQUENCE_LSTM"
FORBIDDEN_OPS = ("WHILE",)
"""Ops no target here runs well: a loop means the recurrent layer was not fused."""
_UNUSED_CONFIG = ("_initializer", "_regularizer", "_constraint")
"""Layer options that only matter for training; the trained weights replace them."""


def _builtin_names() -> dict[int, str]:
    from ai_edge_litert import schema_py_generated as schema

    return {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}


def operators(model_bytes: bytes) -> list[str]:
    """Names of the ops of a .tflite model in execution order (custom ops by their code)."""
    from ai_edge_litert import schema_py_generated as schema

    names = _builtin_names()
    model = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(model_bytes, 0))
    ops = []
    for subgraph in model.subgraphs:
        for op in subgraph.operators or []:
            code = model.operatorCodes[op.opcodeIndex]
            if code.customCode:
                ops.append(code.customCode.decode())
            else:
                ops.append(names[max(code.builtinCode, code.deprecatedBuiltinCode)])
    return ops


def check_operators(ops: list[str], recurrent: bool, what: str) -> None:
    """Raise ExportError naming the first op a device cannot run: a loop, Flex or custom op."""
    builtins = set(_builtin_names().values())
    for op in ops:
        if op in FORBIDDEN_OPS or op not in builtins:
            raise ExportError(f"{what}: the graph contains {op}, which the devices do not run; "
                              "recurrent layers must convert to fused ops")
    if recurrent and FUSED_LSTM not in ops:
        raise ExportError(f"{what}: the LSTM was unrolled (no {FUSED_LSTM} op in {sorted(set(ops))})")


def is_recurrent(model) -> bool:
    return any(type(layer).__name__ == "LSTM" for layer in model.layers)


def _tf_keras_layer(layer):
    """The tf_keras twin of a Keras 3 layer, built from its config (weights not yet set)."""
    import tf_keras

    name = type(layer).__name__
    cls = getattr(tf_keras.layers, name, None)
    if cls is None:
        raise ExportError(f"layer {layer.name}: {name} has no tf_keras equivalent to convert from")
    config = layer.get_config()
    accepted = {"name", "trainable", "dtype"}.union(
        *(inspect.signature(c.__init__).parameters for c in cls.__mro__ if "__init__" in vars(c)))
    unknown = {k: v for k, v in config.items() if k not in accepted and v not in (None, False)}
    if unknown:
        raise ExportError(f"layer {layer.name}: tf_keras {name} lacks the options {unknown}")
    kwargs = {k: v for k, v in config.items() if k in accepted and not k.endswith(_UNUSED_CONFIG)}
    if isinstance(kwargs.get("dtype"), dict):
        kwargs["dtype"] = kwargs["dtype"]["config"]["name"]
    return cls(**kwargs)


def rebuild_batch1(model):
    """A tf_keras copy of a Keras 3 Sequential or functional model, input batch fixed at 1.

    Each layer is re-created from its config and given the trained weights; the copy is
    checked to compute the same outputs.
    """
    import keras
    import tf_keras

    # The layer graph: a Sequential keeps it in a functional model of its own.
    graph = model._functional if isinstance(model, keras.Sequential) else model
    twins = {}
    tensors = {}
    inputs = []
    for tensor in graph.inputs:
        twin_input = tf_keras.Input(batch_shape=(1, *tensor.shape[1:]), dtype=tensor.dtype)
        tensors[id(tensor)] = twin_input
        inputs.append(twin_input)
    for depth in sorted(graph._nodes_by_depth, reverse=True):
        for node in graph._nodes_by_depth[depth]:
            layer = node.operation
            if type(layer).__name__ == "InputLayer":
                continue
            if layer not in twins:
                twins[layer] = _tf_keras_layer(layer)
            args = [tensors[id(t)] for t in node.input_tensors]
            out = twins[layer](args if len(args) > 1 else args[0])
            for k3, tk in zip(node.outputs, out if isinstance(out, list) else [out], strict=True):
                tensors[id(k3)] = tk
    outputs = [tensors[id(t)] for t in graph.outputs]
    twin = tf_keras.Model(inputs, outputs if len(outputs) > 1 else outputs[0], name=model.name)
    for layer, twin_layer in twins.items():
        twin_layer.set_weights(layer.get_weights())
    probe = np.random.default_rng(0).normal(size=(1, *model.input_shape[1:])).astype(np.float32)
    diff = float(np.abs(np.asarray(model(probe)) - twin(probe).numpy()).max())
    if diff > 1e-4:
        raise ExportError(f"{model.name}: the tf_keras rebuild differs from the model by {diff:.2g}")
    return twin


def convert(twin, variant: str, representative: np.ndarray | None = None,
            per_channel: bool = True) -> bytes:
    """One variant of a batch-1 tf_keras model as .tflite bytes.

    ``int8`` is full-integer (int8 input and output) calibrated on ``representative``
    windows (N, window, channels), with one scale per output channel of each weight, or,
    with ``per_channel=False``, one per tensor: a small model's per-channel scales and zero
    points can be a third of its file.
    """
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(twin)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if variant != "float32":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if variant == "float16":
        converter.target_spec.supported_types = [tf.float16]
    elif variant == "int8":
        if representative is None or not len(representative):
            raise ExportError("int8 export needs representative training windows")
        converter.representative_dataset = lambda: ([w[None]] for w in representative)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
        converter._experimental_disable_per_channel = not per_channel
    elif variant not in VARIANTS:
        raise ExportError(f"unknown variant {variant!r}; choose from {VARIANTS}")
    try:
        with warnings.catch_warnings():
            # Raised for every int8 input tensor, although calibration sets its range.
            warnings.filterwarnings("ignore", "Statistics for quantized inputs were expected")
            with tflog.quiet():
                converted = converter.convert()
    except Exception as err:  # the converter raises many types, all meaning "cannot convert"
        raise ExportError(f"{twin.name}: {variant} conversion failed: {err}") from err
    return strip_names(converted)


def strip_names(model_bytes: bytes) -> bytes:
    """Drop tensor and subgraph names and signatures, which no edgehar runner reads.

    They are a fifth of a small model's file, and flash is what a microcontroller lacks.
    """
    from ai_edge_litert.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(model_bytes))
    flatbuffer_utils.strip_strings(model)
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def tensor_info(model_bytes: bytes) -> dict:
    """Input/output dtype, shape, scale and zero point of a .tflite model, read by LiteRT."""
    from edgehar.runtime.interpreter import TFLiteClassifier

    interpreter = TFLiteClassifier(model_bytes).interpreter

    def describe(detail):
        scale, zero_point = detail["quantization"]
        return {"dtype": np.dtype(detail["dtype"]).name, "shape": [int(d) for d in detail["shape"]],
                "scale": float(scale), "zero_point": int(zero_point)}

    return {"input": describe(interpreter.get_input_details()[0]),
            "output": describe(interpreter.get_output_details()[0])}


def representative_windows(bundle: Bundle, train: HarWindows, n: int = REPRESENTATIVE_WINDOWS,
                           seed: int = CALIBRATION_SEED) -> np.ndarray:
    """``n`` training windows (fixed seed) as model inputs, to calibrate int8."""
    rows = np.sort(np.random.default_rng(seed).choice(len(train), min(n, len(train)), replace=False))
    return model_inputs(train.take(rows), bundle.pipeline)


def trained_hapt_folder(bundle: Bundle) -> tuple[str, Path | None]:
    """The HAPT ``RawData`` folder the bundle was trained on, as ``training.data_source`` records
    it, and where that folder is on this machine (None: not here). A relative path (bundles made
    before it was recorded absolute) is looked for from the folders holding the bundle, nearest
    first, never from the current folder. ``("", None)`` for a bundle trained on other data."""
    recorded = str(bundle.metadata.get("training", {}).get("data_source") or "")
    if not recorded or bundle.metadata["training"].get("recordings"):
        return "", None
    path = Path(recorded)
    places = [path] if path.is_absolute() else [base / path for base in bundle.location.resolve().parents]
    found = next((p.resolve() for p in places if (p / "labels.txt").is_file()), None)
    if found is None and path.name != "RawData":
        return "", None
    return recorded, found


def calibration_windows(bundle: Bundle, uci_train: HarWindows):
    """What int8 is calibrated on: the bundle's own training recordings when it was trained on a
    HAPT ``RawData`` folder that is on this machine (see :func:`trained_hapt_folder`), else the
    UCI HAR training split."""
    _, folder = trained_hapt_folder(bundle)
    if folder is not None:
        raw = replace(bundle.pipeline, mean=None, std=None)
        return hapt_windows(folder, raw)
    return uci_train


def with_new_wearer(bundle: Bundle, base, new: RecordingWindows, n: int = REPRESENTATIVE_WINDOWS,
                    seed: int = CALIBRATION_SEED) -> RecordingWindows:
    """Calibration windows for a fine-tuned bundle: up to half of ``n`` from the new wearer's
    recordings ``new`` (their mounting turns what the first layer sees), the rest from the
    base's calibration windows ``base`` (the classes the new data may lack)."""
    if isinstance(base, HarWindows):
        base = channel_windows(base, bundle.pipeline)
    rng = np.random.default_rng(seed)
    k_new = min(len(new), n // 2)
    k_base = min(len(base), n - k_new)
    parts = [base.take(np.sort(rng.choice(len(base), k_base, replace=False))),
             new.take(np.sort(rng.choice(len(new), k_new, replace=False)))]
    return replace(concat_windows(parts), source=f"{base.source} + {new.source}")


def recorded_per_channel(bundle: Bundle) -> bool:
    """Whether the bundle's int8 model was exported per channel (the default) or per tensor."""
    return bool(bundle.metadata.get("exports", {}).get("int8", {}).get("per_channel", True))


def export_variants(bundle: Bundle, train: HarWindows, variants=VARIANTS, per_channel: bool | None = None,
                    progress=None) -> dict[str, Path]:
    """Write ``model_<variant>.tflite`` for each variant and record them in metadata.json.

    ``metadata['exports'][variant]`` holds the file, its bytes, op list and the input/output
    quantization, and for int8 its calibration and ``per_channel``, which a re-export reuses
    when ``per_channel`` is None; ``metadata['pipeline']`` gets its filter designs stored, so
    that streaming the bundle never needs scipy. ``progress(done, total)`` is called as
    variants are written. Raises ExportError if a graph holds an op the devices cannot run.
    """
    with tflog.quiet():
        import keras

    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise ExportError(f"unknown variants {unknown}; choose from {VARIANTS}")
    model = keras.models.load_model(bundle.file("model.keras"), compile=False)
    expected = (bundle.window, len(bundle.pipeline.channels))
    if tuple(model.input_shape[1:]) != expected:
        raise ExportError(f"{bundle.location}: model input {model.input_shape[1:]} is not {expected}")
    if per_channel is None:
        per_channel = recorded_per_channel(bundle)
    twin = rebuild_batch1(model)
    representative = representative_windows(bundle, train) if "int8" in variants else None
    exports = dict(bundle.metadata.get("exports", {}))
    paths = {}
    for done, variant in enumerate(variants):
        if progress:
            progress(done, len(variants))
        data = convert(twin, variant, representative, per_channel)
        ops = operators(data)
        check_operators(ops, is_recurrent(model), f"{bundle.location} {variant}")
        path = bundle.path / f"model_{variant}.tflite"
        atomic.write_bytes(path, data)
        exports[variant] = {"file": path.name, "bytes": len(data), "ops": ops, **tensor_info(data)}
        if variant == "int8":
            exports[variant]["calibration"] = {"windows": len(representative), "seed": CALIBRATION_SEED,
                                               "data": train.source}
            exports[variant]["per_channel"] = per_channel
        paths[variant] = path
    bundle.record([path.name for path in paths.values()], exports=exports,
                  pipeline=bundle.pipeline.with_design().to_dict())
    return paths
