"""Many devices' streams through the pipeline at once: the gateway's batches of node messages.

For a batch (at most one message of each device per round), :func:`classify_batch`

- checks every message at once, with numpy over all their samples: a message takes the streamer's
  usual path (:meth:`Streamer.fast_state`: the next 50 Hz grid points, after the last sample,
  within the limits) or, for anything else (a new device, a gap, a clock restart, jitter, a sample
  held back, an impossible value, a text payload), goes through its device's :meth:`Streamer.feed`,
  whose checks decide as they always do; either way the device's state moves on alike;
- preprocesses the held blocks of every device whose window is due in one pass
  (:meth:`Preprocessor.push_many`: one matrix product per filter block position for all of them);
- classifies every window completed in one interpreter call and makes each device's results in
  order (:class:`DeviceStreamer`).

The numbers are those of one :class:`Streamer` per device fed message by message, bit for bit
(tests/test_gateway_vectorised.py).
"""

from __future__ import annotations

import numpy as np

from edgehar.preprocess.pipeline import Preprocessor
from edgehar.runtime.interpreter import TFLiteClassifier
from edgehar.runtime.stream import Result, Streamer

_UNLABELLED = np.zeros(256, np.int16)
_UNLABELLED.flags.writeable = False


class DeviceStreamer(Streamer):
    """A device's :class:`Streamer` whose windows wait (:attr:`waiting`) to be classified together
    with other devices' windows; :meth:`results` then finishes them in order. Windows still waiting
    when a segment ends (a gap, a resync) are classified then, before the decoder starts again."""

    def __init__(self, *args, **kwargs):
        self.waiting: list[tuple] = []
        """(window, truth, end, arrived) of each window completed but not classified yet."""
        self._done: list[Result] = []
        super().__init__(*args, **kwargs)

    def _classify(self, window, truth, end: int, arrived: float) -> None:
        self.waiting.append((np.array(window), truth, end, arrived))  # a copy: the rows move on

    def _start_segment(self, t0: float, step: float | None) -> None:
        if self.waiting:
            self._done += self.results(self.classifier.predict(np.stack([w[0] for w in self.waiting])))
        super()._start_segment(t0, step)

    @property
    def grid_check(self) -> tuple[float, float, np.ndarray]:
        """(rate_hz, tolerance of a grid point, bounds of |sample|) of the usual path's check,
        once a sample was accepted (:meth:`Streamer.fast_state`)."""
        return self.rate_hz, self._resampler.tol, self._bounds

    def hold_usual(self, t: np.ndarray, x: np.ndarray) -> bool:
        """Samples that a check of the whole batch found on the usual path: counted and held as
        :meth:`feed` does; whether a window is now due."""
        self._count_usual(t)
        return self._hold(t, x, _UNLABELLED[:len(t)], True)

    def due_block(self) -> tuple[Preprocessor, np.ndarray]:
        """The preprocessor and the held raw grid samples, taken, once a window is due."""
        return self._pre, self._take_block()[0]

    def windows_of(self, features: np.ndarray, arrived: float) -> None:
        """The due block's features (preprocessed with other devices'): its windows wait."""
        self._windows(features, None, arrived, [])

    def results(self, probs: np.ndarray) -> list[Result]:
        """The results since the last call: the waiting windows' (``probs``, one row each) last."""
        done = self._done + [self._result(p, truth, end, arrived)
                             for p, (_, truth, end, arrived) in zip(probs, self.waiting, strict=True)]
        self._done, self.waiting = [], []
        return done


def classify_batch(classifier: TFLiteClassifier, streamers: list[DeviceStreamer], joined,
                   arrived: list[float]) -> list[list[Result]]:
    """Feed message i (``joined``: :class:`~edgehar.services.gateway.Joined`) to ``streamers[i]``,
    arrived at ``arrived[i]``; classify every window completed in one call; message i's results
    (a device's windows all go to its first message of the batch)."""
    first: dict[int, int] = {}
    seen: dict[int, int] = {}
    rounds: list[list[int]] = []  # a device's second message in a batch waits for the next round
    for i, streamer in enumerate(streamers):
        first.setdefault(id(streamer), i)
        depth = seen[id(streamer)] = seen.get(id(streamer), -1) + 1
        if depth == len(rounds):
            rounds.append([])
        rounds[depth].append(i)
    for messages in rounds:
        _feed([streamers[i] for i in messages], joined, messages, [arrived[i] for i in messages])
    owners = list(first.values())
    windows = [w[0] for i in owners for w in streamers[i].waiting]
    probs = classifier.predict(np.stack(windows)) if windows else []
    out: list[list[Result]] = [[] for _ in streamers]
    start = 0
    for i in owners:
        streamer = streamers[i]
        start += len(streamer.waiting)
        out[i] = streamer.results(probs[start - len(streamer.waiting):start])
    return out


def _feed(streamers: list[DeviceStreamer], joined, messages: list[int], arrived: list[float]) -> None:
    """Feed messages of distinct devices: the usual ones checked and held together, their due
    blocks preprocessed together; the others through :meth:`Streamer.feed`."""
    fast = _usual(streamers, joined, messages)
    starts, ends = joined.starts[messages].tolist(), joined.ends[messages].tolist()
    due = []
    for streamer, ok, a, b, i, when in zip(streamers, fast, starts, ends, messages, arrived, strict=True):
        if ok:
            if streamer.hold_usual(joined.t[a:b].copy(), joined.x[a:b].copy()):  # (copies: the batch goes)
                due.append((streamer, when))
        elif (chunk := joined.chunks[i]) is None:
            streamer.feed(joined.t[a:b], joined.x[a:b], when)  # (feed copies)
        else:
            streamer.note_skipped(chunk.skipped)
            streamer.feed(chunk.t, chunk.x, when)
    if due:
        preprocessors, raws = zip(*(streamer.due_block() for streamer, _ in due), strict=True)
        features = Preprocessor.push_many(list(preprocessors), list(raws))
        for (streamer, when), rows in zip(due, features, strict=True):
            streamer.windows_of(rows, when)


def _usual(streamers: list[DeviceStreamer], joined, messages: list[int]) -> list[bool]:
    """Whether each of ``messages`` takes its streamer's usual path (:meth:`Streamer.fast_state`),
    checked at once over all the batch's samples."""
    m = len(joined.starts)
    last_t, t0, k = np.full(m, np.inf), np.full(m, np.nan), np.zeros(m, np.int64)
    n = joined.ends - joined.starts
    check = None
    for streamer, i, size in zip(streamers, messages, n[messages].tolist(), strict=True):
        if size > 1 and joined.chunks[i] is None and (state := streamer.fast_state()) is not None:
            last_t[i], t0[i], k[i] = state
            check = streamer.grid_check  # (one bundle: the same for every device)
    if check is None:
        return [False] * len(messages)
    rate_hz, tol, bounds = check
    place = np.arange(len(joined.t)) - np.repeat(joined.starts, n)  # each sample's place in its message
    grid = np.repeat(t0, n) + (np.repeat(k, n) + place) / rate_hz  # Resampler.on_grid's points
    bad = ~((np.abs(joined.t - grid) <= tol) & (np.abs(joined.x) <= bounds).all(axis=1))  # NaN: bad
    bad = np.concatenate([[0], np.cumsum(bad)])
    first_t = joined.t[np.minimum(joined.starts, len(joined.t) - 1)]  # (an empty message's last_t: inf)
    return ((bad[joined.ends] == bad[joined.starts]) & (first_t > last_t))[messages].tolist()
