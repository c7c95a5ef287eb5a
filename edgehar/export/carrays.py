"""C sources for the firmware package: the model as a byte array and the bundle's constants.

Every file is rendered from a template in ``firmware_export/templates/`` (``<name>.in``,
``string.Template`` syntax); this module only computes the values that fill them. Text from
a bundle never reaches C unescaped: names in comments go through :func:`c_comment`, labels
through :func:`c_string`, so no bundle can inject a line of code.
Floating-point constants are written so that C reads back exactly the value Python uses:
doubles with ``repr`` (shortest round trip), floats as float32 with an ``f`` suffix.
"""

from __future__ import annotations

import importlib.util
import inspect
from pathlib import Path
from string import Template

import numpy as np

from edgehar.preprocess.pipeline import Pipeline
from edgehar.runtime.hmm import KINDS, HmmParams
from edgehar.runtime.limits import SampleLimits
from edgehar.runtime.stream import Streamer

FIRMWARE_TEMPLATE = Path(next(iter(importlib.util.find_spec("edgehar.firmware_export")
                                    .submodule_search_locations)))
"""The firmware package template: static sources, and ``templates/`` to fill per model."""
TEMPLATES = FIRMWARE_TEMPLATE / "templates"
BYTES_PER_LINE = 12
MAX_GAP_S = inspect.signature(Streamer).parameters["max_gap_s"].default
"""`edgehar stream`'s default --max-gap: shorter holes are bridged, longer ones are gaps."""


def render(name: str, **values) -> str:
    """Fill ``TEMPLATES/<name>.in``; a placeholder without a value raises KeyError.

    ``bundle_name`` and ``variant`` are free text that the templates put in comments.
    """
    for key in ("bundle_name", "variant"):
        if key in values:
            values[key] = c_comment(values[key])
    return Template((TEMPLATES / f"{name}.in").read_text()).substitute(values)


def c_string(text: str) -> str:
    """``text`` as a C string literal holding its UTF-8 bytes exactly.

    Printable ASCII stays readable; quotes, backslashes, ``?`` (trigraphs) and every other
    byte are escaped (octal, which never runs into the next character).
    """
    out = []
    for byte in text.encode("utf-8"):
        char = chr(byte)
        if char in '"\\?':
            out.append("\\" + char)
        elif 0x20 <= byte < 0x7F:
            out.append(char)
        else:
            out.append(f"\\{byte:03o}")
    return '"' + "".join(out) + '"'


def c_comment(text: str) -> str:
    """``text`` made safe inside a ``/* */`` comment: ASCII, one line, no ``*/`` or ``/*``."""
    text = "".join(c if c.isprintable() else f"\\x{ord(c):02x}"
                   for c in str(text).encode("ascii", "backslashreplace").decode("ascii"))
    while "*/" in text or "/*" in text:
        text = text.replace("*/", "*\\/").replace("/*", "/\\*")
    return text


def c_double(x: float) -> str:
    return repr(float(x))


def c_float(x: float) -> str:
    return f"{str(np.float32(x))}f"


def byte_lines(data: bytes) -> str:
    """``data`` as C initializer lines of hex bytes."""
    return ",\n".join("  " + ", ".join(f"0x{b:02x}" for b in data[i:i + BYTES_PER_LINE])
                      for i in range(0, len(data), BYTES_PER_LINE))


def _rows(matrix: np.ndarray) -> str:
    return ",\n".join("  {" + ", ".join(c_double(v) for v in row) + "}" for row in matrix)


def model_data_sources(model: bytes, bundle_name: str, variant: str) -> dict[str, str]:
    """``model_data.h``/``.cc``: ``g_model_data`` (16-byte aligned) and ``g_model_data_len``."""
    values = dict(bundle_name=bundle_name, variant=variant)
    return {"src/model_data.h": render("src/model_data.h", **values),
            "src/model_data.cpp": render("src/model_data.cpp", model_bytes=byte_lines(model),
                                        model_len=len(model), **values)}


def _filter_values(pipeline: Pipeline) -> dict[str, str | int]:
    """The filters' constants: the pipeline's own (sos, zi), which its Python stream runs."""
    gravity, gravity_zi = pipeline.gravity_filter()
    noise = pipeline.noise_filter()
    values = dict(
        gravity_sections=len(gravity), gravity_sos=_rows(gravity), gravity_zi=_rows(gravity_zi),
        gravity_description=f"order {pipeline.gravity_order}, {pipeline.gravity_cutoff_hz} Hz",
        noise_sections=0, noise_sos="", noise_zi="", noise_description="none",
        median_length=pipeline.median_length or 0,
        median_description=f"{pipeline.median_length} samples, then the noise low-pass"
        if pipeline.median_length else "none")
    if noise is not None:
        values.update(noise_sections=len(noise[0]), noise_sos=_rows(noise[0]), noise_zi=_rows(noise[1]),
                      noise_description=f"order {pipeline.noise_order}, {pipeline.noise_cutoff_hz} Hz")
    return values


def params_sources(pipeline: Pipeline, classes: tuple[str, ...], window: int, hop: int,
                   tensors: dict, arena_description: str, arena_size: int, ring_rows: int,
                   bundle_name: str, variant: str, limits: SampleLimits | None = None,
                   max_gap_s: float = MAX_GAP_S) -> dict[str, str]:
    """``edgehar_params.h``/``.c``: geometry, labels, quantization, arena, sample limits and
    preprocessing.

    ``tensors`` is ``{"input": {"scale", "zero_point"}, "output": {...}}`` of the model.
    Without a fitted normalization, mean 0 and std 1 make (x - mean) / std exactly x.
    ``limits`` (default: edgehar's): the samples the firmware drops, as the stream does; dropped
    samples are bridged while the hole they leave is at most ``max_gap_s`` long.
    """
    limits = limits or SampleLimits()
    channels = len(pipeline.channels)
    fitted = pipeline.mean is not None
    mean = pipeline.mean if fitted else (0.0,) * channels
    std = pipeline.std if fitted else (1.0,) * channels
    values = dict(
        bundle_name=bundle_name, variant=variant,
        sample_rate_hz=c_double(pipeline.sample_rate_hz), window=window, hop=hop,
        num_channels=channels, num_classes=len(classes),
        class_labels=",\n".join(f"  {c_string(name)}" for name in classes),
        channel_index=", ".join(str(i) for i in pipeline.channel_index),
        input_scale=c_float(tensors["input"]["scale"]),
        input_zero_point=int(tensors["input"]["zero_point"]),
        output_scale=c_float(tensors["output"]["scale"]),
        output_zero_point=int(tensors["output"]["zero_point"]),
        arena_description=arena_description, arena_size=arena_size, ring_rows=ring_rows,
        max_acc_g=c_float(limits.acc_g), max_gyro_rads=c_float(limits.bounds()[3]),
        max_gap_s=f"{max_gap_s:g}", max_bridged=max(0, round(max_gap_s * pipeline.sample_rate_hz) - 1),
        normalization_description="fitted on the training windows" if fitted
        else "identity: the bundle has no normalization",
        mean=", ".join(c_float(v) for v in mean), std=", ".join(c_float(v) for v in std),
        **_filter_values(pipeline))
    return {"src/edgehar_params.h": render("src/edgehar_params.h", **values),
            "src/edgehar_params.c": render("src/edgehar_params.c", **values)}


def _float_rows(matrix: np.ndarray) -> str:
    return ",\n".join("  {" + ", ".join(c_float(v) for v in row) + "}" for row in matrix)


def hmm_sources(params: HmmParams, from_bundle: bool, bundle_name: str, lag: int = 0,
                lag_description: str = "lag 0") -> dict[str, str]:
    """``edgehar_hmm_params.h``/``.c``: the decoder's constants, in float32, and its default lag."""
    values = dict(
        bundle_name=bundle_name, from_bundle=int(from_bundle), lag=lag,
        lag_description=c_comment(lag_description),
        decoder_description=f"its metadata.json {KINDS[params.kind]!r}, {params.kind}"
        if from_bundle else "no decoder: pass-through",
        num_classes=len(params.class_prior), num_states=len(params.states), floor=c_float(params.floor),
        emission_weight=c_float(params.emission_weight),
        state_names=",\n".join(f"  {c_string(name)}" for name in params.states),
        transition=_float_rows(params.transition), initial=", ".join(c_float(v) for v in params.initial),
        class_prior=", ".join(c_float(v) for v in params.class_prior),
        emission=_float_rows(params.emission), report=_float_rows(params.report))
    return {"src/edgehar_hmm_params.h": render("src/edgehar_hmm_params.h", **values),
            "src/edgehar_hmm_params.c": render("src/edgehar_hmm_params.c", **values)}
