"""The HMM decoder (`--smooth hmm[:LAG]`): its maths on hand-made posteriors, its estimation from
the real HAPT labels, its place in the bundle, and `edgehar decoder` / `edgehar stream --smooth hmm`."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgehar.bundle import DEFAULT_MODEL_FILE, Bundle
from edgehar.data.recordings import ClassMap, read_hapt_labels, read_hapt_recordings
from edgehar.errors import BundleError, DataError, EdgeharError
from edgehar.metadata import seal
from edgehar.runtime.hmm import HmmDecoder, HmmParams
from edgehar.runtime.hmm_fit import add_decoder, estimate_hmm, estimate_hmm_recordings, window_labels
from edgehar.runtime.smoothing import make_smoother
from edgehar.runtime.stream import Streamer
from edgehar.scoring.validate import validate_hapt
from edgehar.spec import ACTIVITIES, HAPT_ACTIVITIES, HOP, WINDOW

REPO = Path(__file__).resolve().parent.parent
WALK, UP, DOWN, SIT, STAND, LAY = range(6)


def posterior(k: int, confidence: float = 0.8) -> np.ndarray:
    p = np.full(len(ACTIVITIES), (1 - confidence) / (len(ACTIVITIES) - 1))
    p[k] = confidence
    return p


def decode(decoder: HmmDecoder, sequence) -> list[int]:
    return [decoder.update(posterior(k) if isinstance(k, int) else k) for k in sequence]


@pytest.fixture(scope="module")
def segments(hapt_raw):
    return read_hapt_labels(hapt_raw / "labels.txt")


@pytest.fixture(scope="module")
def params(segments) -> HmmParams:
    return estimate_hmm(segments, ACTIVITIES, window=WINDOW, hop=HOP)


@pytest.fixture()
def bundle_copy(tmp_path) -> Bundle:
    """The shipped default's metadata and int8 model, without its decoders."""
    models = REPO / "models"
    default = models / (models / DEFAULT_MODEL_FILE).read_text().strip()
    for name in ("metadata.json", "model_int8.tflite"):
        shutil.copyfile(default / name, tmp_path / name)
    metadata = json.loads((tmp_path / "metadata.json").read_text())
    for key in ("decoder", "duration_decoder", "smoothing"):
        metadata.pop(key, None)
    (tmp_path / "metadata.json").write_text(json.dumps(seal(metadata)))
    return Bundle.load(tmp_path)


def test_a_spurious_window_inside_a_long_run_is_removed(params):
    assert decode(HmmDecoder(params), [WALK] * 10 + [UP] + [WALK] * 5) == [WALK] * 16
    assert decode(HmmDecoder(params), [SIT] * 10 + [STAND] + [SIT] * 5) == [SIT] * 16


def test_a_posture_change_goes_through_its_transition_and_is_resisted(params):
    """SITTING -> LAYING has no direct move: the first LAYING window is read as SIT_TO_LIE (and
    reported as its destination); a posture change needs more windows of weak evidence than a
    change between walking activities."""
    sit_to_lie = params.states.index("SIT_TO_LIE")
    assert params.transition[SIT, LAY] == params.transition[SIT, STAND] == 0
    decoder = HmmDecoder(params)
    assert decode(decoder, [SIT] * 15 + [posterior(LAY, 0.9)])[-1] == LAY
    assert np.argmax(decoder.state_probs) == sit_to_lie

    def windows_to_switch(before, after):
        labels = decode(HmmDecoder(params), [posterior(before, 0.5)] * 15 + [posterior(after, 0.5)] * 10)
        return labels[15:].index(after) + 1

    assert windows_to_switch(SIT, STAND) > windows_to_switch(WALK, DOWN)
    assert windows_to_switch(STAND, LAY) > windows_to_switch(UP, DOWN)


def test_a_lag_gives_the_smoothed_answer_later(params):
    sequence = [WALK] * 10 + [DOWN] * 6
    assert decode(HmmDecoder(params), sequence) == [WALK] * 11 + [DOWN] * 5
    assert decode(HmmDecoder(params, lag=2), sequence) == [WALK] * 12 + [DOWN] * 4


def reference_smoothing(params: HmmParams, probs: np.ndarray, lag: int) -> np.ndarray:
    """p(state at t - lag | windows 0..t) for each t: textbook forward-backward, unnormalised."""
    e = ((np.maximum(probs, params.floor) / params.class_prior) ** params.emission_weight) @ params.emission.T
    out = []
    for t in range(len(probs)):
        k = max(t - lag, 0)
        alpha = params.initial * e[0]
        for i in range(1, k + 1):
            alpha = (alpha @ params.transition) * e[i]
        beta = np.ones(len(params.states))
        for i in range(t, k, -1):
            beta = params.transition @ (e[i] * beta)
        out.append(alpha * beta / (alpha * beta).sum())
    return np.array(out)


@pytest.mark.parametrize("lag, emission_weight", [(0, 1.0), (1, 1.0), (3, 1.0), (2, 0.5)])
def test_filter_and_fixed_lag_equal_the_textbook_forward_backward(params, lag, emission_weight):
    params = dataclasses.replace(params, emission_weight=emission_weight)
    rng = np.random.default_rng(lag)
    probs = rng.dirichlet(np.full(len(ACTIVITIES), 0.3), size=25)
    probs[5] = np.eye(len(ACTIVITIES))[LAY]  # int8 outputs can be exactly 0 and 1
    decoder = HmmDecoder(params, lag)
    got = []
    for p in probs:
        label = decoder.update(p)
        assert label == np.argmax(decoder.class_probs)
        got.append(decoder.state_probs)
    np.testing.assert_allclose(got, reference_smoothing(params, probs, lag), rtol=1e-9, atol=1e-12)
    decoder.reset()
    decoder.update(probs[0])
    np.testing.assert_allclose(decoder.state_probs, got[0], rtol=1e-12)


def test_estimated_from_the_real_hapt_labels(params, segments):
    assert params.states == HAPT_ACTIVITIES  # the six classes, then the six postural transitions
    assert params.source["subjects"] == sorted({s.subject for s in segments})
    assert params.source["windows"] > 8000 and params.source["experiments"] == 42
    np.testing.assert_allclose(params.transition.sum(axis=1), 1)
    index = params.states.index
    assert params.transition[index("STANDING"), index("STAND_TO_SIT")] > 0.01
    assert params.transition[index("STAND_TO_SIT"), index("SITTING")] > 0.1
    assert params.transition[index("LAYING"), index("STAND_TO_SIT")] == 0
    assert params.transition[index("STAND_TO_SIT"), index("STANDING")] == 0
    assert 0 < params.transition[WALK, SIT] < 0.01  # never seen: a small smoothed probability
    # expected stay (windows) of each posture and transition = its mean labelled length at the hop
    for k in (SIT, STAND, LAY, *range(6, 12)):
        lengths = [(s.end - s.start) / HOP for s in segments if s.activity == k + 1]
        assert 1 / (1 - params.transition[k, k]) == pytest.approx(np.mean(lengths), rel=0.2)
    assert params.class_prior.sum() == pytest.approx(1) and params.class_prior.min() > 0.1


def test_window_labels_are_the_label_at_each_window_centre(segments):
    mine = [s for s in segments if s.experiment == 1]
    labels = window_labels(mine, WINDOW, HOP)
    first = mine[0]  # experiment 1 starts with STANDING at sample 249 (0-based)
    assert labels[(first.start - WINDOW // 2) // HOP + 1] == first.activity
    assert labels[0] == 0  # the unlabelled start


def test_estimation_takes_only_the_given_subjects(segments):
    two = estimate_hmm(segments, ACTIVITIES, window=WINDOW, hop=HOP, subjects=[1, 3])
    assert two.source["subjects"] == [1, 3] and two.source["experiments"] == 4
    with pytest.raises(DataError, match=r"subjects \[2\]"):
        estimate_hmm(segments, ACTIVITIES, window=WINDOW, hop=HOP, subjects=[1, 2])


def test_transition_outputs_are_ordinary_states_and_are_reported(segments):
    classes = ACTIVITIES[:3] + ("SITTING", "STANDING", "STAND_TO_SIT", "SIT_TO_STAND")
    params = estimate_hmm(segments, classes, window=WINDOW, hop=HOP)
    assert params.states == classes
    np.testing.assert_array_equal(params.emission, np.eye(len(classes)))
    assert params.transition[3, 4] == 0 and params.transition[4, 5] > 0
    decoder = HmmDecoder(params)
    sit, stand, stand_to_sit = (np.eye(7)[k] * 0.9 + 0.1 / 7 for k in (4, 4, 5))
    labels = [decoder.update(p) for p in [sit] * 10 + [stand_to_sit] * 3]
    assert classes[labels[-1]] == "STAND_TO_SIT"
    # a model without LAYING gets only the transitions between the postures it has
    assert estimate_hmm(segments, ACTIVITIES[:5], window=WINDOW, hop=HOP).states == \
        ACTIVITIES[:5] + ("STAND_TO_SIT", "SIT_TO_STAND")


def test_a_hapt_folder_read_as_recordings_gives_the_decoder_its_labels_txt_gives(params, hapt_raw):
    recordings = read_hapt_recordings(hapt_raw)
    same = estimate_hmm_recordings(recordings, ClassMap.identity(ACTIVITIES), window=WINDOW, hop=HOP)
    assert same.states == params.states and same.source["windows"] == params.source["windows"]
    for field in ("transition", "initial", "class_prior", "emission", "report"):
        np.testing.assert_array_equal(getattr(same, field), getattr(params, field))


def test_any_class_map_gets_its_classes_as_states_and_transitions_only_where_no_class_takes_them(hapt_raw):
    recordings = read_hapt_recordings(hapt_raw, subjects=[1, 3])
    merged = ClassMap.parse("active=WALKING+WALKING_UPSTAIRS+WALKING_DOWNSTAIRS,"
                            "static=SITTING+STANDING,LAYING")
    three = estimate_hmm_recordings(recordings, merged, window=WINDOW, hop=HOP)
    assert three.states == merged.classes and three.source["subjects"] == ["1", "3"]
    # active is long: it stays; the decoder moves between the three
    assert three.transition[0, 0] > 0.9 and (three.transition[0, 1:] > 0).all()
    transition = ClassMap.parse(",".join(ACTIVITIES) + ",TRANSITION=" + "+".join(HAPT_ACTIVITIES[6:]))
    seven = estimate_hmm_recordings(recordings, transition, window=WINDOW, hop=HOP)
    assert seven.states == transition.classes  # every postural transition is taken by TRANSITION
    assert seven.source["moves"]["SITTING>TRANSITION"] > 0 and "SITTING>STANDING" not in seven.source["moves"]
    with pytest.raises(DataError, match=r"subjects \['2'\]"):
        estimate_hmm_recordings(recordings, merged, window=WINDOW, hop=HOP, subjects=["1", "2"])


def test_the_decoder_lives_in_the_bundle_metadata(bundle_copy, hapt_raw):
    with pytest.raises(BundleError, match="no decoder.*edgehar decoder"):
        make_smoother("hmm", bundle_copy)
    bundle = add_decoder(bundle_copy, hapt_raw, subjects=[1, 3, 5])
    reloaded = Bundle.load(bundle.path)
    assert reloaded.metadata["decoder"]["kind"] == "hmm"
    smoother = make_smoother("hmm:2", reloaded)
    assert smoother.spec == "hmm:2" and smoother.lag == 2
    assert smoother.params.source["subjects"] == [1, 3, 5]
    np.testing.assert_array_equal(smoother.params.transition,
                                  HmmParams.from_bundle(bundle).transition)
    with pytest.raises(EdgeharError, match="hop"):
        Streamer.from_bundle(reloaded, "int8", hop=32, smoother=smoother)
    for spec in ("hmm:-1", "hmm:x", "hmm:1:2"):
        with pytest.raises(EdgeharError, match="--smooth"):
            make_smoother(spec, reloaded)


@pytest.mark.parametrize("damage, message", [
    (lambda d: d.update(transition=d["transition"][:-1]), "transition"),
    (lambda d: d.update(states=d["states"][::-1]), "the model's classes"),
    (lambda d: d.pop("floor"), "malformed decoder"),
    (lambda d: d.update(kind="crf"), "kind"),
])
def test_a_damaged_decoder_is_a_clear_error_naming_metadata_json(bundle_copy, hapt_raw, damage, message):
    decoder = add_decoder(bundle_copy, hapt_raw).metadata["decoder"]
    damage(decoder)
    bundle_copy.update_metadata(decoder=decoder)
    with pytest.raises(BundleError, match=f"metadata.json.*{message}"):
        make_smoother("hmm", Bundle.load(bundle_copy.path))


def test_the_shipped_default_streams_the_demo_with_hmm_out_of_the_box(tmp_path):
    out = tmp_path / "labels.jsonl"
    done = subprocess.run([sys.executable, "-m", "edgehar", "stream", "--source", "demo", "--smooth", "hmm:1",
                           "--jsonl", "--out", str(out)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stderr.strip().splitlines()[-1])
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert summary["smoothing"] == "hmm:1" and summary["windows"] == len(records) > 100
    assert set(summary["smoothed"]) == set(ACTIVITIES)
    def changes(key):
        return int(np.count_nonzero(np.diff([ACTIVITIES.index(r[key]) for r in records])))

    assert changes("smoothed") < changes("label")


def edgehar(*args: str, timeout: int = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edgehar", *args], capture_output=True, text=True,
                          timeout=timeout)


def streamed_smoothing(bundle: Bundle, *extra: str) -> str:
    """The smoothing `edgehar stream` reports in its summary for the demo."""
    streamed = edgehar("stream", "--source", "demo", "--model", str(bundle.path), *extra)
    assert streamed.returncode == 0, streamed.stderr
    return json.loads(streamed.stderr.strip().splitlines()[-1])["smoothing"]


def test_decoder_cli_adds_a_decoder_and_stream_uses_it(bundle_copy, hapt_raw):
    decoder = ("decoder", str(bundle_copy.path), "--hapt", str(hapt_raw))
    bad = edgehar(*decoder, "--subjects", "1,x")
    assert bad.returncode == 2 and "--subjects '1,x'" in bad.stderr
    done = edgehar(*decoder, "--subjects", "1,3")
    assert done.returncode == 0, done.stderr
    assert "12 states" in done.stdout and "[1, 3]" in done.stdout
    assert streamed_smoothing(bundle_copy, "--smooth", "hmm") == "hmm"


def test_stream_smooths_with_the_bundles_default_unless_told_otherwise(bundle_copy, hapt_raw):
    decoder = ("decoder", str(bundle_copy.path), "--hapt", str(hapt_raw))
    bad = edgehar(*decoder, "--default-smooth", "hmm:x")
    assert bad.returncode == 2 and "bad --smooth 'hmm:x'" in bad.stderr
    done = edgehar(*decoder, "--default-smooth", "hmm:1")
    assert done.returncode == 0, done.stderr
    assert streamed_smoothing(bundle_copy) == "hmm:1"
    assert streamed_smoothing(bundle_copy, "--smooth", "none") == "none"


def test_validate_scores_hmm_when_the_bundle_has_a_decoder(bundle_copy, hapt_raw):
    """On all 21 subjects the shipped default's decoder beats raw labels (these subjects trained
    the model and the decoder: a check of the live path, not a held-out score)."""
    without = validate_hapt(bundle_copy, hapt_raw, "int8", experiments=[1])
    assert "hmm" not in without["smoothing"]
    scores = validate_hapt(Bundle.default(), hapt_raw, "int8")["smoothing"]
    assert {"none", "vote:5", "hmm", "hmm:2"} <= set(scores)
    assert scores["hmm"]["accuracy"] > scores["none"]["accuracy"] + 0.01
    assert scores["hmm"]["flips_per_minute"] < 0.7 * scores["none"]["flips_per_minute"]
