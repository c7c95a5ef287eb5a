"""The schema of a bundle's ``metadata.json`` (``edgehar.bundle/1``), checked on every load.

Types and ranges are checked by pydantic, then the values are checked against each other:
the pipeline's rate and channels against the bundle's, the model's and every exported
variant's input and output shapes against the window, the channels and the classes. Any
failure is one :class:`~edgehar.errors.BundleError` naming the file and the field.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from edgehar.errors import BundleError, excerpt
from edgehar.preprocess.pipeline import Pipeline

SCHEMA = "edgehar.bundle/1"
MAX_METADATA_BYTES = 4 << 20
MAX_WINDOW = 4096
MAX_CLASSES = 256

Int = Annotated[int, Field(strict=True)]
Count = Annotated[int, Field(strict=True, ge=1)]
Finite = Annotated[float, Field(strict=True, allow_inf_nan=False)]
Positive = Annotated[float, Field(strict=True, allow_inf_nan=False, gt=0)]
Text = Annotated[str, StringConstraints(strict=True, min_length=1, max_length=128,
                                        pattern=r"^[^\x00-\x1f\x7f]+$")]
"""Free text shown to users and written into generated sources: one printable line."""
FileName = Annotated[str, StringConstraints(strict=True, max_length=128,
                                            pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")]
"""A plain file name inside the bundle: no folder, no leading dot."""
Sha256 = Annotated[str, StringConstraints(strict=True, pattern=r"^[0-9a-f]{64}$")]


class _Open(BaseModel):
    """Checks the fields it names and keeps the others (recipes, metrics, versions)."""

    model_config = ConfigDict(extra="allow")


class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PipelineFields(_Closed):
    name: Text
    channels: list[Text] = Field(min_length=1, max_length=9)
    train_from: Literal["stream", "dataset"] = "stream"
    sample_rate_hz: Positive = 50.0
    gravity_cutoff_hz: Positive = 0.3
    gravity_order: Annotated[int, Field(strict=True, ge=1, le=12)] = 3
    median_length: Annotated[int, Field(strict=True, ge=3, le=15)] | None = None
    noise_cutoff_hz: Positive | None = None
    noise_order: Annotated[int, Field(strict=True, ge=1, le=12)] = 3
    mean: list[Finite] | None = None
    std: list[Positive] | None = None
    gravity_design: list[list[list[Finite]]] | None = None
    noise_design: list[list[list[Finite]]] | None = None


class TensorFields(_Open):
    dtype: Literal["float32", "float16", "int8", "uint8", "int16"]
    shape: list[Int]
    scale: Annotated[float, Field(strict=True, allow_inf_nan=False, ge=0)]
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
    schema_: Literal["edgehar.bundle/1"] = Field(alias="schema")
    name: Text
    classes: list[Text] = Field(min_length=2, max_length=MAX_CLASSES)
    sample_rate_hz: Annotated[float, Field(strict=True, allow_inf_nan=False, gt=0, le=10_000)]
    window: Annotated[int, Field(strict=True, ge=8, le=MAX_WINDOW)]
    hop: Annotated[int, Field(strict=True, ge=1, le=MAX_WINDOW)]
    pipeline: PipelineFields
    model: ModelFields | None = None
    exports: dict[Annotated[str, StringConstraints(pattern=r"^[a-z0-9]+$")], ExportFields] = {}
    sha256: dict[FileName, Sha256] = {}


def read_metadata(path: Path) -> tuple[dict, Pipeline]:
    """The checked content of the metadata file ``path`` and its pipeline."""
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_METADATA_BYTES + 1)
    except OSError as err:
        raise BundleError(f"{path}: cannot read ({err.strerror})") from None
    if len(raw) > MAX_METADATA_BYTES:
        raise BundleError(f"{path}: larger than {MAX_METADATA_BYTES:,} bytes")
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as err:
        raise BundleError(f"{path}: not UTF-8 text (byte {err.start})") from None
    except json.JSONDecodeError as err:
        raise BundleError(f"{path}: invalid JSON at line {err.lineno}: {err.msg}") from None
    except RecursionError:
        raise BundleError(f"{path}: nested too deeply") from None
    if not isinstance(data, dict):
        raise BundleError(f"{path}: a JSON object is needed, not {type(data).__name__}")
    if data.get("schema") != SCHEMA:
        raise BundleError(f"{path}: field schema: {excerpt(data.get('schema'))} is not {SCHEMA!r}")
    try:
        fields = Metadata.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        found = "" if first["type"] == "missing" else f" (found {excerpt(first.get('input'))})"
        raise BundleError(f"{path}: field {where}: {first['msg']}{found}") from None
    except RecursionError:
        raise BundleError(f"{path}: nested too deeply") from None
    _check_consistency(fields, path)
    try:
        pipeline = Pipeline.from_dict(data["pipeline"])
    except ValueError as err:
        raise BundleError(f"{path}: field pipeline: {err}") from None
    return data, pipeline


def _check_consistency(m: Metadata, path: Path) -> None:
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
    for variant, export in m.exports.items():
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
