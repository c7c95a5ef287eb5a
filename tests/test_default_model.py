"""The shipped defaults: models/DEFAULT (what `edgehar stream` runs) and models/DEFAULT_MCU (whose
firmware package a microcontroller takes): chosen by the live benchmark, the MCU one within its
device budget, each the seed its held-out training subjects picked."""

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


MODELS = REPO / "models"


def pointed(pointer: str) -> Bundle:
    return Bundle.load(MODELS / (MODELS / pointer).read_text().strip())


@pytest.fixture(scope="module")
def default():
    return pointed(DEFAULT_MODEL_FILE)


@pytest.fixture(scope="module")
def mcu_default():
    return pointed("DEFAULT_MCU")


@pytest.mark.parametrize("pointer, role", [(DEFAULT_MODEL_FILE, "pi"), ("DEFAULT_MCU", "mcu")])
def test_defaults_are_what_the_live_benchmark_chose_with_their_smoothing(pointer, role):
    live = json.loads((MODELS / "live-results.json").read_text())
    chosen = live["chosen"][role]
    recipe = live["recipes"][chosen["recipe"]]
    bundle = pointed(pointer)
    assert bundle.metadata["model"]["params"] == recipe["params"]
    assert bundle.smoothing == chosen["smoothing"]
    if recipe["data"] == "hapt":
        assert Path(bundle.metadata["training"]["data_source"]).name == "RawData"


@pytest.mark.parametrize("pointer", [DEFAULT_MODEL_FILE, "DEFAULT_MCU"])
def test_defaults_ship_the_seed_their_held_out_training_subjects_picked(pointer):
    bundle = pointed(pointer)
    seeds = json.loads((bundle.path / "seeds.json").read_text())
    best = max(seeds["seeds"], key=lambda r: r["best_val_accuracy"])["seed"]
    assert seeds["kept_seed"] == best == bundle.metadata["training"]["seed"]


def test_mcu_default_int8_fits_the_flash_and_arena_budget(mcu_default):
    data = mcu_default.tflite("int8").read_bytes()
    size = len(data)
    assert size <= MAX_INT8_BYTES
    assert measure_arena(data) <= MAX_ARENA_BYTES


def test_default_streams_the_pipeline_the_causal_audit_chose(default):
    audit = json.loads((REPO / "models" / "causal-audit.json").read_text())["results"]
    best = max(audit, key=lambda name: audit[name]["stream_accuracy"])
    assert default.pipeline.name == best
    assert default.pipeline.train_from == "stream"  # trained on what the live pipeline makes


def test_mcu_default_firmware_package_carries_its_model(mcu_default):
    array = (mcu_default.path / "firmware" / "src" / "model_data.cpp").read_text()
    data = bytes(int(b, 16) for b in re.findall(r"0x([0-9a-f]{2})", array))
    assert data == mcu_default.tflite("int8").read_bytes()
