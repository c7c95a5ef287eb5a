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
dropped; ``source["moves"]`` keeps every count seen.
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
                 source: dict | None = None) -> HmmParams:
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
                emission_weight=emission_weight,
                source={**(source or {}), "subjects": sorted({s.subject for s in segments}),
                        "experiments": len({s.experiment for s in segments})})


def estimate_hmm_recordings(recordings, class_map, *, window: int, hop: int,
                            subjects: Iterable[str] | None = None, alpha: float = DEFAULT_ALPHA,
                            floor: float = DEFAULT_FLOOR, emission_weight: float = DEFAULT_EMISSION_WEIGHT,
                            source: dict | None = None) -> HmmParams:
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
                emission_weight=emission_weight,
                source={**(source or {}), "subjects": sorted({r.subject for r in recordings}),
                        "recordings": len(recordings)})


def _fit(sequences: list[np.ndarray], states: tuple[str, ...], classes: tuple[str, ...], *, window: int,
         hop: int, alpha: float, floor: float, emission_weight: float, source: dict) -> HmmParams:
    """The decoder from per-recording sequences of window states (-1: unlabelled, skipped)."""
    if alpha <= 0:
        raise DataError(f"alpha {alpha} must be > 0 (every allowed move keeps some probability)")
    index = {name: i for i, name in enumerate(states)}
    allowed = allowed_moves(states)
    moves = np.zeros((len(states),) * 2)
    visits = np.zeros(len(states))
    for seq in sequences:
        seq = seq[seq >= 0]
        np.add.at(visits, seq, 1)
        np.add.at(moves, (seq[:-1], seq[1:]), 1)
    if not visits.any():
        raise DataError(f"no labelled window is one of the classes {list(classes)}")
    counts = np.where(allowed, moves + alpha, 0.0)
    frequency = (visits + alpha) / (visits + alpha).sum()
    K = len(classes)
    emission = np.zeros((len(states), K))
    report = np.zeros((len(states), K))
    for i, name in enumerate(states):
        if i < K:
            emission[i, i] = report[i, i] = 1.0
        else:
            before, after = POSTURAL_TRANSITIONS[name]
            emission[i, [index[before], index[after]]] = 0.5
            report[i, index[after]] = 1.0
    return HmmParams(
        states=states, transition=counts / counts.sum(axis=1, keepdims=True), initial=frequency,
        class_prior=frequency[:K] / frequency[:K].sum(), emission=emission, report=report,
        floor=floor, emission_weight=emission_weight, window=window, hop=hop,
        source={**source, "windows": int(visits.sum()),
                "moves": {f"{states[i]}>{states[j]}": int(moves[i, j]) for i, j in np.argwhere(moves)
                          if i != j},
                "alpha": alpha})


def add_decoder(bundle: Bundle, raw_dir: Path, *, subjects: Iterable[int] | None = None,
                alpha: float = DEFAULT_ALPHA, floor: float = DEFAULT_FLOOR,
                emission_weight: float = DEFAULT_EMISSION_WEIGHT) -> Bundle:
    """Estimate the decoder from a HAPT ``RawData`` folder's labels.txt and store it in the bundle."""
    labels = Path(raw_dir) / "labels.txt"
    params = estimate_hmm(read_hapt_labels(labels), bundle.classes, window=bundle.window, hop=bundle.hop,
                          subjects=subjects, alpha=alpha, floor=floor, emission_weight=emission_weight,
                          source={"labels": labels.name})
    return bundle.update_metadata(decoder=params.to_metadata())


def add_decoder_from_recordings(bundle: Bundle, folder: Path, *, subjects: Iterable[str] | None = None,
                                alpha: float = DEFAULT_ALPHA, floor: float = DEFAULT_FLOOR,
                                emission_weight: float = DEFAULT_EMISSION_WEIGHT) -> Bundle:
    """Estimate the decoder from the label sequences of the recordings in ``folder``, labelled by
    the bundle's class map, and store it in the bundle."""
    from edgehar.data.labelled import labelled_recordings

    recordings, class_map = labelled_recordings(bundle, folder)
    params = estimate_hmm_recordings(recordings, class_map, window=bundle.window, hop=bundle.hop,
                                     subjects=subjects, alpha=alpha, floor=floor,
                                     emission_weight=emission_weight, source={"folder": str(folder)})
    return bundle.update_metadata(decoder=params.to_metadata())
