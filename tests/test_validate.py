"""`edgehar validate`: streamed test windows equal the offline batch path; HAPT scoring."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from edgehar.scoring.validate import validate_hapt, validate_test_split


@pytest.fixture(scope="module")
def test_head(uci_test):
    """The first 150 test windows: whole stitched segments plus a cut one at the end."""
    return uci_test.take(slice(0, 150))


@pytest.mark.parametrize("variant", ["float32", "int8"])
def test_streaming_each_segment_sample_by_sample_agrees_with_offline_batch(tiny_bundle, test_head, variant):
    report = validate_test_split(tiny_bundle, test_head, variant)
    assert report["windows"] == report["streamed_windows"] == 150
    assert report["agreement"] == 1.0
    assert report["accuracy"] == report["offline_accuracy"]
    assert 0 <= report["accuracy"] <= 1 and report["segments"] > 1


def test_validate_cli_prints_one_json_object(tiny_bundle, test_head, tmp_path):
    head = test_head.take(slice(0, 40))
    np.savez(tmp_path / "uci_har_test.npz", X=head.X, y=head.y, subject=head.subject)
    done = subprocess.run([sys.executable, "-m", "edgehar", "validate", "--model", str(tiny_bundle.path),
                           "--data", str(tmp_path), "--json"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["windows"] == 40 and report["agreement"] == 1.0 and 0 <= report["accuracy"] <= 1


def test_hapt_scores_activity_windows_per_smoothing_and_counts_flips(tiny_bundle, hapt_raw):
    report = validate_hapt(tiny_bundle, hapt_raw, experiments=[1], smoothers=("none", "vote:5"))
    assert report["experiments"] == 1 and report["subjects"] == [1]
    assert report["minutes"] == pytest.approx(20598 / 50 / 60, abs=0.01)
    assert report["windows"] == (20598 - 128) // 64 + 1
    assert 0 < report["activity_windows"] < report["windows"] and report["transition_windows"] > 0
    none, vote = report["smoothing"]["none"], report["smoothing"]["vote:5"]
    assert 0 <= none["accuracy"] <= 1 and 0 <= vote["accuracy"] <= 1
    assert vote["flips_per_minute"] <= none["flips_per_minute"]


def test_recordings_path_scores_a_hapt_experiment_as_the_hapt_path_does_and_agrees_with_offline(
        tiny_bundle, hapt_raw):
    from edgehar.data.recordings import bundle_class_map, read_hapt_recordings
    from edgehar.scoring.validate import validate_recordings

    recordings = read_hapt_recordings(hapt_raw, experiments=[1])
    smoothers = ("none", "vote:5")
    report = validate_recordings(tiny_bundle, recordings, bundle_class_map(tiny_bundle), smoothers=smoothers)
    hapt = validate_hapt(tiny_bundle, hapt_raw, experiments=[1], smoothers=smoothers)
    assert report["windows"] == report["compared_windows"] == hapt["windows"]
    assert report["agreement"] == 1.0
    assert report["scored_windows"] == hapt["activity_windows"]
    assert report["transition_windows"] == hapt["transition_windows"]
    for spec in ("none", "vote:5"):
        assert report["smoothing"][spec]["accuracy"] == hapt["smoothing"][spec]["accuracy"]
        assert round(report["smoothing"][spec]["label_changes_per_minute"], 3) == \
            hapt["smoothing"][spec]["flips_per_minute"]
