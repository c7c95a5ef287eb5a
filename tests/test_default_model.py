"""The shipped default model (models/DEFAULT) is the one the stream and the firmware use."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from edgehar.bundle import DEFAULT_MODEL_FILE, Bundle

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def default():
    models = REPO / "models"
    return Bundle.load(models / (models / DEFAULT_MODEL_FILE).read_text().strip())


def test_default_streams_the_pipeline_the_causal_audit_chose(default):
    audit = json.loads((REPO / "models" / "causal-audit.json").read_text())["results"]
    best = max(audit, key=lambda name: audit[name]["stream_accuracy"])
    assert default.pipeline.name == best
    assert default.pipeline.train_from == "stream"  # trained on what the live pipeline makes


def test_default_firmware_package_carries_the_default_model(default):
    array = (default.path / "firmware" / "model_data.cc").read_text()
    data = bytes(int(b, 16) for b in re.findall(r"0x([0-9a-f]{2})", array))
    assert data == default.tflite("int8").read_bytes()
