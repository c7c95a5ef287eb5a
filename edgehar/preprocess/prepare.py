"""Model inputs for labelled UCI HAR windows, made the way the live stream makes them."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from edgehar.data.dataset import HarWindows
from edgehar.data.recordings import RecordingWindows
from edgehar.data.segments import stitch
from edgehar.preprocess.pipeline import Pipeline
from edgehar.preprocess.windows import sliding_windows
from edgehar.spec import HOP, WINDOW


def pipeline_channels(windows: HarWindows | RecordingWindows, pipeline: Pipeline) -> np.ndarray:
    """Un-normalized (N, 128, C) channels for every row of ``windows``, in row order.

    Windows cut from recordings already are the pipeline's channels. For UCI HAR windows,
    with ``train_from='dataset'`` these are the published channels; otherwise each
    stitched segment is run through the pipeline from its start, exactly as a device
    streaming that segment would, and re-cut into the dataset's windows. The published
    signals were noise-filtered already: the pipeline's noise stages are not run again
    (:meth:`Pipeline.for_published`).
    """
    if isinstance(windows, RecordingWindows):
        made_by = windows.pipeline
        if made_by is None or made_by.mean is not None or not _same_filters(made_by, pipeline):
            raise ValueError(f"{windows.source}: windows were not cut by this pipeline un-normalized")
        return windows.X
    if pipeline.train_from == "dataset":
        return windows.X[:, :, pipeline.channel_index]
    raw_pipeline = replace(pipeline.for_published(), mean=None, std=None)
    out = np.empty((len(windows), WINDOW, len(pipeline.channels)), dtype=np.float32)
    for segment in stitch(windows):
        out[segment.rows] = sliding_windows(raw_pipeline.transform(segment.raw), WINDOW, HOP)
    return out


def channel_windows(windows: HarWindows, pipeline: Pipeline) -> RecordingWindows:
    """UCI HAR windows as the pipeline's un-normalized channels, to train on beside windows cut
    from raw recordings (:func:`edgehar.data.recordings.concat_windows`)."""
    raw = replace(pipeline, mean=None, std=None)
    zeros = np.zeros(len(windows), dtype=np.int64)
    return RecordingWindows(X=pipeline_channels(windows, raw), y=windows.y, subject=windows.subject,
                            experiment=zeros, start=zeros, pipeline=raw, source=windows.source)


def _same_filters(a: Pipeline, b: Pipeline) -> bool:
    return replace(a, mean=None, std=None).to_dict() == replace(b, mean=None, std=None).to_dict()


def model_inputs(windows: HarWindows, pipeline: Pipeline) -> np.ndarray:
    """Normalized model input (N, 128, C) for every row of ``windows``."""
    return pipeline.normalize(pipeline_channels(windows, pipeline))
