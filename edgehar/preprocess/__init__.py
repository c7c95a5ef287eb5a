"""Preprocessing shared by training and streaming: the pipeline and the windowing."""

from edgehar.preprocess.pipeline import PRESETS, Pipeline, Preprocessor
from edgehar.preprocess.windows import sliding_windows

__all__ = ["PRESETS", "Pipeline", "Preprocessor", "sliding_windows"]
