"""The firmware's decoder (edgehar_hmm.c, float32) against edgehar/runtime/hmm.py (float64).

The C is built with the host compiler (-std=c11 -Wall -Wextra -Werror, via the package
Makefile) from the decoders (hmm, and the duration decoder hsmm) estimated on the real HAPT
labels, and fed the shipped default
model's real streamed posteriors of a HAPT recording (with a reset as after a gap), plus
hand-made one-hot windows (exact 0 and 1, as int8 outputs give).
"""

from __future__ import annotations

import dataclasses
import shutil
import subprocess

import numpy as np
import pytest

from edgehar.bundle import Bundle
from edgehar.data.recordings import hapt_files, read_hapt_experiment, read_hapt_labels
from edgehar.export.carrays import FIRMWARE_TEMPLATE, hmm_sources
from edgehar.runtime.hmm import HmmDecoder, HmmParams
from edgehar.runtime.hmm_fit import estimate_hmm, estimate_hsmm
from edgehar.runtime.sources import iter_array
from edgehar.runtime.stream import Streamer, run
from edgehar.spec import ACTIVITIES, HOP, WINDOW

C_FILES = ("Makefile", "src/edgehar_hmm.h", "src/edgehar_hmm.c", "hmm_test.c")


def build_hmm_test(folder, params: HmmParams, from_bundle: bool = True, lag: int = 0):
    """hmm_test for ``params`` in ``folder``, built by the package Makefile with the host ``cc``."""
    (folder / "src").mkdir(parents=True)
    for name in C_FILES:
        shutil.copyfile(FIRMWARE_TEMPLATE / name, folder / name)
    for name, text in hmm_sources(params, from_bundle, "test").items():
        (folder / name).write_text(text)
    cflags = f"-std=c11 -O2 -Wall -Wextra -Werror -ffp-contract=off -DEDGEHAR_HMM_LAG={lag}"
    subprocess.run(["make", "-C", str(folder), "CC=cc", f"CFLAGS={cflags}", "hmm_test"], check=True,
                   capture_output=True, text=True)
    return folder / "hmm_test"


def run_c(program, runs: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(labels, class probs, state probs) the C decoder gives for ``runs``, reset between runs."""
    text = "-\n".join("".join(" ".join(repr(float(v)) for v in row) + "\n" for row in probs)
                      for probs in runs)
    out = subprocess.run([str(program)], input=text, capture_output=True, text=True, check=True).stdout
    rows = np.array([line.split()[1:] for line in out.splitlines()], dtype=np.float64)
    K = runs[0].shape[1]
    return rows[:, 0].astype(int), rows[:, 1:1 + K], rows[:, 1 + K:]


def run_python(params: HmmParams, runs: list[np.ndarray], lag: int):
    decoder = HmmDecoder(params, lag)
    labels, classes, states = [], [], []
    for probs in runs:
        decoder.reset()
        for p in probs:
            labels.append(decoder.update(p))
            classes.append(decoder.class_probs)
            states.append(decoder.state_probs)
    return np.array(labels), np.array(classes), np.array(states)


@pytest.fixture(scope="module")
def decoders(hapt_raw) -> dict[str, HmmParams]:
    segments = read_hapt_labels(hapt_raw / "labels.txt")
    return {"hmm": estimate_hmm(segments, ACTIVITIES, window=WINDOW, hop=HOP),
            "hsmm": estimate_hsmm(segments, ACTIVITIES, window=WINDOW, hop=HOP)}


@pytest.fixture(scope="module")
def posteriors(hapt_raw) -> list[np.ndarray]:
    """The shipped default's int8 posteriors streamed over HAPT experiment 2 (user 1), cut in
    two runs as a gap would, plus hand-made one-hot windows."""
    results = []
    streamer = Streamer.from_bundle(Bundle.default(), "int8")
    run(streamer, iter_array(read_hapt_experiment(hapt_files(hapt_raw)[2]), streamer.rate_hz), results.append)
    probs = np.array([r.probs for r in results])
    one_hot = np.eye(len(ACTIVITIES))[[3, 3, 4, 3, 5, 5, 0, 0]]
    return [probs[:150], probs[150:], one_hot]


@pytest.mark.parametrize("kind, lag, emission_weight", [("hmm", 0, 1.0), ("hmm", 2, 0.5), ("hsmm", 0, 1.0),
                                                        ("hsmm", 1, 1.0), ("hsmm", 2, 0.7)])
def test_c_decoder_equals_python_on_real_posteriors(decoders, posteriors, tmp_path, kind, lag,
                                                    emission_weight):
    params = dataclasses.replace(decoders[kind], emission_weight=emission_weight)
    program = build_hmm_test(tmp_path / "hmm", params, lag=lag)
    c_labels, c_classes, c_states = run_c(program, posteriors)
    labels, classes, states = run_python(params, posteriors, lag)
    assert len(labels) == sum(len(p) for p in posteriors) > 300
    np.testing.assert_array_equal(c_labels, labels)
    np.testing.assert_allclose(c_classes, classes, atol=1e-5)
    np.testing.assert_allclose(c_states, states, atol=1e-5)
    assert np.count_nonzero(np.diff(labels)) < np.count_nonzero(np.diff(np.concatenate(posteriors).argmax(1)))


def test_without_a_decoder_the_c_passes_the_model_label_through(posteriors, tmp_path):
    params = HmmParams.passthrough(ACTIVITIES, WINDOW, HOP)
    program = build_hmm_test(tmp_path / "hmm", params, from_bundle=False)
    c_labels, _, _ = run_c(program, posteriors)
    np.testing.assert_array_equal(c_labels, np.concatenate(posteriors).argmax(axis=1))
    header = tmp_path / "hmm" / "src" / "edgehar_hmm_params.h"
    assert "#define EDGEHAR_HMM_FROM_BUNDLE 0" in header.read_text()
