"""`finetune`'s sensor alignment on a base whose gradient refinement diverges (an LSTM trained one
epoch on a slice of UCI HAR, fine-tuned on HAPT experiment 1: the refined rotation came out NaN and
numpy's SVD raised a traceback): one `error:` line or a bundle, never a traceback."""

from __future__ import annotations

import subprocess
import sys

EDGEHAR = [sys.executable, "-m", "edgehar"]


def test_a_diverged_rotation_refinement_keeps_the_best_axis_turn_and_never_raises(small_data,
                                                                                  one_experiment, tmp_path):
    trained = subprocess.run([*EDGEHAR, "train", "--data", str(small_data), "--model", "lstm", "--units", "8",
                              "--epochs", "1", "--out", str(tmp_path / "b")], capture_output=True, text=True,
                             timeout=600, stdin=subprocess.DEVNULL)
    assert trained.returncode == 0, trained.stderr
    done = subprocess.run([*EDGEHAR, "finetune", str(tmp_path / "b"), "--recordings", str(one_experiment),
                           "--out", str(tmp_path / "mine"), "--minutes", "1", "--epochs", "1"],
                          capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
    assert "Traceback" not in done.stderr and "LinAlgError" not in done.stderr, done.stderr[-3000:]
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert (done.returncode, errors) == (0, []) or (done.returncode == 2 and len(errors) == 1), done.stderr
