"""The TensorFlow Lite Micro firmware package of a bundle: ``edgehar export BUNDLE --firmware OUT``.

OUT is ``firmware_export/`` filled for one model: its static sources (portable C11
preprocessing, the main loop, a host Makefile, the README) plus sources generated from
the bundle: the model as a C array, its constants, and an op resolver holding exactly the
model's ops.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path

from edgehar import atomic
from edgehar.bundle import Bundle
from edgehar.errors import ExportError
from edgehar.export.carrays import FIRMWARE_TEMPLATE, hmm_sources, model_data_sources, params_sources, render
from edgehar.runtime.hmm import HmmParams

STATIC_FILES = ("README.md", "Makefile", "edgehar_dsp.h", "edgehar_dsp.c", "main.cc", "host_test.c",
                "edgehar_hmm.h", "edgehar_hmm.c", "hmm_test.c")
ARENA_MARGIN = 0.10
ARENA_ALIGN = 16

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
    return {"op_resolver.h": render("op_resolver.h", op_count=len(ops), op_list=" ".join(ops), **values),
            "op_resolver.cc": render("op_resolver.cc", add_calls=calls, **values)}


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
    if out_dir.exists() and any(out_dir.iterdir()) and not (out_dir / "edgehar_params.h").is_file():
        raise ExportError(f"{out_dir} exists and is not an edgehar firmware package; "
                          "choose a new or empty folder")


def _hmm_sources(bundle: Bundle) -> dict[str, str]:
    """The bundle's decoder in C, or a pass-through one if it has none."""
    if "decoder" in bundle.metadata:
        return hmm_sources(HmmParams.from_bundle(bundle), True, bundle.name)
    return hmm_sources(HmmParams.passthrough(bundle.classes, bundle.window, bundle.hop), False, bundle.name)


def write_firmware(bundle: Bundle, out_dir: Path | str, variant: str = "int8") -> Path:
    """Write the firmware package of ``bundle``'s ``variant`` to ``out_dir``.

    ``out_dir`` must be new, empty or an earlier package; it is replaced whole, atomically.
    """
    from edgehar.export.convert import operators, tensor_info
    from edgehar.export.tflm import measure_arena

    out_dir = Path(out_dir)
    _check_out_dir(out_dir)
    if not FIRMWARE_TEMPLATE.is_dir():
        raise ExportError(f"the firmware template {FIRMWARE_TEMPLATE} is missing; "
                          "export from a source checkout of edgehar")
    model = bundle.tflite(variant).read_bytes()
    tensors = tensor_info(model)
    _check_tensors(bundle, tensors, variant)
    resolver = op_resolver_sources(operators(model), bundle.name, variant)
    measured = measure_arena(model)
    sources = {
        **model_data_sources(model, bundle.name, variant),
        **params_sources(bundle.pipeline, bundle.classes, bundle.window, bundle.hop, tensors,
                         measured, arena_with_margin(measured), bundle.name, variant),
        **resolver,
        **_hmm_sources(bundle),
    }
    with atomic.folder(out_dir) as tmp:
        for name in STATIC_FILES:
            shutil.copyfile(FIRMWARE_TEMPLATE / name, tmp / name)
        for name, text in sources.items():
            (tmp / name).write_text(text)
    return out_dir
