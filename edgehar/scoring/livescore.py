"""Score a stream the way its user lives with it: labelled recordings streamed window by window.

A :class:`StreamedRecording` is one continuous recording as the runtime saw it: the class
probabilities of every window it classified, where each window lies, and the label of every
sample as a code into its ``label_names`` (0 unlabelled, k -> ``label_names[k - 1]``; by
default HAPT's ids: 1..6 activities, 7..12 postural transitions). Which labels make which
class is a class map (``members``: class -> the labels it takes; default: each class takes
the label of its own name). :func:`live_scores` runs a smoother over those probabilities, as
``edgehar stream --smooth`` would, and measures:

- window accuracy, macro-F1 and per-class recall on windows lying wholly inside one class;
- label changes per minute, against the wearer's own rate (changes between consecutive
  labelled stretches of different classes);
- detection delay: seconds from the start of each new class to the moment the stream
  first labels a window ending inside it with that class (a change not detected before
  the stretch ends is counted as missed; a fixed-lag smoother says each label later);
- what the stream says on windows that touch a transition: a sample labelled with a
  postural transition's name (HAPT's STAND_TO_SIT, ..., even when it is a class) or with
  a label that makes no class. Unlabelled samples are neither scored nor counted there.

A model that outputs transitions (:mod:`edgehar.runtime.activity`) is scored on the activity each
label stands for (a transition: its destination posture; ``TRANSITION``: the activity said
before), over its activity classes: all of the above counts activities. Its transition outputs
are scored apart: ``transition_recall`` is the share of windows whose centre sample lies in a
postural transition that the stream labels with that transition (its name, or ``TRANSITION``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from edgehar.runtime.activity import TRANSITION, ActivityLabels, activity_classes, is_transition
from edgehar.runtime.smoothing import make_smoother
from edgehar.spec import HAPT_ACTIVITIES, POSTURAL_TRANSITIONS, class_of_label


def label_classes(label_names, classes, members: Mapping[str, tuple[str, ...]] | None = None) -> np.ndarray:
    """Class index of each label code (0 unlabelled, k -> ``label_names[k - 1]``), -1 where no class.

    ``members``: class -> the labels it takes; a class not in it takes its own name."""
    of_label = class_of_label(classes, members)
    return np.array([-1] + [of_label.get(name, -1) for name in label_names], dtype=np.int64)


@dataclass(frozen=True)
class StreamedRecording:
    """What the runtime produced for one recording, with the recording's sample labels."""

    name: str
    subject: int | str
    probs: np.ndarray
    """(windows, classes) probabilities, in stream order."""
    start: np.ndarray
    end: np.ndarray
    """Sample index of each window's first sample and one past its last."""
    sample_labels: np.ndarray
    """(samples,) label codes: 0 unlabelled, k -> ``label_names[k - 1]``."""
    rate_hz: float
    label_names: tuple[str, ...] = HAPT_ACTIVITIES

    @property
    def minutes(self) -> float:
        return len(self.sample_labels) / self.rate_hz / 60

    def sample_classes(self, classes, members=None) -> np.ndarray:
        """Class index of every sample, -1 where unlabelled or its label makes no class."""
        return label_classes(self.label_names, classes, members)[self.sample_labels]

    def window_truth(self, classes, members=None) -> np.ndarray:
        """Class index of windows wholly inside one class, else -1."""
        of_sample = self.sample_classes(classes, members)
        truth = np.full(len(self.start), -1)
        for i, (a, b) in enumerate(zip(self.start, self.end, strict=True)):
            labels = of_sample[a:b]
            if len(labels) and (labels == labels[0]).all():
                truth[i] = labels[0]
        return truth

    def touches_transition(self, classes=None, members=None) -> np.ndarray:
        """Windows touching a sample labelled with a postural transition's name or, when
        ``classes`` are given, with a label that makes no class."""
        unscored = np.array([False] + [name in POSTURAL_TRANSITIONS for name in self.label_names])
        if classes is not None:
            unscored |= label_classes(self.label_names, classes, members) < 0
            unscored[0] = False
        of_sample = unscored[self.sample_labels]
        return np.array([of_sample[a:b].any() for a, b in zip(self.start, self.end, strict=True)], dtype=bool)

    def class_runs(self, classes, members=None) -> list[tuple[int, int, int]]:
        """(class index, start, end) of each stretch of samples of one class, in time order."""
        labels = self.sample_classes(classes, members)
        edges = np.flatnonzero(np.diff(labels)) + 1
        runs = zip(np.r_[0, edges], np.r_[edges, len(labels)], strict=True)
        return [(int(labels[a]), int(a), int(b)) for a, b in runs if labels[a] >= 0]


def smooth(recording: StreamedRecording, new_smoother) -> tuple[np.ndarray, np.ndarray]:
    """Class index per window after a fresh smoother from ``new_smoother()``, and the sample
    index at which the stream said it. A smoother with a ``lag`` of L windows answers for
    each window L windows later (the last L windows take its final answer)."""
    smoother = new_smoother()
    said = np.array([smoother.update(p) for p in recording.probs], dtype=np.int64)
    lag = min(getattr(smoother, "lag", 0), len(said))
    if not lag:
        return said, recording.end
    labels = np.concatenate([said[lag:], np.repeat(said[-1:], lag)])
    known_at = np.concatenate([recording.end[lag:], np.repeat(recording.end[-1:], lag)])
    return labels, known_at


def activity_indices(recording: StreamedRecording, labels: np.ndarray, classes) -> np.ndarray:
    """Index into ``activity_classes(classes)`` of the activity each window's label (a class
    index, in stream order) stands for."""
    tracker, activities = ActivityLabels(classes), activity_classes(classes)
    return np.array([activities.index(tracker.of(classes[k], p)) for k, p in zip(labels, recording.probs,
                                                                                  strict=True)],
                    dtype=np.int64)


def transition_hits(recording: StreamedRecording, labels: np.ndarray, classes) -> tuple[int, int]:
    """(windows whose centre sample is labelled a postural transition, those of them labelled with
    that transition or ``TRANSITION``)."""
    names = np.array([""] + list(recording.label_names))
    centre = names[recording.sample_labels[recording.start + (recording.end - recording.start) // 2]]
    inside = np.isin(centre, list(POSTURAL_TRANSITIONS))
    said = np.array(classes)[labels]
    return int(inside.sum()), int((inside & ((said == centre) | (said == TRANSITION))).sum())


def live_scores(recordings: list[StreamedRecording], classes, spec: str = "none",
                new_smoother: Callable[[], object] | None = None,
                members: Mapping[str, tuple[str, ...]] | None = None) -> dict:
    """Window accuracy, macro-F1, recall per class, label changes per minute, detection delay
    and labels on transitions, pooled over ``recordings``, after smoothing ``spec`` (made by
    ``new_smoother`` when given, e.g. a decoder fitted elsewhere), all over the activities the
    labels stand for; the recall of transition outputs, when the model has any; ``members``:
    which labels make each class (default: its own name)."""
    all_classes = tuple(classes)
    classes = activity_classes(all_classes)
    new_smoother = new_smoother or (lambda: make_smoother(spec))
    truth, predicted, delays, missed, changes, true_changes, minutes = [], [], [], 0, 0, 0, 0.0
    in_transition = transition_said = 0
    during_transitions: Counter = Counter()
    for rec in recordings:
        said, known_at = smooth(rec, new_smoother)
        inside, hits = transition_hits(rec, said, all_classes)
        in_transition, transition_said = in_transition + inside, transition_said + hits
        labels = activity_indices(rec, said, all_classes)
        truth.append(rec.window_truth(classes, members))
        predicted.append(labels)
        changes += int(np.count_nonzero(np.diff(labels)))
        minutes += rec.minutes
        during_transitions.update(classes[k] for k in labels[rec.touches_transition(classes, members)])
        runs = rec.class_runs(classes, members)
        for (before, _, _), (now, start, end) in zip(runs, runs[1:], strict=False):
            if now == before:
                continue
            true_changes += 1
            hits = np.flatnonzero((rec.end > start) & (rec.end <= end) & (labels == now))
            if len(hits):
                delays.append((known_at[hits[0]] - start) / rec.rate_hz)
            else:
                missed += 1
    truth, predicted = np.concatenate(truth), np.concatenate(predicted)
    scored = truth >= 0
    t, p = truth[scored], predicted[scored]
    recall = {name: float((p[t == k] == k).mean()) for k, name in enumerate(classes) if (t == k).any()}
    f1 = []
    for k in range(len(classes)):
        tp, fp, fn = ((p == k) & (t == k)).sum(), ((p == k) & (t != k)).sum(), ((p != k) & (t == k)).sum()
        if tp + fn:
            f1.append(2 * tp / (2 * tp + fp + fn))
    delays = np.array(delays)
    transition_windows = sum(during_transitions.values())
    return {
        "smoothing": spec,
        "recordings": len(recordings),
        "minutes": round(minutes, 2),
        "windows": int(len(truth)),
        "activity_windows": int(scored.sum()),
        "accuracy": float((t == p).mean()),
        "macro_f1": float(np.mean(f1)),
        "recall": recall,
        "label_changes_per_minute": changes / minutes,
        "true_changes_per_minute": true_changes / minutes,
        "changes_ratio": changes / true_changes if true_changes else None,
        "delay_s_median": float(np.median(delays)) if len(delays) else None,
        "delay_s_p90": float(np.percentile(delays, 90)) if len(delays) else None,
        "changes_detected": int(len(delays)),
        "changes_missed": missed,
        "transition_windows": transition_windows,
        "labels_on_transitions": {k: round(v / transition_windows, 4)
                                  for k, v in sorted(during_transitions.items())},
        "transition_recall": transition_said / in_transition
        if in_transition and any(map(is_transition, all_classes)) else None,
    }
