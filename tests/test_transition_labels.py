"""Models that output transitions: the activity each label stands for, in the stream's JSONL, in
the MQTT state and discovery, and in the live scores (activities, and the recall of transitions)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from mqtt_broker import broker, recorder  # noqa: F401  (fixtures)

from edgehar.bundle import Bundle
from edgehar.data.recordings import hapt_files, read_hapt_experiment
from edgehar.errors import EdgeharError
from edgehar.runtime.activity import TRANSITION, ActivityLabels, activity_classes
from edgehar.runtime.interpreter import TFLiteClassifier
from edgehar.runtime.sources import iter_array
from edgehar.runtime.stream import Streamer, run
from edgehar.scoring.livescore import StreamedRecording, live_scores
from edgehar.services.mqtt import open_publisher
from edgehar.spec import ACTIVITIES

SEVEN = ACTIVITIES + (TRANSITION,)
TWELVE = ACTIVITIES + ("STAND_TO_SIT", "SIT_TO_STAND", "SIT_TO_LIE", "LIE_TO_SIT", "STAND_TO_LIE",
                       "LIE_TO_STAND")


def one_hot(classes, name):
    return np.eye(len(classes))[classes.index(name)]


def test_a_postural_transition_stands_for_its_destination_and_transition_for_the_activity_before():
    labels = ActivityLabels(TWELVE)
    assert labels.of("STAND_TO_SIT", one_hot(TWELVE, "STAND_TO_SIT")) == "SITTING"
    labels = ActivityLabels(SEVEN)
    said = [labels.of(name, one_hot(SEVEN, name)) for name in ("WALKING", TRANSITION, TRANSITION, "SITTING")]
    assert said == ["WALKING", "WALKING", "WALKING", "SITTING"]


def test_a_bare_transition_at_the_start_is_the_windows_most_probable_activity_and_reset_forgets():
    labels = ActivityLabels(SEVEN)
    probs = np.array([0.05, 0.05, 0.05, 0.2, 0.05, 0.05, 0.55])
    assert labels.of(TRANSITION, probs) == "SITTING"
    labels.of("WALKING", one_hot(SEVEN, "WALKING"))
    labels.reset()
    assert labels.of(TRANSITION, probs) == "SITTING"
    # a transition whose destination is no class is a bare transition
    assert ActivityLabels(("WALKING", "STAND_TO_SIT")).of("STAND_TO_SIT", [0.3, 0.7]) == "WALKING"


def test_activity_classes_leave_out_transitions_and_a_model_needs_one():
    assert activity_classes(TWELVE) == activity_classes(SEVEN) == ACTIVITIES
    with pytest.raises(EdgeharError, match="no activity"):
        ActivityLabels((TRANSITION,))


@pytest.fixture(scope="module")
def renamed_stream(hapt_raw):
    """The shipped default's real int8 model over HAPT experiment 1, its LAYING output named
    TRANSITION and its STANDING output STAND_TO_SIT (a stand-in for a model trained with them)."""
    bundle = Bundle.default()
    classes = ("WALKING", "WALKING_UPSTAIRS", "WALKING_DOWNSTAIRS", "SITTING", "STAND_TO_SIT", TRANSITION)
    streamer = Streamer(TFLiteClassifier(bundle.tflite("int8")), bundle.pipeline, classes,
                        window=bundle.window, hop=bundle.hop)
    results = []
    run(streamer, iter_array(read_hapt_experiment(hapt_files(hapt_raw)[1]), streamer.rate_hz), results.append)
    return classes, results


def test_stream_jsonl_reports_the_models_label_and_the_activity_it_stands_for(renamed_stream):
    classes, results = renamed_stream
    records = [json.loads(r.to_json()) for r in results]
    assert {TRANSITION, "STAND_TO_SIT"} <= {r["label"] for r in records}
    previous = None
    for record in records:
        want = {TRANSITION: previous, "STAND_TO_SIT": "SITTING"}.get(record["label"], record["label"])
        if want is not None:
            assert record["label_activity"] == want
        assert record["label_activity"] in activity_classes(classes)
        assert record["smoothed_activity"] == record["label_activity"]  # no smoothing: the same labels
        previous = record["label_activity"]


def test_mqtt_state_says_the_activity_and_discovery_offers_only_activities(broker, recorder,  # noqa: F811
                                                                           renamed_stream):
    classes, results = renamed_stream
    publisher, conn = open_publisher(f"{broker.url}/edgehar/hall", classes, "renamed")
    transition = next(r for r in results if r.label == TRANSITION)
    publisher.publish(transition)
    conn.close(drain_s=10)
    (state,) = [json.loads(p) for p in recorder.wait_for("edgehar/hall/state", 1)]
    discovery = "homeassistant/sensor/edgehar_hall/activity/config"
    (config,) = [json.loads(p) for p in recorder.wait_for(discovery, 1)]
    assert config["options"] == ["WALKING", "WALKING_UPSTAIRS", "WALKING_DOWNSTAIRS", "SITTING"]
    assert state["label"] == state["smoothed"] == TRANSITION
    assert state["activity"] == state["label_activity"] == transition.label_activity in config["options"]


def recording(classes, said: list[str], sample_labels, window=4, hop=2) -> StreamedRecording:
    probs = np.array([one_hot(classes, name) for name in said])
    start = np.arange(len(said)) * hop
    return StreamedRecording("r", 1, probs, start, start + window, np.asarray(sample_labels), rate_hz=1.0)


def test_live_scores_count_activities_and_the_recall_of_transitions():
    # 8 samples standing (5), 4 stand-to-sit (7), 8 sitting (4): windows of 4 samples every 2
    labels = [5] * 8 + [7] * 4 + [4] * 8
    said = ["STANDING"] * 4 + ["STAND_TO_SIT", "SITTING", "SITTING", "SITTING", "SITTING"]
    scores = live_scores([recording(TWELVE, said, labels)], TWELVE)
    assert scores["accuracy"] == 1.0 and set(scores["recall"]) == {"STANDING", "SITTING"}
    assert scores["changes_ratio"] == 1.0  # STANDING -> STAND_TO_SIT -> SITTING is one change
    # window centres at 2, 4, ..., 18: those at 8 and 10 lie in the transition; one says it
    assert scores["transition_recall"] == 0.5
    seven = ["STANDING"] * 3 + [TRANSITION] * 2 + ["SITTING"] * 4
    scores = live_scores([recording(SEVEN, seven, labels)], SEVEN)
    assert scores["transition_recall"] == 1.0 and scores["changes_ratio"] == 1.0
    wrong = ["STANDING"] * 3 + ["SIT_TO_STAND", "STANDING"] + ["SITTING"] * 4
    assert live_scores([recording(TWELVE, wrong, labels)], TWELVE)["transition_recall"] == 0.0
    six = live_scores([recording(ACTIVITIES, ["STANDING"] * 4 + ["SITTING"] * 5, labels)], ACTIVITIES)
    assert six["transition_recall"] is None  # a model without transition outputs
