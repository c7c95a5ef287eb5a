"""Estimate the HMM decoder (:mod:`edgehar.runtime.hmm`) from labelled recordings.

Each recording's labels are read at the stream's window rate: window k covers samples
``[k * hop, k * hop + window)`` and takes the label of its centre sample. Windows whose
centre is unlabelled are skipped, so the move across an unlabelled gap counts once. Counts
of moves between consecutive windows, plus ``alpha`` for every allowed move (additive
smoothing, so an unseen move keeps a small probability), give the transition matrix; the
states' window frequencies (plus ``alpha``) give the initial distribution and the class prior.

Postures (SITTING, STANDING, LAYING) change only through a transition state when the
decoder has one between them: no direct move from one posture to another, a transition
``p -> q`` is entered only from ``p`` (or from a transition ending at ``p``) and left only
for ``q``, a transition starting at ``q``, or a non-posture class (e.g. WALKING). The few
moves in HAPT's labels that break this (STANDING then LAYING across an unlabelled gap) are
dropped; ``source["moves"]`` keeps every count seen, ``source["runs"]`` each state's runs of
consecutive windows (count, 5th percentile and mean length).

The duration decoder (``--smooth hsmm``) starts from an HMM estimated with an
``other_likelihood``, then :func:`with_durations` gives its states minimum stays. With an
``other_likelihood`` L, unlabelled windows are not skipped: each state ``s`` gets an "other"
state ``s+other`` for the unlabelled stretch after it (whatever the wearer did between two
labelled activities: turned round, paused, fiddled), estimated from those windows like any
state, entered only from ``s`` and left wherever ``s`` may go; it reports what ``s`` reports
(the wearer is taken to go on with the activity until another is clear) and its likelihood
is L for every window, where a class state's is its posterior over its prior (about 1/prior
when the model is sure, near 0 when it is sure of another class). A postural transition that
is no class of the model gets likelihood 1 for every window likewise: the model has never
seen one, so its posterior says nothing about it. One that is a class is trusted half
(``TRANSITION_TRUST``): its likelihood is the mean of 1 and its posterior over its prior, so a
posture change the model does not see as a transition (it misses one in five) still passes.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from edgehar.bundle import Bundle
from edgehar.data.recordings import LabelSegment, read_hapt_labels
from edgehar.errors import DataError
from edgehar.runtime.hmm import HmmParams
from edgehar.spec import HAPT_ACTIVITIES, POSTURAL_TRANSITIONS

DEFAULT_ALPHA = 1.0
DEFAULT_FLOOR = 1e-4
DEFAULT_EMISSION_WEIGHT = 1.0
DEFAULT_MIN_WINDOWS = 6
"""The duration decoder's longest minimum stay, in windows (see :func:`with_durations`)."""
TRANSITION_TRUST = 0.5
"""How far the duration decoder trusts a model's postural transition output (see the module doc)."""
OTHER = "+other"
"""The suffix of the name of a state's "other" state."""
DEFAULT_OTHER_LIKELIHOOD = 2.0
DEFAULT_HSMM_ALPHA = 0.03
"""The likelihood of the duration decoder's "other" states and its ``alpha``, chosen with
DEFAULT_MIN_WINDOWS on the live benchmark (tools/live_results.py; see docs/labels.md)."""


def decoder_states(classes: tuple[str, ...], taken: Iterable[str] = ()) -> tuple[str, ...]:
    """The classes, then every postural transition whose two postures are classes and that is
    neither a class nor a label a class takes (``taken``)."""
    taken = {*classes, *taken}
    return tuple(classes) + tuple(name for name, (a, b) in POSTURAL_TRANSITIONS.items()
                                  if name not in taken and a in classes and b in classes)


def allowed_moves(states: tuple[str, ...]) -> np.ndarray:
    """(S, S) bool: which moves between states the decoder may make (see the module doc)."""
    ends = {name: POSTURAL_TRANSITIONS[name] for name in states if name in POSTURAL_TRANSITIONS}
    postures = {p for pair in ends.values() for p in pair}
    allowed = np.ones((len(states),) * 2, dtype=bool)
    for i, a in enumerate(states):
        for j, b in enumerate(states):
            if a == b:
                continue
            if a in postures and b in postures:
                allowed[i, j] = False
            elif b in ends:
                allowed[i, j] = a == ends[b][0] or (a in ends and ends[a][1] == ends[b][0])
            elif a in ends:
                allowed[i, j] = b not in postures or b == ends[a][1]
    return allowed


def window_labels(segments: Iterable[LabelSegment], window: int, hop: int) -> np.ndarray:
    """HAPT activity (1..12) at the centre of each window of one recording, 0 where unlabelled."""
    segments = list(segments)
    end = max(s.end for s in segments)
    labels = np.zeros(end, dtype=np.int64)
    for s in segments:
        labels[s.start:s.end] = s.activity
    centres = np.arange(0, end - window + 1, hop) + window // 2
    return labels[centres]


def estimate_hmm(segments: Iterable[LabelSegment], classes: tuple[str, ...], *, window: int, hop: int,
                 subjects: Iterable[int] | None = None, alpha: float = DEFAULT_ALPHA,
                 floor: float = DEFAULT_FLOOR, emission_weight: float = DEFAULT_EMISSION_WEIGHT,
                 source: dict | None = None, other_likelihood: float | None = None) -> HmmParams:
    """The decoder for a model with ``classes``, from HAPT label segments (``subjects`` only, if given)."""
    segments = list(segments)
    if subjects is not None:
        missing = sorted(set(subjects) - {s.subject for s in segments})
        if missing:
            raise DataError(f"no labelled segments for subjects {missing}")
        segments = [s for s in segments if s.subject in set(subjects)]
    if not segments:
        raise DataError("no labelled segments")
    states = decoder_states(tuple(classes))
    index = {name: i for i, name in enumerate(states)}
    state_of = np.array([-1] + [index.get(name, -1) for name in HAPT_ACTIVITIES])
    sequences = [state_of[window_labels([s for s in segments if s.experiment == experiment], window, hop)]
                 for experiment in sorted({s.experiment for s in segments})]
    return _fit(sequences, states, tuple(classes), window=window, hop=hop, alpha=alpha, floor=floor,
                emission_weight=emission_weight, other_likelihood=other_likelihood,
                source={**(source or {}), "subjects": sorted({s.subject for s in segments}),
                        "experiments": len({s.experiment for s in segments})})


def estimate_hmm_recordings(recordings, class_map, *, window: int, hop: int,
                            subjects: Iterable[str] | None = None, alpha: float = DEFAULT_ALPHA,
                            floor: float = DEFAULT_FLOOR, emission_weight: float = DEFAULT_EMISSION_WEIGHT,
                            source: dict | None = None, other_likelihood: float | None = None) -> HmmParams:
    """The decoder for a model trained with ``class_map`` (a ``ClassMap``), from the label
    sequences of ``recordings`` (``Recording``; those of ``subjects`` only, if given): a sample's
    state is the class its label makes, or the postural transition it names when that is a state
    of its own (see :func:`decoder_states`); windows as in :func:`window_labels`, so that a HAPT
    folder read as recordings gives the decoder :func:`estimate_hmm` gives from its labels.txt."""
    recordings = list(recordings)
    if subjects is not None:
        subjects = [str(s) for s in subjects]
        missing = sorted(set(subjects) - {r.subject for r in recordings})
        if missing:
            raise DataError(f"no recordings of subjects {missing}")
        recordings = [r for r in recordings if r.subject in subjects]
    of_label = class_map.labels
    states = decoder_states(class_map.classes, of_label)
    index = {name: i for i, name in enumerate(states)}
    sequences = []
    for r in recordings:
        state_of = np.array([-1] + [index[of_label[name]] if name in of_label else
                                    index.get(name, -1) if name in POSTURAL_TRANSITIONS else -1
                                    for name in r.label_names])
        end = np.flatnonzero(r.labels)[-1] + 1 if r.labels.any() else 0  # as window_labels: to the last label
        sequences.append(state_of[r.labels[:end]][np.arange(0, end - window + 1, hop) + window // 2])
    return _fit(sequences, states, class_map.classes, window=window, hop=hop, alpha=alpha, floor=floor,
                emission_weight=emission_weight, other_likelihood=other_likelihood,
                source={**(source or {}), "subjects": sorted({r.subject for r in recordings}),
                        "recordings": len(recordings)})


def other_sequence(seq: np.ndarray, states: int) -> np.ndarray:
    """``seq`` with each unlabelled window (-1) as the "other" state (``s + states``) of the last
    labelled state ``s`` before it (still -1 before the first)."""
    labelled = np.flatnonzero(seq >= 0)
    last = np.searchsorted(labelled, np.arange(len(seq)), side="right") - 1
    previous = np.where(last >= 0, seq[labelled[np.maximum(last, 0)]], -1)
    return np.where(seq >= 0, seq, np.where(previous >= 0, previous + states, -1))


def _fit(sequences: list[np.ndarray], states: tuple[str, ...], classes: tuple[str, ...], *, window: int,
         hop: int, alpha: float, floor: float, emission_weight: float, source: dict,
         other_likelihood: float | None = None) -> HmmParams:
    """The decoder from per-recording sequences of window states (-1: unlabelled: skipped, or
    with ``other_likelihood`` the "other" state of the state before, see the module doc)."""
    if alpha <= 0:
        raise DataError(f"alpha {alpha} must be > 0 (every allowed move keeps some probability)")
    if other_likelihood is not None and not other_likelihood > 0:
        raise DataError(f"other_likelihood {other_likelihood} must be > 0")
    S = len(states)
    allowed = allowed_moves(states)
    if other_likelihood is not None:
        sequences = [other_sequence(seq, S) for seq in sequences]
        stay = np.eye(S, dtype=bool)
        allowed = np.block([[allowed, stay], [allowed, stay]])
        states = states + tuple(name + OTHER for name in states)
    index = {name: i for i, name in enumerate(states)}
    moves = np.zeros((len(states),) * 2)
    visits = np.zeros(len(states))
    runs: dict[str, list[int]] = {}
    for seq in sequences:
        seq = seq[seq >= 0]
        np.add.at(visits, seq, 1)
        np.add.at(moves, (seq[:-1], seq[1:]), 1)
        edges = np.flatnonzero(np.diff(seq)) + 1
        for a, b in zip(np.r_[0, edges], np.r_[edges, len(seq)], strict=True):
            runs.setdefault(states[seq[a]], []).append(int(b - a))
    if not visits[:S].any():
        raise DataError(f"no labelled window is one of the classes {list(classes)}")
    counts = np.where(allowed, moves + alpha, 0.0)
    frequency = (visits + alpha) / (visits + alpha).sum()
    K = len(classes)
    prior = frequency[:K] / frequency[:K].sum()
    emission = np.zeros((len(states), K))
    report = np.zeros((len(states), K))
    for i, name in enumerate(states):
        if i < K:
            emission[i, i] = report[i, i] = 1.0
            if other_likelihood is not None and name in POSTURAL_TRANSITIONS:  # trusted half
                emission[i] = (1 - TRANSITION_TRUST) * prior + TRANSITION_TRUST * emission[i]
        elif i >= S:  # "other": likelihood other_likelihood whatever the window (at emission weight 1)
            emission[i] = other_likelihood * prior
            report[i] = report[i - S]
        else:
            before, after = POSTURAL_TRANSITIONS[name]
            if other_likelihood is None:
                emission[i, [index[before], index[after]]] = 0.5
            else:  # the model has no output for it: likelihood 1 whatever the window
                emission[i] = prior
            report[i, index[after]] = 1.0
    return HmmParams(
        states=states, transition=counts / counts.sum(axis=1, keepdims=True), initial=frequency,
        class_prior=prior, emission=emission, report=report,
        floor=floor, emission_weight=emission_weight, window=window, hop=hop,
        source={**source, "windows": int(visits[:S].sum()),
                "moves": {f"{states[i]}>{states[j]}": int(moves[i, j]) for i, j in np.argwhere(moves)
                          if i != j},
                "runs": {name: {"count": len(r), "p5": float(np.percentile(r, 5)), "mean": float(np.mean(r))}
                         for name, r in runs.items()},
                "alpha": alpha,
                **({} if other_likelihood is None else {"other_likelihood": other_likelihood})})


def with_durations(params: HmmParams, max_min_windows: int = DEFAULT_MIN_WINDOWS) -> HmmParams:
    """The duration decoder (kind ``hsmm``) made from the HMM ``params``: each state becomes a
    chain of ``n`` sub-states, ``n`` half the 5th percentile of its runs in the training labels
    (at least 1, at most ``max_min_windows``). The chain is walked one sub-state per window,
    so once entered the state lasts at least ``n`` windows; its last sub-state stays with the
    probability that keeps the state's mean stay what the HMM's self-transition gives
    (a geometric tail: beyond the minimum, leaving is as likely at any window, which holds for
    the wearer's day better than the protocol's stretch lengths), and leaves to the other
    states' first sub-states in the HMM's proportions. ``n = 1`` everywhere is the HMM itself.
    A state without runs in the labels keeps ``n = 1``, and so does an "other" state: how long
    the wearer spends between two activities is the recording protocol's, not the wearer's."""
    if max_min_windows < 1:
        raise DataError(f"max_min_windows {max_min_windows} must be >= 1")
    S = len(params.states)
    runs = params.source.get("runs", {})
    lengths = [int(np.clip(runs[name]["p5"] // 2, 1, max_min_windows))
               if name in runs and not name.endswith(OTHER) else 1 for name in params.states]
    chains, names = [], list(params.states)
    for s, n in enumerate(lengths):
        chains.append([s] + list(range(len(names), len(names) + n - 1)))
        names += [f"{params.states[s]}.{k}" for k in range(2, n + 1)]
    base = np.array([c[0] for c in chains for _ in c])  # the HMM state of every sub-state, in chain order
    order = np.array([i for c in chains for i in c])
    of_state = np.empty(len(names), dtype=np.int64)
    of_state[order] = base
    transition = np.zeros((len(names),) * 2)
    initial = np.zeros(len(names))
    for s, chain in enumerate(chains):
        for here, there in zip(chain, chain[1:], strict=False):
            transition[here, there] = 1.0
        last, stay = chain[-1], params.transition[s, s]
        mean = 1 / (1 - stay)  # the HMM's mean stay, in windows
        leave = 1 / max(1.0, mean - len(chain) + 1)
        transition[last, last] = 1 - leave
        others = np.delete(np.arange(S), s)
        transition[last, others] = leave * params.transition[s, others] / params.transition[s, others].sum()
        initial[last] = params.initial[s]  # a stream starts inside an activity, free to leave it
    return HmmParams(states=tuple(names), transition=transition, initial=initial,
                     class_prior=params.class_prior, emission=params.emission[of_state],
                     report=params.report[of_state], floor=params.floor,
                     emission_weight=params.emission_weight, window=params.window, hop=params.hop,
                     source={**params.source, "min_windows": dict(zip(params.states, lengths, strict=True)),
                             "max_min_windows": max_min_windows},
                     kind="hsmm")


def estimate_hsmm(segments: Iterable[LabelSegment], classes: tuple[str, ...], *, window: int, hop: int,
                  emission_weight: float = DEFAULT_EMISSION_WEIGHT, alpha: float = DEFAULT_HSMM_ALPHA,
                  other_likelihood: float = DEFAULT_OTHER_LIKELIHOOD,
                  max_min_windows: int = DEFAULT_MIN_WINDOWS, **kwargs) -> HmmParams:
    """The duration decoder from HAPT label segments (``kwargs`` as :func:`estimate_hmm` takes them)."""
    params = estimate_hmm(segments, classes, window=window, hop=hop, emission_weight=emission_weight,
                          alpha=alpha, other_likelihood=other_likelihood, **kwargs)
    return with_durations(params, max_min_windows)


def _store(bundle: Bundle, estimate, alpha: float | None) -> Bundle:
    """Store the HMM and the duration decoder ``estimate(**settings)`` gives in the bundle, with
    ``alpha`` or each one's default."""
    hmm = estimate(alpha=DEFAULT_ALPHA if alpha is None else alpha)
    hsmm = with_durations(estimate(alpha=DEFAULT_HSMM_ALPHA if alpha is None else alpha,
                                   other_likelihood=DEFAULT_OTHER_LIKELIHOOD), DEFAULT_MIN_WINDOWS)
    return bundle.update_metadata(decoder=hmm.to_metadata(), duration_decoder=hsmm.to_metadata())


def add_decoder(bundle: Bundle, raw_dir: Path, *, subjects: Iterable[int] | None = None,
                alpha: float | None = None, floor: float = DEFAULT_FLOOR,
                emission_weight: float = DEFAULT_EMISSION_WEIGHT) -> Bundle:
    """Estimate the decoders (the HMM and the duration decoder, both with ``emission_weight``) from
    a HAPT ``RawData`` folder's labels.txt and store them in the bundle."""
    labels = Path(raw_dir) / "labels.txt"
    segments = read_hapt_labels(labels)
    return _store(bundle, lambda **settings: estimate_hmm(
        segments, bundle.classes, window=bundle.window, hop=bundle.hop, subjects=subjects, floor=floor,
        emission_weight=emission_weight, source={"labels": labels.name}, **settings), alpha)


def add_decoder_from_recordings(bundle: Bundle, folder: Path, *, subjects: Iterable[str] | None = None,
                                alpha: float | None = None, floor: float = DEFAULT_FLOOR,
                                emission_weight: float = DEFAULT_EMISSION_WEIGHT) -> Bundle:
    """Estimate the decoders from the label sequences of the recordings in ``folder``, labelled by
    the bundle's class map, and store them in the bundle."""
    from edgehar.data.labelled import labelled_recordings

    recordings, class_map = labelled_recordings(bundle, folder)
    return _store(bundle, lambda **settings: estimate_hmm_recordings(
        recordings, class_map, window=bundle.window, hop=bundle.hop, subjects=subjects, floor=floor,
        emission_weight=emission_weight, source={"folder": str(folder)}, **settings), alpha)
