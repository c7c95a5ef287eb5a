"""Score a stream the way its user lives with it: labelled recordings streamed window by window.

A :class:`StreamedRecording` is one continuous recording as the runtime saw it: the class
probabilities of every window it classified, where each window lies, and the label of every
sample (HAPT activity ids: 1..6 activities, 7..12 postural transitions, 0 unlabelled).
:func:`live_scores` runs a smoother over those probabilities, as ``edgehar stream --smooth``
would, and measures:

- window accuracy, macro-F1 and per-class recall on windows lying wholly inside one activity;
- label changes per minute, against the wearer's own rate (changes between consecutive
  labelled activities);
- detection delay: seconds from the start of each new activity to the moment the stream
  first labels a window ending inside it with that activity (a change not detected before
  the activity ends is counted as missed; a fixed-lag smoother says each label later);
- what the stream says on windows that touch a postural transition.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from edgehar.runtime.smoothing import make_smoother
from edgehar.spec import ACTIVITIES


@dataclass(frozen=True)
class StreamedRecording:
    """What the runtime produced for one recording, with the recording's sample labels."""

    name: str
    subject: int
    probs: np.ndarray
    """(windows, classes) probabilities, in stream order."""
    start: np.ndarray
    end: np.ndarray
    """Sample index of each window's first sample and one past its last."""
    sample_labels: np.ndarray
    rate_hz: float

    @property
    def minutes(self) -> float:
        return len(self.sample_labels) / self.rate_hz / 60

    def window_truth(self, classes) -> np.ndarray:
        """Class index of windows wholly inside one activity that is a class, else -1."""
        truth = np.full(len(self.start), -1)
        for i, (a, b) in enumerate(zip(self.start, self.end, strict=True)):
            labels = self.sample_labels[a:b]
            if len(labels) and (labels == labels[0]).all() and 1 <= labels[0] <= len(ACTIVITIES):
                name = ACTIVITIES[labels[0] - 1]
                truth[i] = classes.index(name) if name in classes else -1
        return truth

    def touches_transition(self) -> np.ndarray:
        return np.array([(self.sample_labels[a:b] >= 7).any() for a, b in zip(self.start, self.end,
                                                                              strict=True)], dtype=bool)

    def activity_runs(self) -> list[tuple[int, int, int]]:
        """(activity 1..6, start, end) of each labelled activity stretch, in time order."""
        labels = self.sample_labels
        edges = np.flatnonzero(np.diff(labels)) + 1
        runs = zip(np.r_[0, edges], np.r_[edges, len(labels)], strict=True)
        return [(int(labels[a]), int(a), int(b)) for a, b in runs if 1 <= labels[a] <= len(ACTIVITIES)]


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


def live_scores(recordings: list[StreamedRecording], classes, spec: str = "none",
                new_smoother: Callable[[], object] | None = None) -> dict:
    """Window accuracy, macro-F1, recall per class, label changes per minute, detection delay
    and labels on postural transitions, pooled over ``recordings``, after smoothing ``spec``
    (made by ``new_smoother`` when given, e.g. a decoder fitted elsewhere)."""
    classes = tuple(classes)
    new_smoother = new_smoother or (lambda: make_smoother(spec))
    truth, predicted, delays, missed, changes, true_changes, minutes = [], [], [], 0, 0, 0, 0.0
    during_transitions: Counter = Counter()
    for rec in recordings:
        labels, known_at = smooth(rec, new_smoother)
        truth.append(rec.window_truth(classes))
        predicted.append(labels)
        changes += int(np.count_nonzero(np.diff(labels)))
        minutes += rec.minutes
        during_transitions.update(classes[k] for k in labels[rec.touches_transition()])
        runs = rec.activity_runs()
        for (before, _, _), (activity, start, end) in zip(runs, runs[1:], strict=False):
            if activity == before:
                continue
            true_changes += 1
            name = ACTIVITIES[activity - 1]
            hits = np.flatnonzero((rec.end > start) & (rec.end <= end) & (labels == classes.index(name))) \
                if name in classes else []
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
    }
