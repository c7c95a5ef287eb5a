"""The one preprocessing definition: raw IMU samples -> normalized model channels.

Training, offline evaluation, the live stream and the firmware all run this maths. It is
causal and keeps its filter state between calls, so feeding a recording sample by sample,
in chunks, or whole gives the same numbers (bit for bit: the state is float64 and the
filters run in blocks counted from the first sample in every case, see :class:`CausalFilter`).

Streaming needs only numpy: the filter recursion is written here, and the filter design
(scipy.signal, 80 MB on a Raspberry Pi) is stored in the pipeline by :meth:`Pipeline.preset`
and :meth:`Pipeline.with_design`; only a pipeline without a stored design designs at start.

Raw samples are rows of ``RAW_COLUMNS``: total acceleration in g and angular velocity in
rad/s at 50 Hz. Model channels are a subset of ``UCI_CHANNELS`` in that order:

- ``total_acc_*`` is the acceleration itself (after the optional noise stages);
- ``body_gyro_*`` is the angular velocity (after the optional noise stages);
- ``body_acc_*`` is total acceleration minus gravity, gravity being a causal Butterworth
  low-pass of it (``gravity_cutoff_hz``, order ``gravity_order``), as UCI HAR did offline.

The optional noise stages run first on all 6 raw columns: a causal running median of the last
``median_length`` samples, then a Butterworth low-pass (``noise_cutoff_hz``, ``noise_order``).
The ``uci9`` preset sets both as UCI HAR documents for its published windows (median filter,
3rd-order 20 Hz low-pass, then the 0.3 Hz gravity split), so that windows cut live from a
raw IMU look like the published ones.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from functools import cached_property, lru_cache

import numpy as np

from edgehar.spec import SAMPLE_RATE_HZ, UCI_CHANNELS

Design = tuple[tuple[tuple[float, ...], ...], tuple[tuple[float, ...], ...]]
"""A low-pass as (sos, zi): rows (b0, b1, b2, 1, a1, a2) per second-order section, and
the sections' state (2 per section) for a constant unit input (``sosfilt_zi``)."""

PRESETS = {
    # Model reads the 9 published channels; live, body_acc comes from the causal filter.
    "dataset9": dict(channels=UCI_CHANNELS, train_from="dataset"),
    # 9 channels, training windows re-derived causally from the stitched recordings.
    "causal9": dict(channels=UCI_CHANNELS, train_from="stream"),
    # Gyro + total acceleration only: nothing to separate, nothing to approximate.
    "raw6": dict(channels=UCI_CHANNELS[3:], train_from="stream"),
    # causal9 behind UCI HAR's documented noise filters: median of 3, 3rd-order 20 Hz low-pass.
    "uci9": dict(channels=UCI_CHANNELS, train_from="stream", median_length=3, noise_cutoff_hz=20.0),
}


@dataclass(frozen=True)
class Pipeline:
    """Parameters of the preprocessing; stored in every bundle's metadata."""

    name: str
    channels: tuple[str, ...]
    train_from: str = "stream"
    """'stream': training windows are made by this pipeline from stitched recordings;
    'dataset': training uses the published UCI HAR channels as they are."""
    sample_rate_hz: float = SAMPLE_RATE_HZ
    gravity_cutoff_hz: float = 0.3
    gravity_order: int = 3
    median_length: int | None = None
    """Running median over the last this many samples (odd, >= 3) before the low-pass; None: none."""
    noise_cutoff_hz: float | None = None
    noise_order: int = 3
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    gravity_design: Design | None = None
    noise_design: Design | None = None
    """Stored filter designs (see :data:`Design`); None: designed with scipy when needed."""

    def __post_init__(self):
        unknown = [c for c in self.channels if c not in UCI_CHANNELS]
        if unknown:
            raise ValueError(f"unknown channels {unknown}; choose from {UCI_CHANNELS}")
        if list(self.channels) != [c for c in UCI_CHANNELS if c in self.channels]:
            raise ValueError("channels must follow the UCI HAR order")
        if self.train_from not in ("stream", "dataset"):
            raise ValueError(f"train_from must be 'stream' or 'dataset', not {self.train_from!r}")
        if self.median_length is not None and (self.median_length < 3 or self.median_length % 2 == 0):
            raise ValueError(f"median_length must be odd and at least 3, not {self.median_length}")
        if self.noise_cutoff_hz is None and self.noise_design is not None:
            raise ValueError("noise_design given without noise_cutoff_hz")
        for what, design, order, cutoff in (
                ("gravity", self.gravity_design, self.gravity_order, self.gravity_cutoff_hz),
                ("noise", self.noise_design, self.noise_order, self.noise_cutoff_hz)):
            if design is not None and not _is_lowpass(np.array(design[0]), order, cutoff,
                                                      self.sample_rate_hz):
                raise ValueError(f"{what}_design is not an order-{order} {cutoff} Hz low-pass at "
                                 f"{self.sample_rate_hz} Hz; clear it and call with_design()")

    @classmethod
    def preset(cls, name: str, **overrides) -> Pipeline:
        if name not in PRESETS:
            raise ValueError(f"unknown pipeline {name!r}; choose from {sorted(PRESETS)}")
        return cls(name=name, **{**PRESETS[name], **overrides}).with_design()

    @classmethod
    def from_dict(cls, d: dict) -> Pipeline:
        """The inverse of :meth:`to_dict`; a dict without designs (older bundles) gives none."""
        d = dict(d)
        for key in ("channels", "mean", "std"):
            if d.get(key) is not None:
                d[key] = tuple(d[key])
        for key in ("gravity_design", "noise_design"):
            if d.get(key) is not None:
                d[key] = tuple(_rows(part) for part in d[key])
        return cls(**d)

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def channel_index(self) -> np.ndarray:
        """Positions of this pipeline's channels among the 9 UCI channels."""
        return np.array([UCI_CHANNELS.index(c) for c in self.channels])

    def with_design(self) -> Pipeline:
        """A copy storing its filter designs, made now with scipy.signal."""
        noise = None if self.noise_cutoff_hz is None else butterworth(
            self.noise_order, self.noise_cutoff_hz, self.sample_rate_hz)
        return replace(self, noise_design=noise, gravity_design=butterworth(
            self.gravity_order, self.gravity_cutoff_hz, self.sample_rate_hz))

    def for_published(self) -> Pipeline:
        """This pipeline as it applies to UCI HAR's published windows: without the noise stages
        (median, low-pass), which the dataset already applied to them."""
        return replace(self, median_length=None, noise_cutoff_hz=None, noise_design=None)

    def gravity_filter(self) -> tuple[np.ndarray, np.ndarray]:
        """(sos, zi) of the gravity low-pass: the stored design, else designed with scipy."""
        design = self.gravity_design or butterworth(self.gravity_order, self.gravity_cutoff_hz,
                                                    self.sample_rate_hz)
        return np.array(design[0]), np.array(design[1])

    def noise_filter(self) -> tuple[np.ndarray, np.ndarray] | None:
        """(sos, zi) of the noise low-pass, as :meth:`gravity_filter`; None without one."""
        if self.noise_cutoff_hz is None:
            return None
        design = self.noise_design or butterworth(self.noise_order, self.noise_cutoff_hz,
                                                  self.sample_rate_hz)
        return np.array(design[0]), np.array(design[1])

    def gravity_sos(self) -> np.ndarray:
        return self.gravity_filter()[0]

    def noise_sos(self) -> np.ndarray | None:
        noise = self.noise_filter()
        return None if noise is None else noise[0]

    def fit(self, features: np.ndarray) -> Pipeline:
        """Return a copy normalizing with the per-channel mean/std of ``features`` (..., C)."""
        flat = features.reshape(-1, features.shape[-1]).astype(np.float64)
        std = flat.std(axis=0)
        return replace(self, mean=tuple(flat.mean(axis=0).tolist()),
                       std=tuple(np.where(std > 1e-8, std, 1.0).tolist()))

    def normalize(self, features: np.ndarray, *, in_place: bool = False) -> np.ndarray:
        """Apply the stored normalization (identity when none was fitted) to a float32 copy of
        ``features``, or (``in_place``) to ``features`` itself, a float32 array the caller gives up."""
        features = np.asarray(features, np.float32) if in_place else np.array(features, np.float32)
        if self.mean is not None:
            mean, std = self._normalization
            features -= mean
            features /= std
        return features

    @cached_property
    def _normalization(self) -> tuple[np.ndarray, np.ndarray]:
        return np.float32(self.mean), np.float32(self.std)

    def start(self) -> Preprocessor:
        """A fresh stateful preprocessor (at stream start, or after a gap)."""
        return Preprocessor(self)

    def transform(self, raw: np.ndarray) -> np.ndarray:
        """Offline: run a fresh preprocessor over a whole continuous recording (n, 6)."""
        return self.start().push(raw)


def butterworth(order: int, cutoff_hz: float, rate_hz: float) -> Design:
    """A Butterworth low-pass designed by scipy.signal, as a :data:`Design`."""
    from scipy import signal

    sos = signal.butter(order, cutoff_hz, "lowpass", fs=rate_hz, output="sos")
    return _rows(sos), _rows(signal.sosfilt_zi(sos))


def _rows(matrix) -> tuple[tuple[float, ...], ...]:
    return tuple(tuple(float(v) for v in row) for row in matrix)


def _is_lowpass(sos: np.ndarray, order: int, cutoff_hz: float, rate_hz: float) -> bool:
    """Whether ``sos`` has the gain of that digital Butterworth low-pass (bilinear transform,
    prewarped cutoff) at 0 Hz, half the cutoff, the cutoff and above it."""
    if sos.shape != ((order + 1) // 2, 6) or not (sos[:, 3] == 1).all():
        return False
    f = np.array([0.0, 0.5 * cutoff_hz, cutoff_hz, 0.5 * (cutoff_hz + rate_hz / 2)])
    z = np.exp(-2j * np.pi * f / rate_hz)[:, None] ** np.arange(3)
    gain = np.abs(np.prod((z @ sos[:, :3].T) / (z @ sos[:, 3:].T), axis=1))
    ratio = np.tan(np.pi * f / rate_hz) / np.tan(np.pi * cutoff_hz / rate_hz)
    return bool(np.allclose(gain, (1 + ratio ** (2 * order)) ** -0.5, rtol=1e-6, atol=0))


class CausalFilter:
    """Second-order sections with persistent float64 state, run a block of samples at a time.

    The recursion is transposed direct form II, that of scipy.signal.sosfilt and of the C twin
    ``sos_step`` in firmware_export/edgehar_dsp.c. Being linear, ``BLOCK`` samples of it are
    one matrix product, ``[outputs; next state] = M @ [state; inputs]``, with M made once by
    running the recursion on unit states and unit impulses. Blocks count from the first
    sample and a partial last block is padded with zeros (which add exact zeros), so a
    sample's output never depends on how the input was cut: whole, in chunks or sample by
    sample, the numbers are the same bit for bit. They differ from running the recursion
    sample after sample by rounding only (below 1e-13 of the signal).

    The state starts as ``zi * first sample``: the filter's steady state for a signal that
    had always been at that value. Any number of channels, shaped (n, ...), filter together.
    """

    BLOCK = 64
    MANY_COLUMNS = 48
    """Columns of one product in :meth:`many`: OpenBLAS computes a product of under 2^18
    multiply-adds on the calling thread, a larger one on its threads, whose wake-ups on a busy
    or pinned core cost milliseconds (measured: 24 ms for 128 streams on the shared machine)."""

    def __init__(self, sos: np.ndarray, zi: np.ndarray):
        self.zi = np.asarray(zi, dtype=np.float64).reshape(-1)  # (2 * sections,)
        self._matrix = _block_matrix(_rows(np.asarray(sos, dtype=np.float64)), self.BLOCK)
        self.state = None
        """(2 * sections, channels) at the start of the current block; None before the first sample."""
        self._pending = None
        """The current block's samples so far (fewer than BLOCK)."""
        self._stacked = None
        """[state; block's samples, zero-padded]: the right-hand side of the product."""

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Filter ``x`` (n, ...) along time; returns float64 of the same shape."""
        x = np.asarray(x, dtype=np.float64)
        shape, x = x.shape, x.reshape(len(x), -1)
        if len(x) == 0:
            return x.reshape(shape)
        if self.state is None:
            self._begin(x)
        done = len(self._pending)
        order, block, stacked = len(self.zi), self.BLOCK, self._stacked
        if not done and len(x) == block:  # the usual call: one whole block
            stacked[:order], stacked[order:] = self.state, x
            out = self._matrix.dot(stacked)  # (the same BLAS product as @, without matmul's dispatch)
            self.state = out[block:]
            return out[:block].reshape(shape)
        if done:
            x = np.concatenate([self._pending, x])
        outputs = []
        for start in range(0, len(x), block):
            part = x[start:start + block]
            n = len(part)
            stacked[:order], stacked[order:order + n] = self.state, part
            if n < block:
                stacked[order + n:] = 0.0
            out = self._matrix.dot(stacked)  # (the same BLAS product as @, without matmul's dispatch)
            outputs.append(out[:n])
            if n == block:
                self.state = out[block:]
        self._pending = x[len(x) - len(x) % block:]
        y = outputs[0] if len(outputs) == 1 else np.concatenate(outputs)
        return y[done:].reshape(shape)

    def _begin(self, x: np.ndarray) -> None:
        """Start at the first samples ``x`` (n, channels)."""
        self.state, self._pending = self.zi[:, None] * x[0], x[:0]
        self._stacked = np.zeros((len(self.zi) + self.BLOCK, x.shape[1]))

    @staticmethod
    def many(filters: list[CausalFilter], xs: list[np.ndarray]) -> list[np.ndarray]:
        """``[f(x) for f, x in zip(filters, xs)]`` for filters of one design, each stream (n_i,
        channels) with its own state, in one matrix product per block position for all of them:
        every stream's columns stacked side by side. The same blocks, zero padding and state as
        :meth:`__call__`, so the same numbers wherever the BLAS computes each column of a product
        alike whatever the columns beside it (OpenBLAS does; tests check it)."""
        xs = [np.asarray(x, dtype=np.float64) for x in xs]
        for f, x in zip(filters, xs, strict=True):
            if f.state is None and len(x):
                f._begin(x)
        live = [i for i, x in enumerate(xs) if len(x)]
        outputs = list(xs)  # the empty ones stay as they are
        if not live:
            return outputs
        order, block = len(filters[live[0]].zi), CausalFilter.BLOCK
        joined = [np.concatenate([filters[i]._pending, xs[i]]) for i in live]
        lengths = np.array([len(x) for x in joined])
        blocks = -(-int(lengths.max()) // block)
        columns = joined[0].shape[1]
        stacked = np.zeros((order + blocks * block, len(live), columns))  # [state; samples], padded
        stacked[:order] = np.stack([filters[i].state for i in live], axis=1)
        for d, x in enumerate(joined):
            stacked[order:order + len(x), d] = x
        out = np.empty((blocks * block, len(live), columns))
        matrix = filters[live[0]]._matrix
        for b in range(blocks):
            rhs = np.concatenate([stacked[:order], stacked[order + b * block:order + (b + 1) * block]])
            flat, step = rhs.reshape(order + block, -1), CausalFilter.MANY_COLUMNS
            product = np.concatenate([matrix @ flat[:, c:c + step] for c in range(0, flat.shape[1], step)],
                                     axis=1).reshape(rhs.shape)
            out[b * block:(b + 1) * block] = product[:block]
            whole = lengths >= (b + 1) * block  # a partial block's state is made again with its rest
            stacked[:order, whole] = product[block:, whole]
        for d, i in enumerate(live):
            f, n = filters[i], lengths[d]
            f.state, f._pending = stacked[:order, d].copy(), joined[d][n - n % block:]
            outputs[i] = out[n - len(xs[i]):n, d]  # (the pending samples' outputs came before)
        return outputs


@lru_cache(maxsize=16)
def _block_matrix(sos: tuple[tuple[float, ...], ...], block: int) -> np.ndarray:
    """M (block + 2S, 2S + block) with ``[outputs; state after] = M @ [state before; inputs]``
    for ``block`` samples through the S sections ``sos``: the recursion run at once on every
    unit state (the first 2S columns) and every unit impulse (the others). Made once per
    design (a stream starts a filter at every gap), read-only."""
    order = 2 * len(sos)
    state = np.eye(order, order + block)  # rows: z0, z1 of section 0, then of section 1, ...
    x = np.eye(block, order + block, order)
    for s, (b0, b1, b2, _, a1, a2) in enumerate(sos):
        z0, z1 = state[2 * s], state[2 * s + 1]
        y = np.empty_like(x)
        for i, xi in enumerate(x):
            y[i] = b0 * xi + z0
            z0, z1 = b1 * xi - a1 * y[i] + z1, b2 * xi - a2 * y[i]
        state[2 * s], state[2 * s + 1], x = z0, z1, y
    matrix = np.concatenate([x, state])
    matrix.flags.writeable = False
    return matrix


class CausalMedian:
    """Running median of the last ``length`` samples of each channel, fed in blocks.

    The history starts as the first sample repeated (the steady state of a signal that had
    always been at that value), like the filters' state; the C twin is ``median_step`` in
    firmware_export/src/edgehar_dsp.c. A median picks one of its inputs: no rounding at all.
    """

    def __init__(self, length: int):
        self.length, self.history = length, None

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """The median of each sample with the ``length - 1`` before it, for a block (n, channels)."""
        return np.median(self._windows(x), axis=-1)

    def _windows(self, x: np.ndarray) -> np.ndarray:
        """Each sample's ``length`` samples (n, channels, length), the history moved on."""
        x = np.asarray(x, dtype=np.float64)
        if self.history is None:
            self.history = np.repeat(x[:1], self.length - 1, axis=0)
        padded = np.concatenate([self.history, x])
        self.history = padded[len(padded) - (self.length - 1):]
        return np.lib.stride_tricks.sliding_window_view(padded, self.length, axis=0)

    @staticmethod
    def many(medians: list[CausalMedian], xs: list[np.ndarray]) -> list[np.ndarray]:
        """``[m(x) for m, x in zip(medians, xs)]`` (of one length), in one median call."""
        windows = [m._windows(x) for m, x in zip(medians, xs, strict=True) if len(x)]
        out = np.median(np.concatenate(windows), axis=-1) if windows else None
        ends = np.cumsum([len(x) for x in xs]).tolist()
        return [out[end - len(x):end] if len(x) else np.asarray(x, dtype=np.float64)
                for x, end in zip(xs, ends, strict=True)]


class Preprocessor:
    """Streaming state of a :class:`Pipeline`: push raw rows, get model channels back.

    Filters exist only where the pipeline needs them and come from its stored designs, so
    streaming loads scipy.signal only for a pipeline that needs a filter it does not store.
    """

    def __init__(self, pipeline: Pipeline):
        self.pipeline = pipeline
        self._index = pipeline.channel_index
        self._select = len(self._index) < 9  # all nine are already in order
        noise = pipeline.noise_filter()
        self._median = CausalMedian(pipeline.median_length) if pipeline.median_length else None
        self._noise = CausalFilter(*noise) if noise is not None else None
        self._gravity = CausalFilter(*pipeline.gravity_filter()) if (self._index < 3).any() else None

    def push(self, raw: np.ndarray) -> np.ndarray:
        """Process rows (n, 6) of ax, ay, az, gx, gy, gz, or (n, k, 6) for k streams sampled in
        step (each keeps its own filter state); returns normalized (n, C) or (n, k, C) float32."""
        raw = np.asarray(raw, dtype=np.float64)
        raw = raw.reshape(-1, 6) if raw.ndim == 1 else raw
        if len(raw) == 0:
            return np.zeros((*raw.shape[:-1], len(self._index)), dtype=np.float32)
        if self._median is not None:
            raw = self._median(raw)
        if self._noise is not None:
            raw = self._noise(raw)
        return self._channels(raw, self._gravity(raw[..., :3]) if self._gravity is not None else None)

    def _channels(self, raw: np.ndarray, gravity: np.ndarray | None) -> np.ndarray:
        """The model channels of filtered rows (..., 6) whose acceleration has that ``gravity``
        (None: the model reads no body acceleration)."""
        acc = raw[..., :3]
        body = acc - gravity if gravity is not None else np.zeros_like(acc)
        nine = np.concatenate([body, raw[..., 3:], acc], axis=-1, dtype=np.float32)
        return self.pipeline.normalize(nine[..., self._index] if self._select else nine, in_place=True)

    @staticmethod
    def push_many(preprocessors: list[Preprocessor], raws: list[np.ndarray]) -> list[np.ndarray]:
        """``[p.push(raw) for p, raw in zip(preprocessors, raws)]`` for many independent streams of
        one pipeline (a gateway's devices), each rows (n_i, 6) with its own state: each stage runs
        once for all of them (:meth:`CausalFilter.many`, :meth:`CausalMedian.many`), the same
        numbers as stream by stream."""
        first = preprocessors[0]
        raws = [np.asarray(raw, dtype=np.float64).reshape(-1, 6) for raw in raws]
        if first._median is not None:
            raws = CausalMedian.many([p._median for p in preprocessors], raws)
        if first._noise is not None:
            raws = CausalFilter.many([p._noise for p in preprocessors], raws)
        raw = np.concatenate(raws)
        gravity = None
        if first._gravity is not None:
            gravity = np.concatenate(CausalFilter.many([p._gravity for p in preprocessors],
                                                       [r[:, :3] for r in raws]))
        features = first._channels(raw, gravity)
        ends = np.cumsum([len(r) for r in raws]).tolist()
        return [features[end - len(r):end] for r, end in zip(raws, ends, strict=True)]
