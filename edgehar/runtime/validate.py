"""Check the streaming runtime against the offline path and against real recordings.

- :func:`validate_test_split` replays every stitched UCI HAR test segment sample by sample
  through a fresh :class:`Streamer` (t = i / 50, hop 64), exactly as a live source would,
  and compares each window's label with the dataset label and with the offline batch
  prediction of the same .tflite on ``model_inputs``: agreement must be 1.0.
- :func:`validate_hapt` streams whole HAPT experiments and scores the windows lying inside
  one activity (1..6), with each smoothing, plus label flips per minute; windows touching a
  postural transition (7..12) are counted apart. The HAPT raw data edgehar tests with holds
  the UCI HAR *training* subjects only (``subjects`` in the report): a model trained on the
  train split has met these people, so read it as a check of the live path on long real
  recordings, not as a held-out score.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np

from edgehar.bundle import Bundle
from edgehar.data.dataset import HarWindows
from edgehar.data.recordings import hapt_files, read_hapt_experiment, read_hapt_labels
from edgehar.data.segments import stitch
from edgehar.errors import DataError, EdgeharError
from edgehar.preprocess.prepare import model_inputs
from edgehar.runtime.interpreter import TFLiteClassifier
from edgehar.runtime.livescore import StreamedRecording, live_scores
from edgehar.runtime.smoothing import make_smoother
from edgehar.runtime.sources import iter_array
from edgehar.runtime.stream import Result, Streamer, run
from edgehar.spec import ACTIVITIES, HOP, WINDOW

HAPT_SMOOTHERS = ("none", "vote:5", "ema:0.3", "hysteresis:3:0.9")
DECODER_SMOOTHERS = ("hmm", "hmm:2")
"""Scored as well when the bundle has a decoder (metadata.json "decoder")."""


def _stream(streamer: Streamer, chunks) -> list[Result]:
    """Every result of streaming ``chunks`` through the live loop; Ctrl-C still stops validate."""
    results = []
    if run(streamer, chunks, results.append)["end"] == "interrupted":
        raise KeyboardInterrupt
    return results


def validate_test_split(bundle: Bundle, test: HarWindows, variant: str = "float32",
                        progress=None) -> dict:
    """Stream each stitched segment of ``test``; accuracy and agreement with offline batch.

    ``progress(done, total)`` is called as segments are streamed."""
    if bundle.window != WINDOW:
        raise EdgeharError(f"{bundle.path}: window {bundle.window} is not the dataset's {WINDOW}")
    classifier = TFLiteClassifier(bundle.tflite(variant))
    classes = bundle.classes
    offline = classifier.predict(model_inputs(test, bundle.pipeline)).argmax(axis=1)
    streamed = np.full(len(test), -1)
    segments = stitch(test)
    for done, segment in enumerate(segments):
        if progress:
            progress(done, len(segments))
        streamer = Streamer(classifier, bundle.pipeline, classes, window=WINDOW, hop=HOP)
        results = _stream(streamer, iter_array(segment.raw, streamer.rate_hz, chunk=1))
        for result in results:
            streamed[segment.rows[(result.end - WINDOW) // HOP]] = classes.index(result.label)
    truth = np.array([classes.index(ACTIVITIES[k - 1]) for k in test.y])
    return {"variant": variant, "segments": len(segments), "windows": len(test),
            "streamed_windows": int((streamed >= 0).sum()),
            "accuracy": float((streamed == truth).mean()),
            "offline_accuracy": float((offline == truth).mean()),
            "agreement": float((streamed == offline).mean())}


def _sample_labels(n: int, segments) -> np.ndarray:
    """Activity id (1..12) of every sample of a recording, 0 where unlabelled."""
    labels = np.zeros(n, dtype=np.int64)
    for s in segments:
        labels[s.start:min(s.end, n)] = s.activity
    return labels


def stream_hapt(bundle: Bundle, raw_dir: Path, variant: str = "float32", *, experiments=None,
                subjects=None, progress=None) -> list[StreamedRecording]:
    """Stream HAPT experiments (all in ``raw_dir``/labels.txt, those numbered ``experiments``, or
    those of the users in ``subjects``) through a fresh :class:`Streamer` each, at the bundle's hop.
    ``progress(done, total)`` is called as experiments are streamed."""
    raw_dir = Path(raw_dir)
    labels = read_hapt_labels(raw_dir / "labels.txt")
    files = hapt_files(raw_dir)
    wanted = sorted({s.experiment for s in labels} if experiments is None else experiments)
    if subjects is not None:
        wanted = [e for e in wanted if any(s.experiment == e and s.subject in subjects for s in labels)]
    classifier = TFLiteClassifier(bundle.tflite(variant))
    recordings = []
    for done, experiment in enumerate(wanted):
        if progress:
            progress(done, len(wanted))
        if experiment not in files:
            raise DataError(f"{raw_dir}: no acc_exp{experiment:02d}_user*.txt[.gz] file")
        raw = read_hapt_experiment(files[experiment])
        mine = [s for s in labels if s.experiment == experiment]
        streamer = Streamer(classifier, bundle.pipeline, bundle.classes, window=bundle.window, hop=bundle.hop)
        results = _stream(streamer, iter_array(raw, streamer.rate_hz))
        recordings.append(StreamedRecording(
            name=files[experiment].name, subject=mine[0].subject if mine else 0,
            probs=np.array([r.probs for r in results], dtype=np.float64).reshape(-1, len(bundle.classes)),
            start=np.array([r.start for r in results], dtype=np.int64),
            end=np.array([r.end for r in results], dtype=np.int64),
            sample_labels=_sample_labels(len(raw), mine), rate_hz=streamer.rate_hz))
    return recordings


def validate_hapt(bundle: Bundle, raw_dir: Path, variant: str = "float32", *,
                  smoothers=None, experiments=None, progress=None) -> dict:
    """Stream HAPT experiments (all in ``raw_dir``/labels.txt, or ``experiments``) at the
    bundle's hop; per smoothing (default: HAPT_SMOOTHERS, DECODER_SMOOTHERS if the bundle has a
    decoder, and the bundle's own default): accuracy on activity windows and label flips per minute.
    ``progress(done, total)`` is called as experiments are streamed."""
    if smoothers is None:
        smoothers = HAPT_SMOOTHERS
        if "decoder" in bundle.metadata:
            smoothers += DECODER_SMOOTHERS + (bundle.smoothing,) * (bundle.smoothing not in DECODER_SMOOTHERS)
    recordings = stream_hapt(bundle, raw_dir, variant, experiments=experiments, progress=progress)
    report = {"variant": variant, "experiments": len(recordings),
              "subjects": sorted({r.subject for r in recordings}),
              "minutes": round(sum(r.minutes for r in recordings), 2),
              "windows": sum(len(r.start) for r in recordings),
              "activity_windows": sum(int((r.window_truth(bundle.classes) >= 0).sum()) for r in recordings),
              "transition_windows": sum(int(r.touches_transition().sum()) for r in recordings),
              "smoothing": {}}
    for spec in smoothers:
        scores = live_scores(recordings, bundle.classes, spec, partial(make_smoother, spec, bundle))
        report["smoothing"][spec] = {"accuracy": scores["accuracy"],
                                     "flips_per_minute": round(scores["label_changes_per_minute"], 3)}
    return report
