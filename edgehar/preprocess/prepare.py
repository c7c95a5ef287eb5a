"""Model inputs for labelled UCI HAR windows, made the way the live stream makes them."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from edgehar.data.dataset import HarWindows
from edgehar.data.segments import stitch
from edgehar.preprocess.pipeline import Pipeline
from edgehar.preprocess.windows import sliding_windows
from edgehar.spec import HOP, WINDOW


def pipeline_channels(windows: HarWindows, pipeline: Pipeline) -> np.ndarray:
    """Un-normalized (N, 128, C) channels for every row of ``windows``, in row order.

    With ``train_from='dataset'`` these are the published channels; otherwise each
    stitched segment is run through the pipeline from its start, exactly as a device
    streaming that segment would, and re-cut into the dataset's windows.
    """
    if pipeline.train_from == "dataset":
        return windows.X[:, :, pipeline.channel_index]
    raw_pipeline = replace(pipeline, mean=None, std=None)
    out = np.empty((len(windows), WINDOW, len(pipeline.channels)), dtype=np.float32)
    for segment in stitch(windows):
        out[segment.rows] = sliding_windows(raw_pipeline.transform(segment.raw), WINDOW, HOP)
    return out


def model_inputs(windows: HarWindows, pipeline: Pipeline) -> np.ndarray:
    """Normalized model input (N, 128, C) for every row of ``windows``."""
    return pipeline.normalize(pipeline_channels(windows, pipeline))
