"""The shipped default model (models/DEFAULT): its device budget, its pipeline, its firmware."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from edgehar.bundle import DEFAULT_MODEL_FILE, Bundle
from edgehar.export.tflm import measure_arena

REPO = Path(__file__).resolve().parent.parent
MAX_INT8_BYTES = 24 * 1024
"""Flash for the model on a small microcontroller."""
MAX_ARENA_BYTES = 8 * 1024
"""RAM for TFLM's tensor arena, as measured on this (64-bit) host."""


@pytest.fixture(scope="module")
def default():
    models = REPO / "models"
    return Bundle.load(models / (models / DEFAULT_MODEL_FILE).read_text().strip())


def test_default_int8_fits_the_flash_and_arena_budget(default):
    data = default.tflite("int8").read_bytes()
    size = len(data)
    assert size <= MAX_INT8_BYTES
    assert measure_arena(data) <= MAX_ARENA_BYTES


def test_default_streams_the_pipeline_the_causal_audit_chose(default):
    audit = json.loads((REPO / "models" / "causal-audit.json").read_text())["results"]
    best = max(audit, key=lambda name: audit[name]["stream_accuracy"])
    assert default.pipeline.name == best
    assert default.pipeline.train_from == "stream"  # trained on what the live pipeline makes


def test_default_firmware_package_carries_the_default_model(default):
    array = (default.path / "firmware" / "src" / "model_data.cc").read_text()
    data = bytes(int(b, 16) for b in re.findall(r"0x([0-9a-f]{2})", array))
    assert data == default.tflite("int8").read_bytes()
