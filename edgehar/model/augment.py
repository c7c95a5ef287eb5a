"""Augmentation suited to IMU windows: jitter, scaling, small 3-D rotations, time warps.

Rotations turn every xyz triplet of a window by the same matrix (a phone worn slightly
differently turns gravity, acceleration and rotation rate alike), so they are applied to
the un-normalized pipeline channels, before normalization.
"""

from __future__ import annotations

import keras
import numpy as np
from scipy.spatial.transform import Rotation

from edgehar.preprocess.pipeline import Pipeline


def triplets(channels: tuple[str, ...]) -> list[list[int]]:
    """Index groups [x, y, z] of each sensor in a channel list."""
    groups: dict[str, list[int]] = {}
    for i, name in enumerate(channels):
        groups.setdefault(name.rsplit("_", 1)[0], []).append(i)
    return [g for g in groups.values() if len(g) == 3]


def augment_batch(x: np.ndarray, channels: tuple[str, ...], rng: np.random.Generator,
                  max_degrees: float = 15.0, scale_sigma: float = 0.1, jitter_sigma: float = 0.01,
                  warp_sigma: float = 0.1) -> np.ndarray:
    """A randomly perturbed copy of un-normalized windows (N, T, C)."""
    n, t, _ = x.shape
    out = x.astype(np.float32, copy=True)
    rot = Rotation.from_rotvec(rng.normal(size=(n, 3)) * np.deg2rad(max_degrees) / np.sqrt(3))
    mats = rot.as_matrix().astype(np.float32)
    for idx in triplets(channels):
        out[:, :, idx] = np.einsum("nij,ntj->nti", mats, out[:, :, idx])
    out *= rng.normal(1.0, scale_sigma, size=(n, 1, 1)).astype(np.float32)
    if warp_sigma:
        grid = np.arange(t, dtype=np.float32)
        for i in range(n):
            speed = np.clip(rng.normal(1.0, warp_sigma), 0.7, 1.3)
            src = np.clip((grid - t / 2) * speed + t / 2, 0, t - 1)
            out[i] = np.stack([np.interp(src, grid, out[i, :, c]) for c in range(out.shape[2])], axis=1)
    out += rng.normal(0.0, jitter_sigma, size=out.shape).astype(np.float32) * out.std(axis=(0, 1))
    return out


class Augmenter(keras.utils.PyDataset):
    """Batches of freshly augmented, then normalized, windows for ``model.fit``."""

    def __init__(self, channels: np.ndarray, y: np.ndarray, pipeline: Pipeline, batch_size: int,
                 seed: int, max_degrees: float = 15.0):
        super().__init__()
        self.max_degrees = max_degrees
        self.channels, self.y, self.pipeline = channels, y, pipeline
        self.batch_size = batch_size
        self.rng = np.random.default_rng(seed)
        self.order = self.rng.permutation(len(y))

    def __len__(self) -> int:
        return -(-len(self.y) // self.batch_size)

    def __getitem__(self, i):
        rows = self.order[i * self.batch_size:(i + 1) * self.batch_size]
        x = augment_batch(self.channels[rows], self.pipeline.channels, self.rng, self.max_degrees)
        return self.pipeline.normalize(x), self.y[rows]

    def on_epoch_end(self):
        self.order = self.rng.permutation(len(self.y))
