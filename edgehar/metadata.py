"""The schema of a bundle's ``metadata.json`` (``edgehar.bundle/1``), checked on every load.

Types and ranges are checked by msgspec (a small C extension: every bundle load, on a Pi too,
pays its import, 2 MB against pydantic's 18 MB), then the values are checked against each
other: the pipeline's rate and channels against the bundle's, the model's and every exported
variant's input and output shapes against the window, the channels and the classes. Any
failure is one :class:`~edgehar.errors.BundleError` naming the file and the field.

Every field that decides a label (:data:`LABEL_FIELDS`: the class order, the pipeline with its
normalization, the window geometry, the sample limits, the smoothing and the decoders, the
class map) is covered by ``labels_sha256``, as the artifacts are by ``sha256``: a bundle whose
label-deciding metadata was changed by hand is refused. :func:`seal` records it; every writer
of metadata.json calls it.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import sys
from pathlib import Path
from typing import Annotated, Literal

import msgspec
from msgspec import Meta, Struct

from edgehar.errors import BundleError, excerpt
from edgehar.files import FileRefused, read_limited
from edgehar.preprocess.pipeline import Pipeline
from edgehar.ranges import ACC_LIMIT_G, EMISSION_WEIGHT, GYRO_LIMIT_DPS, Range

SCHEMA = "edgehar.bundle/1"
MAX_METADATA_BYTES = 4 << 20
MAX_WINDOW = 4096
MAX_CLASSES = 256

# msgspec converts strictly: an int field takes no float or bool, a float field takes ints but
# no bool or string. NaN and infinities fail every float's bounds. Patterns end with \Z: $ would
# also match before a final newline.
BIG = sys.float_info.max
Int = int
Count = Annotated[int, Meta(ge=1)]
Finite = Annotated[float, Meta(ge=-BIG, le=BIG)]
Positive = Annotated[float, Meta(gt=0, le=BIG)]
Text = Annotated[str, Meta(min_length=1, max_length=128, pattern=r"^[^\x00-\x1f\x7f]+\Z")]
"""Free text shown to users and written into generated sources: one printable line."""
FILE_NAME = r"^[A-Za-z0-9_][A-Za-z0-9_.-]*\Z"
FileName = Annotated[str, Meta(max_length=128, pattern=FILE_NAME)]
"""A plain file name inside the bundle: no folder, no leading dot."""
Sha256 = Annotated[str, Meta(pattern=r"^[0-9a-f]{64}\Z")]
VARIANT = r"^[a-z0-9]+\Z"
Std = Annotated[float, Meta(ge=1e-6, le=1e6)]
"""A normalization's std: a channel spread below 1e-6 (or above 1e6) of its unit is no real
IMU channel and would turn rounding noise into the label."""
Mean = Annotated[float, Meta(ge=-1e6, le=1e6)]

LABEL_FIELDS = ("classes", "sample_rate_hz", "window", "hop", "pipeline", "sample_limits", "smoothing",
                "decoder", "duration_decoder", "training.recordings.classes")
"""The metadata fields that decide which label a window gets (dotted: nested)."""


class _Open(Struct, kw_only=True):
    """Checks the fields it names and ignores the others (recipes, metrics, versions)."""


class _Closed(Struct, kw_only=True, forbid_unknown_fields=True):
    pass


def within(allowed: Range):
    """A float field of the numbers ``allowed`` takes (ints read as floats)."""
    low = "gt" if allowed.above else "ge"
    return Annotated[float, Meta(**{low: max(allowed.low, -BIG),
                                    "le": min(allowed.high, BIG)})]


class LimitsFields(_Closed):
    acc_g: within(ACC_LIMIT_G) = 24.0
    gyro_dps: within(GYRO_LIMIT_DPS) = 3000.0


class DecoderFields(_Open):
    """What decides labels in the HMM decoder's parameters (the rest: :mod:`edgehar.runtime.hmm`)."""

    emission_weight: within(EMISSION_WEIGHT) | None = None
    floor: within(Range(0, 1, above=True)) | None = None
    """(Absent: :class:`~edgehar.runtime.hmm.HmmParams` says the decoder is malformed.)"""


class PipelineFields(_Closed):
    name: Text
    channels: Annotated[list[Text], Meta(min_length=1, max_length=9)]
    train_from: Literal["stream", "dataset"] = "stream"
    sample_rate_hz: Positive = 50.0
    gravity_cutoff_hz: Positive = 0.3
    gravity_order: Annotated[int, Meta(ge=1, le=12)] = 3
    median_length: Annotated[int, Meta(ge=3, le=15)] | None = None
    noise_cutoff_hz: Positive | None = None
    noise_order: Annotated[int, Meta(ge=1, le=12)] = 3
    mean: list[Mean] | None = None
    std: list[Std] | None = None
    gravity_design: list[list[list[Finite]]] | None = None
    noise_design: list[list[list[Finite]]] | None = None


class TensorFields(_Open):
    dtype: Literal["float32", "float16", "int8", "uint8", "int16"]
    shape: list[Int]
    scale: Annotated[float, Meta(ge=0, le=BIG)]
    zero_point: Int


class ExportFields(_Open):
    file: FileName
    bytes: Count
    ops: list[Text]
    input: TensorFields
    output: TensorFields


class ModelFields(_Open):
    input_shape: list[Int]


class Metadata(_Open):
    schema: Literal["edgehar.bundle/1"]
    name: Text
    classes: Annotated[list[Text], Meta(min_length=2, max_length=MAX_CLASSES)]
    sample_rate_hz: Annotated[float, Meta(gt=0, le=10_000)]
    window: Annotated[int, Meta(ge=8, le=MAX_WINDOW)]
    hop: Annotated[int, Meta(ge=1, le=MAX_WINDOW)]
    pipeline: PipelineFields
    model: ModelFields | None = None
    exports: dict = {}
    """Variant -> :class:`ExportFields`, checked entry by entry (to name the variant in errors)."""
    sha256: dict = {}
    """File name -> SHA-256, checked entry by entry."""
    labels_sha256: Sha256 | None = None
    smoothing: Text | None = None
    sample_limits: LimitsFields | None = None
    decoder: DecoderFields | None = None
    duration_decoder: DecoderFields | None = None


def read_metadata(path: Path) -> tuple[dict, Pipeline]:
    """The checked content of the metadata file ``path`` and its pipeline."""
    try:
        raw = read_limited(path, MAX_METADATA_BYTES)
    except FileRefused as err:
        raise BundleError(str(err)) from None
    except OSError as err:
        raise BundleError(f"{path}: cannot read ({err.strerror or err})") from None
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as err:
        raise BundleError(f"{path}: not UTF-8 text (byte {err.start})") from None
    except json.JSONDecodeError as err:
        raise BundleError(f"{path}: invalid JSON at line {err.lineno}: {err.msg}") from None
    except RecursionError:
        raise BundleError(f"{path}: nested too deeply") from None
    except ValueError as err:  # an integer of over 4,300 digits
        raise BundleError(f"{path}: invalid JSON ({str(err)[:80]})") from None
    if not isinstance(data, dict):
        raise BundleError(f"{path}: a JSON object is needed, not {type(data).__name__}")
    if data.get("schema") != SCHEMA:
        raise BundleError(f"{path}: field schema: {excerpt(data.get('schema'))} is not {SCHEMA!r}")
    try:
        fields = _convert(data, Metadata, path, ())
        exports = {variant: _convert(export, ExportFields, path, ("exports", variant))
                   for variant, export in _entries(fields.exports, VARIANT, path, "exports")}
        for name, digest in _entries(fields.sha256, FILE_NAME, path, "sha256"):
            _convert(digest, Sha256, path, ("sha256", name))
    except RecursionError:
        raise BundleError(f"{path}: nested too deeply") from None
    _check_consistency(fields, exports, path)
    try:
        pipeline = Pipeline.from_dict(data["pipeline"])
    except ValueError as err:
        raise BundleError(f"{path}: field pipeline: {err}") from None
    if fields.labels_sha256 is None:
        raise BundleError(f"{path}: field labels_sha256: no checksum of the fields that decide labels; "
                          "re-export the bundle, or for a bundle you trust: python tools/record_checksums.py "
                          f"{path.parent}")
    if labels_digest(data) != fields.labels_sha256:
        raise BundleError(f"{path}: field labels_sha256: the fields that decide labels "
                          f"({', '.join(LABEL_FIELDS)}) differ from their recorded checksum: "
                          "modified or damaged")
    return data, pipeline


def labels_digest(data: dict) -> str:
    """The SHA-256 of the :data:`LABEL_FIELDS` of a metadata dict (canonical JSON)."""
    def at(dotted: str):
        value = data
        for part in dotted.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        return value

    text = json.dumps({name: at(name) for name in LABEL_FIELDS}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def seal(data: dict) -> dict:
    """``data`` with ``labels_sha256`` recorded: what every writer of metadata.json stores."""
    return {**data, "labels_sha256": labels_digest(data)}


def _convert(value, kind, path: Path, where: tuple):
    """``value`` checked as ``kind``; else the BundleError naming the field (under ``where``)
    and, where there is one, the value found."""
    try:
        return msgspec.convert(value, kind)
    except msgspec.ValidationError as err:
        message, _, at = str(err).partition(" - at `$")
        parts = [*where, *(a or b for a, b in re.findall(r"\.([^.\[`]+)|\[(\d+)\]", at))]
        if named := re.fullmatch(r"Object (missing required|contains unknown) field `(.*)`", message):
            parts.append(named.group(2))
            message = "missing" if named.group(1) == "missing required" else "not a field of the schema"
        found, missing = _at(value, parts[len(where):])
        if isinstance(found, float) and not math.isfinite(found):
            message = "not a finite number"
        shown = "" if missing else f" (found {excerpt(found)})"
        raise BundleError(f"{path}: field {'.'.join(map(str, parts))}: {message}{shown}") from None


def _at(value, parts: list) -> tuple[object, bool]:
    """The value at ``parts`` inside ``value``, and whether there is none."""
    for part in parts:
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None, True
    return value, False


def _entries(mapping: dict, key_pattern: str, path: Path, field: str):
    """The items of ``mapping``, once every key matches ``key_pattern``."""
    for key in mapping:
        if not re.search(key_pattern, key):
            raise BundleError(f"{path}: field {field}: the name {excerpt(key)} does not match "
                              f"{key_pattern!r}")
    return mapping.items()


def _check_consistency(m: Metadata, exports: dict[str, ExportFields], path: Path) -> None:
    def fail(field: str, message: str):
        raise BundleError(f"{path}: field {field}: {message}")

    channels, classes = len(m.pipeline.channels), len(m.classes)
    if m.hop > m.window:
        fail("hop", f"{m.hop} is larger than the window ({m.window})")
    if len(set(m.classes)) != classes:
        fail("classes", "names repeat")
    if m.pipeline.sample_rate_hz != m.sample_rate_hz:
        fail("pipeline.sample_rate_hz", f"{m.pipeline.sample_rate_hz} differs from the bundle's "
                                        f"sample_rate_hz {m.sample_rate_hz}")
    for key in ("mean", "std"):
        values = getattr(m.pipeline, key)
        if values is not None and len(values) != channels:
            fail(f"pipeline.{key}", f"{len(values)} values for {channels} channels")
    if (m.pipeline.mean is None) != (m.pipeline.std is None):
        fail("pipeline.std" if m.pipeline.std is None else "pipeline.mean",
             "mean and std come together")
    if m.model is not None and m.model.input_shape != [m.window, channels]:
        fail("model.input_shape", f"{m.model.input_shape} is not [window, channels] = "
                                  f"{[m.window, channels]}")
    for variant, export in exports.items():
        if export.file != f"model_{variant}.tflite":
            fail(f"exports.{variant}.file", f"{export.file!r} is not 'model_{variant}.tflite'")
        if export.input.shape != [1, m.window, channels]:
            fail(f"exports.{variant}.input.shape",
                 f"{export.input.shape} is not [1, window, channels] = {[1, m.window, channels]}")
        if export.output.shape != [1, classes]:
            fail(f"exports.{variant}.output.shape",
                 f"{export.output.shape} is not [1, classes] = {[1, classes]}: "
                 f"the model's outputs do not match the {classes} classes")
        for key in ("input", "output"):
            tensor = getattr(export, key)
            if tensor.dtype in ("int8", "uint8", "int16") and tensor.scale <= 0:
                fail(f"exports.{variant}.{key}.scale", f"{tensor.scale} must be > 0 for {tensor.dtype}")
