"""The committed output of tools/pi_emulated.sh (the runtime wheel on an emulated 64-bit Raspberry
Pi OS): it streamed the demo exactly as this machine does and validated the model."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

from typer.testing import CliRunner

from edgehar.bundle import Bundle
from edgehar.cli import app
from edgehar.runtime.smoothing import make_smoother
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


def _streamed_here(bundle: Bundle, variant: str) -> list[Result]:
    """The demo as `edgehar stream --source demo` streams it here: smoothed as the bundle says
    unless told otherwise (the shipped defaults: hmm:1)."""
    streamer = Streamer.from_bundle(bundle, variant, smoother=make_smoother(bundle.smoothing, bundle))
    return [r for chunk in open_source("demo") for r in streamer.feed(chunk.t, chunk.x)]


def test_the_reference_is_what_edgehar_stream_prints_for_the_default_model():
    printed = CliRunner().invoke(app, ["stream", "--source", "demo"]).stdout.splitlines()[1:]
    here = _streamed_here(Bundle.default(), "int8")
    assert [line.split()[3] for line in printed] == [r.smoothed for r in here]
    assert Bundle.default().smoothing != "none"  # the default smooths, so this compares something


def test_emulated_pi_ran_the_runtime_install_on_arm64():
    preamble = "\n".join(_sections()[""])
    assert "aarch64" in preamble and "Raspberry Pi 4" in preamble and "cortex-a72" in preamble
    assert "tensorflow importable: no" in preamble and "ai-edge-litert" in preamble


def test_emulated_pi_streamed_the_demo_exactly_as_this_machine_does():
    lines = _sections()["edgehar stream --source demo"]
    assert lines[0] == Result.TEXT_HEADER
    summary = json.loads(lines[-1])
    pi = [line.split()[3:6] for line in lines[1:-1]]  # smoothed label, "(label", "confidence)"
    here = _streamed_here(Bundle.load(MODELS / summary["model"]), summary["variant"])
    assert len(pi) == summary["windows"] == len(here) == 224
    assert [(smoothed, label[1:]) for smoothed, label, _ in pi] == [(r.smoothed, r.label) for r in here]
    # With /sys mounted in the chroot the int8 scores are x86-64's (without it a few rounded differently).
    assert [confidence[:-1] for *_, confidence in pi] == [f"{r.confidence:.2f}" for r in here]


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


def test_the_script_stops_with_one_clear_line_without_the_data(tmp_path):
    script = MODELS.parent / "tools" / "pi_emulated.sh"
    run = subprocess.run([str(script), str(tmp_path / "rootfs")], capture_output=True, text=True, timeout=30,
                         env={**os.environ, "EDGEHAR_PI_DATA": str(tmp_path / "nothing")})
    assert run.returncode == 2 and not (tmp_path / "rootfs").exists()
    assert run.stderr == (f"error: no UCI HAR data at {tmp_path / 'nothing'}/uci-har: set EDGEHAR_PI_DATA to "
                          "a folder holding uci-har/ (see docs/data.md)\n")


def test_the_script_mounts_sys_and_removes_the_binfmt_registration_it_made():
    text = (MODELS.parent / "tools" / "pi_emulated.sh").read_text()
    assert 'mount -t sysfs sysfs "$root/sys"' in text
    assert 'echo -1 > "$registered"' in text and "registered=$binfmt/qemu-aarch64" in text
