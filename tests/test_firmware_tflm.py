"""Every shipped firmware package, built with its own CMake against the real TensorFlow Lite Micro.

TFLM's sources are ``../shared/third_party`` (or ``$EDGEHAR_TFLM_SOURCES``; see its
PROVENANCE.md); without them these tests are skipped. Each package's host example is built
with the reference and the CMSIS-NN kernels (CMSIS-NN's portable C path), fed every 8th
stitched UCI HAR test segment sample by sample through its intake path, and its int8 scores
must equal those of the ``tflite_micro`` Python interpreter bit for bit. TFLM's libraries
are built once per session (or kept in ``$EDGEHAR_TFLM_BUILD_CACHE``).
"""

from __future__ import annotations

import os
import re
import subprocess

import numpy as np
import pytest
from conftest import REPO

from edgehar.bundle import Bundle
from edgehar.data.segments import stitch
from edgehar.export.carrays import FIRMWARE_TEMPLATE
from edgehar.export.tflm import TFLMClassifier
from edgehar.export.tflm_build import KERNEL_SETS, TFLM_SOURCES_ENV, HostBuilder, TflmSources
from edgehar.preprocess.windows import sliding_windows, window_starts

THIRD_PARTY = os.environ.get(TFLM_SOURCES_ENV, REPO.parent / "shared" / "third_party")
SHIPPED = sorted(p.parents[2].name for p in (REPO / "models").glob("*/firmware/src/edgehar.h"))
SEGMENT_STEP = 8


def test_the_repository_keeps_the_firmware_of_the_mcu_default_and_lstm100_only():
    mcu_default = (REPO / "models" / "DEFAULT_MCU").read_text().strip()
    assert SHIPPED == sorted({mcu_default, "lstm100"})


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_package_static_files_are_the_template(name):
    """A package is regenerated whenever the template changes (then its tests here hold)."""
    package = REPO / "models" / name / "firmware"
    for path in FIRMWARE_TEMPLATE.rglob("*"):
        relative = path.relative_to(FIRMWARE_TEMPLATE)
        if path.is_file() and relative.parts[0] not in ("templates", "__init__.py", "__pycache__"):
            assert (package / relative).read_bytes() == path.read_bytes(), relative


@pytest.fixture(scope="session")
def tflm_sources() -> TflmSources:
    sources = TflmSources(THIRD_PARTY)
    if missing := sources.missing():
        pytest.skip(f"TFLM sources not found ({missing[0]}): put them in ../shared/third_party "
                    f"or set {TFLM_SOURCES_ENV}")
    return sources


@pytest.fixture(scope="session")
def builder(tflm_sources, tmp_path_factory) -> HostBuilder:
    return HostBuilder(tflm_sources, tmp_path_factory.mktemp("tflm-cache"))


@pytest.fixture(scope="session")
def host_build(builder, tmp_path_factory):
    """(name, kernel set) -> (host example, build log) of a shipped package, built once."""
    cache = {}

    def get(name: str, kernel_set: str):
        if (name, kernel_set) not in cache:
            package = REPO / "models" / name / "firmware"
            build = tmp_path_factory.mktemp(f"{name}-{kernel_set}")
            cache[name, kernel_set] = builder.build_host(package, kernel_set, build)
        return cache[name, kernel_set]
    return get


@pytest.fixture(scope="session")
def test_segments(uci_test):
    """Every SEGMENT_STEP-th continuous segment of the stitched test split (raw (n, 6))."""
    return [s.raw.astype(np.float32) for s in stitch(uci_test)[::SEGMENT_STEP]]


def samples_text(segments) -> str:
    """The host example's input: one sample per line, 'gap' between segments."""
    return "gap\n".join("".join(" ".join(repr(float(v)) for v in row) + "\n" for row in raw)
                        for raw in segments)


def run_host(host, text: str, *args: str) -> tuple[str, np.ndarray, np.ndarray, list[int]]:
    """(arena line, window ends, int8 scores, stats: samples, windows, classified, skipped,
    rejected) of one run of the host example."""
    out = subprocess.run([str(host), *args], input=text, capture_output=True, text=True,
                         check=True).stdout
    lines = [line.split() for line in out.splitlines()]
    windows = [line[1:] for line in lines if line[0] == "W"]
    stats = [int(v) for v in lines[-1][1:]]
    assert lines[-1][0] == "stats"
    return (" ".join(lines[0]), np.array([int(w[0]) for w in windows]),
            np.array([w[3:] for w in windows], np.int64), stats)


def expected_scores(bundle: Bundle, segments) -> tuple[np.ndarray, np.ndarray]:
    """Window ends (samples pushed, segments back to back) and int8 scores from TFLM's Python."""
    model = TFLMClassifier(bundle.tflite("int8").read_bytes(), 1 << 20)
    ends, scores, offset = [], [], 0
    for raw in segments:
        windows = sliding_windows(bundle.pipeline.transform(raw), bundle.window, bundle.hop)
        ends += list(offset + window_starts(len(raw), bundle.window, bundle.hop) + bundle.window)
        scores += [model.scores(w) for w in windows]
        offset += len(raw)
    return np.array(ends), np.array(scores, np.int64)


@pytest.fixture(scope="session")
def shipped_expected(test_segments):
    """name -> expected_scores of that shipped package on test_segments, computed once."""
    cache = {}

    def get(name: str):
        if name not in cache:
            cache[name] = expected_scores(Bundle.load(REPO / "models" / name), test_segments)
        return cache[name]
    return get


@pytest.mark.parametrize("kernel_set", KERNEL_SETS)
@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_package_scores_equal_tflm_python_bit_for_bit(name, kernel_set, host_build, test_segments,
                                                               shipped_expected):
    host, log = host_build(name, kernel_set)
    assert not re.search(r"warning", log, re.I), log

    arena, ends, scores, stats = run_host(host, samples_text(test_segments))
    want_ends, want_scores = shipped_expected(name)

    np.testing.assert_array_equal(ends, want_ends)
    np.testing.assert_array_equal(scores, want_scores)
    assert len(np.unique(scores.argmax(axis=1))) >= 4  # real activities, not one constant answer
    samples = sum(len(raw) for raw in test_segments)
    assert stats == [samples, len(want_ends), len(want_ends), 0, 0]
    used, size = (int(v) for v in arena.split()[1:])
    assert used <= size


def test_inference_slower_than_a_hop_skips_windows_and_counts_them(host_build, test_segments):
    """Polling every 150 samples (> 2 hops): intake never blocks, each poll classifies the
    newest complete window exactly, and the windows no poll reached are counted."""
    bundle = Bundle.load(REPO / "models" / SHIPPED[0])
    host, _ = host_build(SHIPPED[0], "reference")
    segments = test_segments[:6]
    _, ends, scores, stats = run_host(host, samples_text(segments), "--poll-every", "150")
    want_ends, want_scores = expected_scores(bundle, segments)

    assert 0 < len(ends) < len(want_ends)
    taken = np.searchsorted(want_ends, ends)
    np.testing.assert_array_equal(want_ends[taken], ends)
    np.testing.assert_array_equal(scores, want_scores[taken])
    samples = sum(len(raw) for raw in segments)
    pending = int(ends[-1] != want_ends[-1])  # complete after the last poll: not skipped (yet)
    assert stats == [samples, len(want_ends), len(ends), len(want_ends) - len(ends) - pending, 0]
