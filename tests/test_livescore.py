"""Live scores of streamed recordings: accuracy on pure windows, label changes, detection delay."""

from __future__ import annotations

import numpy as np
import pytest

from edgehar.scoring.livescore import StreamedRecording, live_scores
from edgehar.spec import ACTIVITIES

SITTING, STANDING = ACTIVITIES.index("SITTING"), ACTIVITIES.index("STANDING")


def recording(predicted: list[int], sample_labels: np.ndarray, window=4, hop=2) -> StreamedRecording:
    probs = np.full((len(predicted), len(ACTIVITIES)), 0.01)
    probs[np.arange(len(predicted)), predicted] = 0.95
    start = np.arange(len(predicted)) * hop
    return StreamedRecording("r", 1, probs, start, start + window, sample_labels, rate_hz=1.0)


def test_only_windows_wholly_inside_one_activity_are_scored():
    # samples: 6 sitting, 2 stand-to-sit... transition (7), then 6 standing = 14 samples, 6 windows
    labels = np.array([4] * 6 + [7] * 2 + [5] * 6)
    rec = recording([SITTING, SITTING, SITTING, STANDING, STANDING, STANDING], labels)
    scores = live_scores([rec], ACTIVITIES)
    # windows [0,4) [2,6) sitting; [4,8) [6,10) touch the transition; [8,12) [10,14) standing
    assert scores["activity_windows"] == 4 and scores["accuracy"] == 1.0
    assert scores["transition_windows"] == 2
    assert scores["labels_on_transitions"] == {"SITTING": 0.5, "STANDING": 0.5}


def test_label_changes_and_detection_delay_are_counted_against_the_true_changes():
    labels = np.array([4] * 8 + [5] * 8)
    # windows end at 4, 6, 8, 10, 12, 14, 16: standing is first reported by the window ending at 12
    rec = recording([SITTING, SITTING, SITTING, SITTING, STANDING, SITTING, STANDING], labels)
    scores = live_scores([rec], ACTIVITIES)
    assert scores["true_changes_per_minute"] == pytest.approx(1 / (16 / 60))
    assert scores["label_changes_per_minute"] == pytest.approx(3 / (16 / 60))
    assert scores["changes_ratio"] == 3.0
    assert scores["delay_s_median"] == 12 - 8 and scores["changes_missed"] == 0
    smoothed = live_scores([rec], ACTIVITIES, "vote:3")
    assert smoothed["label_changes_per_minute"] < scores["label_changes_per_minute"]


def test_a_change_never_reported_before_the_activity_ends_is_missed():
    labels = np.array([4] * 8 + [5] * 8)
    scores = live_scores([recording([SITTING] * 7, labels)], ACTIVITIES)
    assert scores["changes_missed"] == 1 and scores["delay_s_median"] is None
    assert scores["recall"] == {"SITTING": 1.0, "STANDING": 0.0}


def test_any_label_names_score_through_a_class_map_and_labels_of_no_class_count_as_transitions():
    names = ("run", "jog", "sit", "fall")  # label codes 1..4; "fall" makes no class
    classes = ("active", "sit")
    members = {"active": ("run", "jog")}
    probs = np.array([[0.9, 0.1]] * 3 + [[0.2, 0.8]] * 3)
    start = np.arange(6) * 2
    # samples: run 4, jog 2, fall 2, sit 6 = 14; windows [0,4) [2,6) active; [4,8) [6,10) touch fall
    labels = np.array([1] * 4 + [2] * 2 + [4] * 2 + [3] * 6)
    rec = StreamedRecording("r", "alice", probs, start, start + 4, labels, 1.0, label_names=names)
    scores = live_scores([rec], classes, members=members)
    assert scores["activity_windows"] == 4 and scores["accuracy"] == 1.0
    assert scores["recall"] == {"active": 1.0, "sit": 1.0}
    assert scores["transition_windows"] == 2
    # run -> jog is no change of class; active -> sit (at 8) is one, first said by the window ending at 10
    assert scores["true_changes_per_minute"] == pytest.approx(1 / (14 / 60))
    assert scores["delay_s_median"] == 10 - 8 and scores["changes_missed"] == 0
