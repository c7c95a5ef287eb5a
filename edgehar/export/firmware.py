"""The TensorFlow Lite Micro firmware package of a bundle: ``edgehar export BUNDLE --firmware OUT``.

OUT is ``firmware_export/`` filled for one model: its static files (portable C11
preprocessing, the TFLM runner, CMake/ESP-IDF/Zephyr build files, examples, README) plus
files generated from the bundle: the model as a C array, its constants, an op resolver
holding exactly the model's ops, the list of TFLM kernels they need, and the PlatformIO
and Arduino library manifests.

The tensor arena is measured per kernel set: the reference kernels with TFLM's Python
interpreter, the CMSIS-NN kernels (when TFLM's sources are given) with a host build of the
package itself; the package reserves the largest plus ``ARENA_MARGIN``. Without TFLM's
sources the CMSIS-NN need is taken as the reference one plus ``CMSIS_NN_ALLOWANCE``.
The bundle's export_report.json records the package (``firmware``: folder, model checksum,
arenas), so that a later export of the bundle regenerates it.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import shutil
import tempfile
from importlib.metadata import version
from pathlib import Path

from edgehar import atomic
from edgehar.bundle import Bundle
from edgehar.errors import ExportError
from edgehar.export.carrays import FIRMWARE_TEMPLATE, hmm_sources, model_data_sources, params_sources, render
from edgehar.runtime.hmm import HmmDecoder, HmmParams
from edgehar.runtime.limits import SampleLimits
from edgehar.runtime.smoothing import make_smoother

ARENA_MARGIN = 0.10
CMSIS_NN_ALLOWANCE = 0.25
"""Arena the CMSIS-NN kernels may need beyond the reference kernels' when it was not measured:
their scratch buffers took up to 16% more in the shipped models (lstm100: 22,016 B against
18,944 B), 25% leaves room for other models."""
ARENA_ALIGN = 16
MEASURE_ARENA = 1 << 20
"""Arena the CMSIS-NN host build is given to measure what the model uses."""

OP_RESOLVER_METHODS = {
    "ABS": "AddAbs", "ADD": "AddAdd", "ADD_N": "AddAddN", "ARG_MAX": "AddArgMax",
    "ARG_MIN": "AddArgMin", "ASSIGN_VARIABLE": "AddAssignVariable",
    "AVERAGE_POOL_2D": "AddAveragePool2D", "BATCH_MATMUL": "AddBatchMatMul",
    "BATCH_TO_SPACE_ND": "AddBatchToSpaceNd", "BROADCAST_ARGS": "AddBroadcastArgs",
    "BROADCAST_TO": "AddBroadcastTo", "CALL_ONCE": "AddCallOnce", "CAST": "AddCast",
    "CEIL": "AddCeil", "CONCATENATION": "AddConcatenation", "CONV_2D": "AddConv2D",
    "COS": "AddCos", "CUMSUM": "AddCumSum", "DEPTH_TO_SPACE": "AddDepthToSpace",
    "DEPTHWISE_CONV_2D": "AddDepthwiseConv2D", "DEQUANTIZE": "AddDequantize", "DIV": "AddDiv",
    "ELU": "AddElu", "EMBEDDING_LOOKUP": "AddEmbeddingLookup", "EQUAL": "AddEqual",
    "EXP": "AddExp", "EXPAND_DIMS": "AddExpandDims", "FILL": "AddFill", "FLOOR": "AddFloor",
    "FLOOR_DIV": "AddFloorDiv", "FLOOR_MOD": "AddFloorMod",
    "FULLY_CONNECTED": "AddFullyConnected", "GATHER": "AddGather", "GATHER_ND": "AddGatherNd",
    "GREATER": "AddGreater", "GREATER_EQUAL": "AddGreaterEqual", "HARD_SWISH": "AddHardSwish",
    "IF": "AddIf", "L2_NORMALIZATION": "AddL2Normalization", "L2_POOL_2D": "AddL2Pool2D",
    "LEAKY_RELU": "AddLeakyRelu", "LESS": "AddLess", "LESS_EQUAL": "AddLessEqual",
    "LOG": "AddLog", "LOGICAL_AND": "AddLogicalAnd", "LOGICAL_NOT": "AddLogicalNot",
    "LOGICAL_OR": "AddLogicalOr", "LOGISTIC": "AddLogistic", "LOG_SOFTMAX": "AddLogSoftmax",
    "MAXIMUM": "AddMaximum", "MAX_POOL_2D": "AddMaxPool2D", "MEAN": "AddMean",
    "MINIMUM": "AddMinimum", "MIRROR_PAD": "AddMirrorPad", "MUL": "AddMul", "NEG": "AddNeg",
    "NOT_EQUAL": "AddNotEqual", "PACK": "AddPack", "PAD": "AddPad", "PADV2": "AddPadV2",
    "PRELU": "AddPrelu", "QUANTIZE": "AddQuantize", "READ_VARIABLE": "AddReadVariable",
    "REDUCE_MAX": "AddReduceMax", "REDUCE_MIN": "AddReduceMin", "RELU": "AddRelu",
    "RELU6": "AddRelu6", "RESHAPE": "AddReshape", "RESIZE_BILINEAR": "AddResizeBilinear",
    "RESIZE_NEAREST_NEIGHBOR": "AddResizeNearestNeighbor", "REVERSE_V2": "AddReverseV2",
    "ROUND": "AddRound", "RSQRT": "AddRsqrt", "SELECT_V2": "AddSelectV2", "SHAPE": "AddShape",
    "SIN": "AddSin", "SLICE": "AddSlice", "SOFTMAX": "AddSoftmax",
    "SPACE_TO_BATCH_ND": "AddSpaceToBatchNd", "SPACE_TO_DEPTH": "AddSpaceToDepth",
    "SPLIT": "AddSplit", "SPLIT_V": "AddSplitV", "SQRT": "AddSqrt", "SQUARE": "AddSquare",
    "SQUARED_DIFFERENCE": "AddSquaredDifference", "SQUEEZE": "AddSqueeze",
    "STRIDED_SLICE": "AddStridedSlice", "SUB": "AddSub", "SUM": "AddSum", "SVDF": "AddSvdf",
    "TANH": "AddTanh", "TRANSPOSE": "AddTranspose", "TRANSPOSE_CONV": "AddTransposeConv",
    "UNIDIRECTIONAL_SEQUENCE_LSTM": "AddUnidirectionalSequenceLSTM", "UNPACK": "AddUnpack",
    "VAR_HANDLE": "AddVarHandle", "WHILE": "AddWhile", "ZEROS_LIKE": "AddZerosLike",
}
"""TFLite builtin op -> the ``tflite::MicroMutableOpResolver`` method that registers it."""

TFLM_KERNELS = {
    "CONV_2D": ("conv", "conv_common"),
    "DEPTHWISE_CONV_2D": ("depthwise_conv", "depthwise_conv_common"),
    "FULLY_CONNECTED": ("fully_connected", "fully_connected_common"),
    "MAX_POOL_2D": ("pooling", "pooling_common"),
    "AVERAGE_POOL_2D": ("pooling", "pooling_common"),
    "MEAN": ("reduce", "reduce_common"),
    "RESHAPE": ("reshape", "reshape_common"),
    "SOFTMAX": ("softmax", "softmax_common"),
    "STRIDED_SLICE": ("strided_slice", "strided_slice_common"),
    "UNIDIRECTIONAL_SEQUENCE_LSTM": ("unidirectional_sequence_lstm", "lstm_eval", "lstm_eval_common"),
    "EXPAND_DIMS": ("expand_dims",),
    "SQUEEZE": ("squeeze",),
    "CONCATENATION": ("concatenation",),
    "ADD": ("add", "add_common"),
    "MUL": ("mul", "mul_common"),
    "LOGISTIC": ("logistic", "logistic_common"),
    "TANH": ("tanh",),
    "RELU": ("activations", "activations_common"),
    "QUANTIZE": ("quantize", "quantize_common"),
    "DEQUANTIZE": ("dequantize", "dequantize_common"),
}
"""TFLite builtin op -> its TFLM kernel sources (``tensorflow/lite/micro/kernels/<name>.cc``);
a model with an op not listed here builds every kernel."""


def distinct_ops(ops: list[str]) -> list[str]:
    """Each op once, in order of first use; ExportError for an op TFLM cannot register."""
    distinct = list(dict.fromkeys(ops))
    unknown = [op for op in distinct if op not in OP_RESOLVER_METHODS]
    if unknown:
        raise ExportError(f"TensorFlow Lite Micro has no kernel edgehar can register for {unknown}")
    return distinct


def op_resolver_sources(ops: list[str], bundle_name: str, variant: str) -> dict[str, str]:
    """``op_resolver.h``/``.cc``: ``edgehar_register_ops`` adding exactly ``ops`` (distinct)."""
    ops = distinct_ops(ops)
    calls = "\n".join(f"  if (resolver.{OP_RESOLVER_METHODS[op]}() != kTfLiteOk) {{\n"
                      f"    return kTfLiteError;\n  }}" for op in ops)
    values = dict(bundle_name=bundle_name, variant=variant)
    return {"src/op_resolver.h": render("src/op_resolver.h", op_count=len(ops), op_list=" ".join(ops),
                                        **values),
            "src/op_resolver.cpp": render("src/op_resolver.cpp", add_calls=calls, **values)}


def tflm_kernel_sources(ops: list[str], bundle_name: str, variant: str) -> dict[str, str]:
    """``tflm/tflm_kernels.cmake``: the TFLM kernel sources of ``ops`` (or ALL)."""
    ops = distinct_ops(ops)
    if all(op in TFLM_KERNELS for op in ops):
        kernels = " ".join(dict.fromkeys(k for op in ops for k in TFLM_KERNELS[op]))
    else:
        kernels = "ALL"
    return {"tflm/tflm_kernels.cmake": render("tflm/tflm_kernels.cmake", bundle_name=bundle_name,
                                              variant=variant, op_list=" ".join(ops), kernels=kernels)}


def arena_with_margin(measured: int) -> int:
    """``measured`` plus ``ARENA_MARGIN``, rounded up to a multiple of ``ARENA_ALIGN``."""
    return math.ceil(measured * (1 + ARENA_MARGIN) / ARENA_ALIGN) * ARENA_ALIGN


def _check_tensors(bundle: Bundle, tensors: dict, variant: str) -> None:
    if tensors["input"]["dtype"] != "int8" or tensors["output"]["dtype"] != "int8":
        raise ExportError(f"{bundle.path}: model_{variant}.tflite has {tensors['input']['dtype']} input "
                          f"and {tensors['output']['dtype']} output; the firmware needs the "
                          "full-integer variant (int8)")
    want_in = [1, bundle.window, len(bundle.pipeline.channels)]
    want_out = [1, len(bundle.classes)]
    if tensors["input"]["shape"] != want_in or tensors["output"]["shape"] != want_out:
        raise ExportError(f"{bundle.path}: model_{variant}.tflite maps {tensors['input']['shape']} -> "
                          f"{tensors['output']['shape']}, the bundle says {want_in} -> {want_out}")


def _check_out_dir(out_dir: Path) -> None:
    """Refuse to replace a folder that holds something other than an earlier package."""
    if out_dir.exists() and any(out_dir.iterdir()) and not (out_dir / "src" / "edgehar_params.h").is_file() \
            and not (out_dir / "edgehar_params.h").is_file():
        raise ExportError(f"{out_dir} exists and is not an edgehar firmware package; "
                          "choose a new or empty folder")


def _hmm_sources(bundle: Bundle) -> dict[str, str]:
    """The decoder of the bundle's default smoothing in C (hmm or hsmm, with its emission weight and
    its lag, so that the device decodes as `edgehar stream` does out of the box), else the bundle's
    HMM decoder at lag 0, or a pass-through one if it has none."""
    smoother = make_smoother(bundle.smoothing, bundle)
    if isinstance(smoother, HmmDecoder):
        return hmm_sources(smoother.params, True, bundle.name, smoother.lag,
                           f"the bundle's default smoothing, {smoother.spec}")
    if "decoder" in bundle.metadata:
        return hmm_sources(HmmParams.from_bundle(bundle), True, bundle.name, 0,
                           f"lag 0: the bundle's default smoothing, {bundle.smoothing}, is not its decoder")
    passthrough = HmmParams.passthrough(bundle.classes, bundle.window, bundle.hop)
    return hmm_sources(passthrough, False, bundle.name)


def _manifest_name(name: str, allowed: str, max_length: int) -> str:
    """``edgehar-NAME`` with every character outside ``allowed`` (a regex class) made a dash,
    no dashes doubled or at the ends, at most ``max_length`` characters."""
    slug = re.sub(r"-{2,}", "-", re.sub(f"[^{allowed}]", "-", name)).strip("-")
    return f"edgehar-{slug or 'model'}"[:max_length].rstrip("-")


def one_line(text: str) -> str:
    """``text`` without line breaks or control characters (each one a space)."""
    return "".join(c if c.isprintable() else " " for c in text)


def manifest_sources(bundle_name: str, version: str) -> dict[str, str]:
    """``library.json`` (PlatformIO: name a-z, digits, dashes, <= 50) written by a JSON encoder,
    and ``library.properties`` (Arduino: one ``key=value`` per line, the name of letters,
    digits, space, ``_.-``, <= 63): no bundle name can add a field to either."""
    description = ("Human activity recognition from a 6-axis IMU on TensorFlow Lite Micro: "
                   f"edgehar model {bundle_name}")
    library_json = {
        "name": _manifest_name(bundle_name.lower(), "a-z0-9", 50),
        "version": version,
        "description": description[:255],
        "keywords": "tflite-micro, imu, activity-recognition, har",
        "license": "Apache-2.0",
        "frameworks": "*",
        "platforms": "*",
        "build": {"srcDir": "src", "includeDir": "src",
                  "flags": ["-DTF_LITE_STATIC_MEMORY", "-DEDGEHAR_NO_MAIN", "-ffp-contract=off"]},
        "export": {"exclude": ["host_test.c", "hmm_test.c", "intake_test.c", "Makefile", "tflm", "zephyr",
                               "examples/host"]},
    }
    properties = render("library.properties", library_name=_manifest_name(bundle_name, "A-Za-z0-9_.", 63),
                        version=version, sentence=one_line(description))
    return {"library.json": json.dumps(library_json, indent=2, ensure_ascii=False) + "\n",
            "library.properties": properties}


def ring_rows(window: int, hop: int) -> int:
    """Rows of the firmware's input ring: the smallest power of two > window + hop (a window
    stays intact for rows - window - 1 >= hop samples, with intake on another core)."""
    return 1 << (window + hop).bit_length()


def _static_files(tmp: Path) -> None:
    shutil.copytree(FIRMWARE_TEMPLATE, tmp, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("templates", "__init__.py", "__pycache__"))


def _arenas(model: bytes, package: Path, sources) -> dict[str, dict]:
    """Arena bytes per kernel set, measured; CMSIS-NN only with ``sources``, else estimated."""
    from edgehar.export.tflm import measure_arena
    from edgehar.export.tflm_build import HostBuilder, host_arena_used

    reference = measure_arena(model)
    arenas = {"reference": {"bytes": reference,
                            "measured_with": "TFLM's Python interpreter (reference kernels, x86-64)"}}
    if sources is None:
        arenas["cmsis-nn"] = {"bytes": math.ceil(reference * (1 + CMSIS_NN_ALLOWANCE)), "estimated": True,
                              "measured_with": f"not measured (export without TFLM sources): the reference "
                                               f"kernels' plus {CMSIS_NN_ALLOWANCE:.0%}"}
        return arenas
    with tempfile.TemporaryDirectory(prefix="edgehar-arena-") as work:
        host, _ = HostBuilder(sources, Path(work) / "cache").build_host(
            package, "cmsis-nn", Path(work) / "build", arena_size=MEASURE_ARENA)
        arenas["cmsis-nn"] = {"bytes": host_arena_used(host),
                              "measured_with": "a host build of this package with CMSIS-NN's portable C "
                                               "kernels (x86-64)"}
    return arenas


def arena_description(arenas: dict[str, dict]) -> str:
    """One line for edgehar_params.h: what was measured and the margin."""
    measured = ", ".join(f"{name} kernels {row['bytes']:,} B" for name, row in arenas.items()
                         if not row.get("estimated"))
    estimated = "".join(f"; {name} not measured, taken as {row['bytes']:,} B (reference + "
                        f"{CMSIS_NN_ALLOWANCE:.0%})" for name, row in arenas.items() if row.get("estimated"))
    return (f"the largest arena on x86-64 ({measured}{estimated}) plus {ARENA_MARGIN:.0%}, "
            f"rounded up to {ARENA_ALIGN} bytes")


def _report(bundle: Bundle) -> dict | None:
    from edgehar.export.report import REPORT_FILE

    path = bundle.path / REPORT_FILE
    return json.loads(path.read_text()) if path.is_file() else None


def record_firmware(bundle: Bundle, firmware: dict) -> None:
    """Add ``firmware`` to the bundle's export_report.json, if it has one. A section about
    another int8 model (``model_sha256``) is replaced whole: its figures no longer hold."""
    from edgehar.export.report import REPORT_FILE

    report = _report(bundle)
    if report is not None:
        old = report.get("firmware", {})
        sha = firmware.get("model_sha256")
        if sha is not None and old.get("model_sha256", sha) != sha:  # a section without one: unknown
            old = {}
        report["firmware"] = {**old, **firmware}
        atomic.write_json(bundle.path / REPORT_FILE, report)


def recorded_firmware(bundle: Bundle) -> Path | None:
    """The package an earlier export of ``bundle`` wrote, if it is still there."""
    folder = ((_report(bundle) or {}).get("firmware") or {}).get("folder")
    if not isinstance(folder, str):
        return None
    path = bundle.path / folder  # an absolute folder stays itself
    return path if (path / "src" / "edgehar_params.h").is_file() else None


def _folder_record(bundle: Bundle, out_dir: Path) -> str:
    """``out_dir`` relative to the bundle when inside it (it moves with the bundle), else absolute."""
    try:
        return out_dir.resolve().relative_to(bundle.path.resolve()).as_posix()
    except ValueError:
        return str(out_dir.resolve())


def write_firmware(bundle: Bundle, out_dir: Path | str, variant: str = "int8", tflm_sources=None,
                   record_as: str | None = None) -> Path:
    """Write the firmware package of ``bundle``'s ``variant`` to ``out_dir``.

    ``out_dir`` must be new, empty or an earlier package; it is replaced whole, atomically.
    ``tflm_sources`` (a ``tflm_build.TflmSources``) also measures the CMSIS-NN arena.
    The folder (``record_as``, default ``out_dir`` relative to the bundle when inside it, else
    absolute), the model's checksum, the arenas and the size reserved are recorded in the
    bundle's export_report.json.
    """
    from edgehar.export.convert import operators, tensor_info

    out_dir = Path(out_dir)
    _check_out_dir(out_dir)
    if not FIRMWARE_TEMPLATE.is_dir():
        raise ExportError(f"the firmware template {FIRMWARE_TEMPLATE} is missing; "
                          "export from a source checkout of edgehar")
    model = bundle.tflite(variant).read_bytes()
    tensors = tensor_info(model)
    _check_tensors(bundle, tensors, variant)
    ops = operators(model)
    values = dict(bundle_name=bundle.name, variant=variant, version=version("edgehar"))
    sources = {
        **model_data_sources(model, bundle.name, variant),
        **op_resolver_sources(ops, bundle.name, variant),
        **tflm_kernel_sources(ops, bundle.name, variant),
        **manifest_sources(bundle.name, values["version"]),
        **_hmm_sources(bundle),
    }

    def params(arenas: dict[str, dict], arena_size: int) -> dict[str, str]:
        return params_sources(bundle.pipeline, bundle.classes, bundle.window, bundle.hop, tensors,
                              arena_description(arenas), arena_size, ring_rows(bundle.window, bundle.hop),
                              bundle.name, variant, SampleLimits.of_bundle(bundle))

    with atomic.folder(out_dir) as tmp:
        _static_files(tmp)
        provisional = {"reference": {"bytes": MEASURE_ARENA}}
        for name, text in {**sources, **params(provisional, MEASURE_ARENA)}.items():
            (tmp / name).write_text(text)
        arenas = _arenas(model, tmp, tflm_sources)
        arena_size = arena_with_margin(max(row["bytes"] for row in arenas.values()))
        for name, text in params(arenas, arena_size).items():
            (tmp / name).write_text(text)
    record_firmware(bundle, {"folder": record_as or _folder_record(bundle, out_dir),
                             "model_sha256": hashlib.sha256(model).hexdigest(), "arena": arenas,
                             "arena_margin": ARENA_MARGIN, "arena_size": arena_size})
    return out_dir
