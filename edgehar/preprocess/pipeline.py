"""The one preprocessing definition: raw IMU samples -> normalized model channels.

Training, offline evaluation, the live stream and the firmware all run this maths. It is
causal and keeps its filter state between calls, so feeding a recording sample by sample,
in chunks, or whole gives the same numbers (bit for bit: the state is float64 and the
filter runs sample after sample in every case).

Raw samples are rows of ``RAW_COLUMNS``: total acceleration in g and angular velocity in
rad/s at 50 Hz. Model channels are a subset of ``UCI_CHANNELS`` in that order:

- ``total_acc_*`` is the acceleration itself (after the optional noise low-pass);
- ``body_gyro_*`` is the angular velocity (after the optional noise low-pass);
- ``body_acc_*`` is total acceleration minus gravity, gravity being a causal Butterworth
  low-pass of it (``gravity_cutoff_hz``, order ``gravity_order``), as UCI HAR did offline.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np

from edgehar.spec import SAMPLE_RATE_HZ, UCI_CHANNELS

PRESETS = {
    # Model reads the 9 published channels; live, body_acc comes from the causal filter.
    "dataset9": dict(channels=UCI_CHANNELS, train_from="dataset"),
    # 9 channels, training windows re-derived causally from the stitched recordings.
    "causal9": dict(channels=UCI_CHANNELS, train_from="stream"),
    # Gyro + total acceleration only: nothing to separate, nothing to approximate.
    "raw6": dict(channels=UCI_CHANNELS[3:], train_from="stream"),
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
    noise_cutoff_hz: float | None = None
    noise_order: int = 3
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None

    def __post_init__(self):
        unknown = [c for c in self.channels if c not in UCI_CHANNELS]
        if unknown:
            raise ValueError(f"unknown channels {unknown}; choose from {UCI_CHANNELS}")
        if list(self.channels) != [c for c in UCI_CHANNELS if c in self.channels]:
            raise ValueError("channels must follow the UCI HAR order")
        if self.train_from not in ("stream", "dataset"):
            raise ValueError(f"train_from must be 'stream' or 'dataset', not {self.train_from!r}")

    @classmethod
    def preset(cls, name: str, **overrides) -> Pipeline:
        if name not in PRESETS:
            raise ValueError(f"unknown pipeline {name!r}; choose from {sorted(PRESETS)}")
        return cls(name=name, **{**PRESETS[name], **overrides})

    @classmethod
    def from_dict(cls, d: dict) -> Pipeline:
        d = dict(d)
        for key in ("channels", "mean", "std"):
            if d.get(key) is not None:
                d[key] = tuple(d[key])
        return cls(**d)

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def channel_index(self) -> np.ndarray:
        """Positions of this pipeline's channels among the 9 UCI channels."""
        return np.array([UCI_CHANNELS.index(c) for c in self.channels])

    def gravity_sos(self) -> np.ndarray:
        from scipy import signal

        return signal.butter(self.gravity_order, self.gravity_cutoff_hz, "lowpass",
                             fs=self.sample_rate_hz, output="sos")

    def noise_sos(self) -> np.ndarray | None:
        if self.noise_cutoff_hz is None:
            return None
        from scipy import signal

        return signal.butter(self.noise_order, self.noise_cutoff_hz, "lowpass",
                             fs=self.sample_rate_hz, output="sos")

    def fit(self, features: np.ndarray) -> Pipeline:
        """Return a copy normalizing with the per-channel mean/std of ``features`` (..., C)."""
        flat = features.reshape(-1, features.shape[-1]).astype(np.float64)
        std = flat.std(axis=0)
        return replace(self, mean=tuple(flat.mean(axis=0).tolist()),
                       std=tuple(np.where(std > 1e-8, std, 1.0).tolist()))

    def normalize(self, features: np.ndarray) -> np.ndarray:
        """Apply the stored normalization (identity when none was fitted)."""
        features = np.asarray(features, dtype=np.float32)
        if self.mean is None:
            return features
        return ((features - np.float32(self.mean)) / np.float32(self.std)).astype(np.float32)

    def start(self) -> Preprocessor:
        """A fresh stateful preprocessor (at stream start, or after a gap)."""
        return Preprocessor(self)

    def transform(self, raw: np.ndarray) -> np.ndarray:
        """Offline: run a fresh preprocessor over a whole continuous recording (n, 6)."""
        return self.start().push(raw)


class CausalFilter:
    """Second-order sections run sample after sample with persistent float64 state.

    The state starts as ``sosfilt_zi * first sample``: the filter's steady state for a
    signal that had always been at that value.
    """

    def __init__(self, sos: np.ndarray):
        self.sos, self.zi = sos, None

    def __call__(self, x: np.ndarray) -> np.ndarray:
        from scipy import signal

        if self.zi is None:
            self.zi = signal.sosfilt_zi(self.sos)[:, :, None] * x[0]
        y, self.zi = signal.sosfilt(self.sos, x, axis=0, zi=self.zi)
        return y


class Preprocessor:
    """Streaming state of a :class:`Pipeline`: push raw rows, get model channels back.

    Filters exist only where the pipeline needs them, so a pipeline without body_acc
    channels or noise filter never loads scipy.signal (80 MB on a Raspberry Pi).
    """

    def __init__(self, pipeline: Pipeline):
        self.pipeline = pipeline
        self._index = pipeline.channel_index
        noise = pipeline.noise_sos()
        self._noise = CausalFilter(noise) if noise is not None else None
        self._gravity = CausalFilter(pipeline.gravity_sos()) if (self._index < 3).any() else None

    def push(self, raw: np.ndarray) -> np.ndarray:
        """Process rows (n, 6) of ax, ay, az, gx, gy, gz; returns normalized (n, C) float32."""
        raw = np.asarray(raw, dtype=np.float64).reshape(-1, 6)
        if len(raw) == 0:
            return np.zeros((0, len(self._index)), dtype=np.float32)
        if self._noise is not None:
            raw = self._noise(raw)
        acc, gyro = raw[:, :3], raw[:, 3:]
        body = acc - self._gravity(acc) if self._gravity is not None else np.zeros_like(acc)
        nine = np.concatenate([body, gyro, acc], axis=1)
        return self.pipeline.normalize(nine[:, self._index])
