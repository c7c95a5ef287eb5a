"""The duration decoder (`--smooth hsmm[:LAG][@W]`): minimum stays, "other" states for the
unlabelled stretches, its fixed-lag answers against brute force, causality, and its place in the
bundle and the firmware."""

from __future__ import annotations

import dataclasses
import itertools
import json

import numpy as np
import pytest
from test_hmm import (  # noqa: F401  (fixtures and helpers)
    DOWN,
    LAY,
    SIT,
    STAND,
    WALK,
    bundle_copy,
    decode,
    edgehar,
    posterior,
    segments,
    streamed_smoothing,
)

from edgehar.bundle import Bundle
from edgehar.errors import EdgeharError
from edgehar.export.firmware import write_firmware
from edgehar.runtime.hmm import HmmDecoder, HmmParams
from edgehar.runtime.hmm_fit import (
    DEFAULT_EMISSION_WEIGHT,
    estimate_hmm,
    estimate_hsmm,
    other_sequence,
    with_durations,
)
from edgehar.runtime.smoothing import make_smoother
from edgehar.spec import ACTIVITIES, HAPT_ACTIVITIES, HOP, WINDOW

SURE = 0.95


def sure(sequence) -> list[np.ndarray]:
    """A sure model's posteriors for a sequence of class indices."""
    return [posterior(k, SURE) for k in sequence]


@pytest.fixture(scope="module")
def hsmm(segments) -> HmmParams:
    return estimate_hsmm(segments, ACTIVITIES, window=WINDOW, hop=HOP)


def base_state(params: HmmParams, state: int) -> str:
    return params.states[state].split(".")[0]


def test_each_activity_is_a_chain_whose_length_the_training_labels_give(hsmm):
    minimum = hsmm.source["min_windows"]
    assert hsmm.kind == "hsmm" and hsmm.emission_weight == DEFAULT_EMISSION_WEIGHT
    assert hsmm.classes == ACTIVITIES
    # HAPT's activities last 10 to 30 windows, its postural transitions 1 to 4
    assert all(minimum[name] >= 3 for name in ACTIVITIES)
    assert all(minimum[name] <= 2 for name in ("STAND_TO_SIT", "SIT_TO_STAND"))
    for name, n in minimum.items():
        chain = [s for s in hsmm.states if s.split(".")[0] == name]
        assert chain == [name] + [f"{name}.{k}" for k in range(2, n + 1)]


def test_every_path_it_allows_stays_in_each_state_at_least_its_minimum(hsmm):
    rng = np.random.default_rng(0)
    state, path = int(rng.choice(len(hsmm.states), p=hsmm.initial)), []
    for _ in range(30000):
        path.append(base_state(hsmm, state))
        state = int(rng.choice(len(hsmm.states), p=hsmm.transition[state]))
    runs = [(name, len(list(group))) for name, group in itertools.groupby(path)]
    assert len(runs) > 300
    for name, length in runs[1:-1]:  # the first run starts anywhere in its chain, the last is cut
        assert length >= hsmm.source["min_windows"][name], name


def test_with_no_minimum_and_no_other_states_it_is_the_hmm(segments):
    hmm = estimate_hmm(segments, ACTIVITIES, window=WINDOW, hop=HOP)
    same = with_durations(hmm, max_min_windows=1)
    assert same.states == hmm.states
    probs = np.random.default_rng(1).dirichlet(np.full(len(ACTIVITIES), 0.3), size=40)
    a, b = HmmDecoder(hmm, 1), HmmDecoder(same, 1)
    for p in probs:
        assert a.update(p) == b.update(p)
        np.testing.assert_allclose(a.state_probs, b.state_probs, rtol=1e-12)


def test_unlabelled_windows_become_the_other_state_of_the_state_before():
    assert other_sequence(np.array([-1, 2, -1, -1, 0, -1]), 5).tolist() == [-1, 2, 7, 7, 0, 5]


def test_other_states_report_the_activity_before_and_transitions_are_unknown_to_a_six_class_model(hsmm):
    other = hsmm.states.index("WALKING+other")
    assert hsmm.report[other].tolist() == np.eye(len(ACTIVITIES))[WALK].tolist()
    likelihoods = HmmDecoder(hsmm).likelihoods
    at_one = HmmDecoder(dataclasses.replace(hsmm, emission_weight=1.0)).likelihoods
    for k in range(len(ACTIVITIES)):  # at emission weight 1, the same for every window
        assert at_one(posterior(k, SURE))[other] == pytest.approx(hsmm.source["other_likelihood"])
        assert at_one(posterior(k, SURE))[hsmm.states.index("SIT_TO_LIE")] == pytest.approx(1)
    assert likelihoods(posterior(SIT, SURE))[SIT] > likelihoods(posterior(SIT, SURE))[other]


def test_a_short_pause_between_walks_keeps_the_walk_where_the_hmm_reports_it(segments, hsmm):
    hmm = estimate_hmm(segments, ACTIVITIES, window=WINDOW, hop=HOP)
    pause = [WALK] * 12 + [STAND] * 2 + [DOWN] * 10
    assert STAND in decode(HmmDecoder(hmm, 1), sure(pause))
    decoded = decode(HmmDecoder(hsmm, 1), sure(pause))
    assert STAND not in decoded and decoded[-5:] == [DOWN] * 5
    # a real change is still followed: at once where the training labels make it common, after
    # more windows where they never show it (HAPT's protocol has no walk that ends standing)
    assert decode(HmmDecoder(hsmm, 1), sure([WALK] * 12 + [DOWN] * 12))[-10:] == [DOWN] * 10
    assert decode(HmmDecoder(hsmm, 1), sure([WALK] * 12 + [STAND] * 12))[-3:] == [STAND] * 3


def brute_force(params: HmmParams, probs: np.ndarray, lag: int) -> np.ndarray:
    """p(class of the window ``lag`` before t | windows 0..t) for each t, over every state path."""
    e = ((np.maximum(probs, params.floor) / params.class_prior) ** params.emission_weight) @ params.emission.T
    S, out = len(params.states), []
    for t in range(len(probs)):
        k = max(t - lag, 0)
        at_k = np.zeros(S)
        for path in itertools.product(range(S), repeat=t + 1):
            weight = params.initial[path[0]] * e[0, path[0]]
            for i in range(1, t + 1):
                weight *= params.transition[path[i - 1], path[i]] * e[i, path[i]]
            at_k[path[k]] += weight
        out.append(at_k / at_k.sum() @ params.report)
    return np.array(out)


def small_hsmm() -> HmmParams:
    """Two classes, A with a minimum stay of 3 windows, B of 1, fitted from label sequences."""
    segments_like = HmmParams(
        states=("A", "B"), transition=np.array([[0.8, 0.2], [0.3, 0.7]]), initial=np.array([0.5, 0.5]),
        class_prior=np.array([0.6, 0.4]), emission=np.eye(2), report=np.eye(2), floor=1e-4,
        emission_weight=0.8, window=WINDOW, hop=HOP,
        source={"runs": {"A": {"count": 5, "p5": 6.0, "mean": 5.0},
                         "B": {"count": 5, "p5": 2.0, "mean": 3.3}}})
    return with_durations(segments_like, max_min_windows=3)


@pytest.mark.parametrize("lag", [0, 1, 2])
def test_fixed_lag_answers_equal_brute_force_over_all_paths(lag):
    params = small_hsmm()
    assert params.states == ("A", "B", "A.2", "A.3")
    probs = np.random.default_rng(lag).dirichlet([0.5, 0.5], size=7)
    decoder = HmmDecoder(params, lag)
    got = []
    for p in probs:
        decoder.update(p)
        got.append(decoder.class_probs)
    np.testing.assert_allclose(got, brute_force(params, probs, lag), rtol=1e-9)


def test_an_answer_depends_only_on_the_windows_up_to_lag_after_it(hsmm):
    rng = np.random.default_rng(3)
    shared = rng.dirichlet(np.full(len(ACTIVITIES), 0.3), size=20)
    for lag in (0, 2):
        answers = []
        for _ in range(2):
            decoder = HmmDecoder(hsmm, lag)
            probs = np.vstack([shared, rng.dirichlet(np.full(len(ACTIVITIES), 0.3), size=10)])
            answers.append([decoder.update(p) for p in probs])
        # the answer given after window t is for window t - lag: windows after t never change it
        assert answers[0][:20] == answers[1][:20]


def test_decoder_cli_stores_the_duration_decoder_and_stream_runs_it_as_the_default(bundle_copy, hapt_raw,
                                                                                    segments, tmp_path):
    with pytest.raises(EdgeharError, match="no decoder for --smooth hsmm"):
        make_smoother("hsmm", bundle_copy)
    done = edgehar("decoder", str(bundle_copy.path), "--hapt", str(hapt_raw), "--subjects", "1,3,5",
                   "--default-smooth", "hsmm:1@0.5")
    assert done.returncode == 0, done.stderr
    assert "duration decoder with" in done.stdout
    reloaded = Bundle.load(bundle_copy.path)
    smoother = make_smoother(reloaded.smoothing, reloaded)
    assert smoother.spec == "hsmm:1@0.5" and smoother.lag == 1 and smoother.params.emission_weight == 0.5
    fitted = estimate_hsmm(segments, ACTIVITIES, window=WINDOW, hop=HOP, subjects=[1, 3, 5])
    assert smoother.params.states == fitted.states
    np.testing.assert_array_equal(smoother.params.transition, fitted.transition)
    stored = json.loads(json.dumps(fitted.to_metadata()))
    assert HmmParams.from_metadata(stored, ACTIVITIES, "x", "hsmm").to_metadata() == stored
    assert streamed_smoothing(reloaded) == "hsmm:1@0.5"
    # the firmware runs the decoder of the default smoothing, at its emission weight
    write_firmware(reloaded, tmp_path / "fw")
    header = (tmp_path / "fw" / "src" / "edgehar_hmm_params.h").read_text()
    assert f"#define EDGEHAR_HMM_STATES {len(fitted.states)}" in header
    assert "#define EDGEHAR_HMM_EMISSION_WEIGHT 0.5f" in header


@pytest.mark.parametrize("spec", ["hmm@0", "hmm:1@x", "hsmm:1@inf", "vote:5@0.5", "hsmm:-1", "hsmm:1:2"])
def test_bad_decoder_specs_are_refused_by_name(spec):
    with pytest.raises(EdgeharError, match=f"bad --smooth '{spec}'"):
        make_smoother(spec, Bundle.default())


def test_hmm_specs_with_an_emission_weight_run_the_stored_decoder_at_that_weight():
    smoother = make_smoother("hmm:1@0.3", Bundle.default())
    assert smoother.spec == "hmm:1@0.3" and smoother.lag == 1 and smoother.params.emission_weight == 0.3


def test_a_posture_change_the_model_does_not_call_a_transition_is_still_followed(segments):
    """A twelve-class model that misses the transition (LIE_TO_STAND never above 0) still moves the
    decoder from LAYING to STANDING through its transition state, trusted half: it is not held
    in the laying's "other" state."""
    twelve = estimate_hsmm(segments, HAPT_ACTIVITIES, window=WINDOW, hop=HOP)
    assert twelve.states[:12] == HAPT_ACTIVITIES

    def sure12(k):  # int8 outputs: the transitions exactly 0
        p = np.zeros(len(HAPT_ACTIVITIES))
        p[:len(ACTIVITIES)] = 0.01
        p[k] = 1 - 0.01 * (len(ACTIVITIES) - 1)
        return p

    decoded = decode(HmmDecoder(twelve, 1), [sure12(LAY)] * 15 + [sure12(STAND)] * 15)
    to_stand = {STAND, HAPT_ACTIVITIES.index("LIE_TO_STAND")}
    assert set(decoded[:15]) == {LAY} and set(decoded[18:]) <= to_stand
