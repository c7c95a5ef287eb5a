"""The committed output of tools/pi_emulated.sh (the runtime wheel on an emulated 64-bit Raspberry
Pi OS): it streamed the demo exactly as this machine does and validated the model."""

from __future__ import annotations

import json
import re
from pathlib import Path

from edgehar.bundle import Bundle
from edgehar.runtime.sources import open_source
from edgehar.runtime.stream import Result, Streamer

MODELS = Path(__file__).resolve().parent.parent / "models"
OUTPUT = MODELS / "pi-emulated.txt"


def _sections() -> dict[str, list[str]]:
    """The lines after each `$ command` line, keyed by the command."""
    sections, current = {"": []}, ""
    for line in OUTPUT.read_text().splitlines():
        if line.startswith("$ "):
            current = line[2:]
            sections[current] = []
        else:
            sections[current].append(line)
    return sections


def test_emulated_pi_ran_the_runtime_install_on_arm64():
    preamble = "\n".join(_sections()[""])
    assert "aarch64" in preamble and "Raspberry Pi 4" in preamble and "cortex-a72" in preamble
    assert "tensorflow importable: no" in preamble and "ai-edge-litert" in preamble


def test_emulated_pi_streamed_the_demo_exactly_as_this_machine_does():
    lines = _sections()["edgehar stream --source demo"]
    assert lines[0] == Result.TEXT_HEADER
    summary = json.loads(lines[-1])
    pi = [line.split()[3:6] for line in lines[1:-1]]  # smoothed label, "(label", "confidence)"
    streamer = Streamer.from_bundle(Bundle.load(MODELS / summary["model"]), summary["variant"])
    here = [r for chunk in open_source("demo") for r in streamer.feed(chunk.t, chunk.x)]
    assert len(pi) == summary["windows"] == len(here) == 224
    assert [(smoothed, label[1:]) for smoothed, label, _ in pi] == [(r.smoothed, r.label) for r in here]
    # The int8 kernels of LiteRT's arm64 build round a few windows' scores differently (README).
    differences = [abs(float(confidence[:-1]) - r.confidence)
                   for (*_, confidence), r in zip(pi, here, strict=True)]
    assert max(differences) <= 0.05 and sum(d > 0.005 for d in differences) <= 25


def test_emulated_pi_validated_the_model_as_this_machine_does():
    (command,) = [c for c in _sections() if c.startswith("edgehar validate")]
    text = "\n".join(_sections()[command]).strip()
    model = re.match(r"(\S+) \((\w+)\): (\d+) test windows", text)
    reference = json.loads((MODELS / model[1] / "validate.json").read_text())
    assert model[2] == reference["variant"] and int(model[3]) == reference["windows"]
    scores = re.search(r"accuracy (\S+) \(offline (\S+)\), agreement with offline (\S+)", text)
    assert float(scores[1]) == round(reference["accuracy"], 4)
    assert float(scores[2]) == round(reference["offline_accuracy"], 4)
    assert float(scores[3]) == 1.0
