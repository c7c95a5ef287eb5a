"""Models with HAPT's postural transitions as outputs: their training windows, a training slice
on real HAPT data, and how their 12 classes are scored on UCI HAR's 6 activities; and how the live
benchmark (tools/live_results.py) chooses the defaults."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from edgehar.data.recordings import hapt_windows, read_hapt_recordings
from edgehar.export.convert import export_variants
from edgehar.model.evaluate import evaluate_bundle
from edgehar.model.metrics import predicted_index
from edgehar.model.train import TrainConfig, fit, write_bundle
from edgehar.preprocess.pipeline import Pipeline
from edgehar.scoring.validate import validate_test_split
from edgehar.spec import ACTIVITIES, HAPT_ACTIVITIES, POSTURAL_TRANSITIONS, WINDOW, activity_of

TOOLS = Path(__file__).resolve().parent.parent / "tools"


def live_results():
    spec = importlib.util.spec_from_file_location("live_results", TOOLS / "live_results.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def windows(hapt_raw):
    return hapt_windows(hapt_raw, Pipeline.preset("uci9"), subjects=[1, 3], transitions=True)


def test_a_transition_stands_for_its_destination_posture():
    assert [activity_of(name) for name in POSTURAL_TRANSITIONS] == [
        "SITTING", "STANDING", "LAYING", "SITTING", "LAYING", "STANDING"]
    assert [activity_of(name) for name in ACTIVITIES] == list(ACTIVITIES)


def test_transition_windows_are_centred_on_real_transitions(windows, hapt_raw):
    assert windows.classes == HAPT_ACTIVITIES
    assert set(np.unique(windows.y)) == set(range(1, 13))
    labels = {(int(r.subject), int(r.session)): r.labels
              for r in read_hapt_recordings(hapt_raw, subjects=[1, 3])}
    for row in np.flatnonzero(windows.y > len(ACTIVITIES)):
        recording = labels[(windows.subject[row], windows.experiment[row])]
        inside = recording[windows.start[row]:windows.start[row] + WINDOW]
        assert (inside[32:96] == windows.y[row]).all()  # the middle half lies in the transition
    activities = windows.take(windows.y <= len(ACTIVITIES))
    for row in range(0, len(activities), 50):  # activity windows lie wholly in their activity
        recording = labels[(activities.subject[row], activities.experiment[row])]
        assert (recording[activities.start[row]:activities.start[row] + WINDOW] == activities.y[row]).all()


def test_a_twelve_class_model_trains_on_hapt_and_is_scored_on_uci_har_activities(windows, uci_test,
                                                                                 tmp_path):
    config = TrainConfig("dscnn", {"filters": [8, 8], "kernel": 3}, epochs=1, pipeline="uci9",
                         val_subjects=1)
    result = fit(config, windows, uci_test.take(slice(0, 400)), progress=False)
    bundle = write_bundle(tmp_path / "t12", result, windows)
    assert bundle.classes == HAPT_ACTIVITIES
    assert bundle.pipeline.median_length == 3 and bundle.pipeline.noise_cutoff_hz == 20.0
    report = evaluate_bundle(bundle, uci_test.take(slice(0, 400)))
    assert list(report["per_class"]) == list(ACTIVITIES)
    assert sum(row["support"] for row in report["per_class"].values()) == 400
    assert result.test_report["windows"] == 400 and list(result.test_report["per_class"]) == list(ACTIVITIES)

    # Streamed sample by sample (the published windows skip the noise stages they went through),
    # the stitched test segments get the labels of the offline batch path.
    export_variants(bundle, windows, ("int8",))
    streamed = validate_test_split(bundle.reload(), uci_test.take(slice(0, 150)), "int8")
    assert streamed["agreement"] == 1.0 and streamed["accuracy"] == streamed["offline_accuracy"]


def test_predictions_of_transitions_count_as_their_destination_posture():
    probs = np.eye(12)[[0, 3, 6, 7, 10, 11]]
    assert predicted_index(probs, HAPT_ACTIVITIES, ACTIVITIES).tolist() == [0, 3, 3, 4, 5, 4]
    assert predicted_index(probs[:, :6][:2], ACTIVITIES, ACTIVITIES).tolist() == [0, 3]


def test_the_defaults_must_meet_the_held_out_uci_windows_constraint():
    lr = live_results()

    def entry(accuracy, uci):
        mean = {"accuracy": {"mean": accuracy}, "delay_s_median": {"mean": 2.0}}
        return {"int8": {"folds": [{"uci_heldout_accuracy": uci}] * lr.FOLDS,
                         "smoothing": {"hmm:1": {"mean": mean}}}}

    results = {"pi-a": entry(0.99, 0.90), "pi-b": entry(0.98, 0.97), "mcu-a": entry(0.985, 0.93),
               "mcu-b": entry(0.97, 0.955)}
    chosen = lr.choose(results)
    assert chosen["pi"]["recipe"] == "pi-b" and chosen["mcu"]["recipe"] == "mcu-b"
    assert chosen["pi"]["constraint_met"]
    no_one = lr.choose({"mcu-a": entry(0.985, 0.93), "mcu-c": entry(0.98, 0.94)})
    assert no_one["mcu"]["recipe"] == "mcu-a" and not no_one["mcu"]["constraint_met"]
