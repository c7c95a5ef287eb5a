"""Check the streaming runtime against the offline path and against real recordings.

- :func:`validate_test_split` replays every stitched UCI HAR test segment sample by sample
  through a fresh :class:`Streamer` (t = i / 50, hop 64), exactly as a live source would
  (without the pipeline's noise stages, which the published signals went through already),
  and compares each window's label with the dataset label and with the offline batch
  prediction of the same .tflite on ``model_inputs``: agreement must be 1.0.
- :func:`validate_hapt` streams whole HAPT experiments and scores the windows lying inside
  one activity (1..6), with each smoothing, plus label flips per minute; windows touching a
  postural transition (7..12) are counted apart. The HAPT raw data edgehar tests with holds
  the UCI HAR *training* subjects only (``subjects`` in the report): a model trained on the
  train split has met these people, so read it as a check of the live path on long real
  recordings, not as a held-out score.
- :func:`validate_recordings` streams labelled recordings of any class set (``edgehar
  validate --recordings``) sample by sample at their own timestamps, scores them with
  :func:`live_scores` through the bundle's class map, and compares every streamed window's
  label with the offline batch prediction of the same .tflite on the same samples (the whole
  recording run through ``Pipeline.transform``): agreement must be 1.0 for recordings on the
  50 Hz grid without gaps (elsewhere the stream resamples or restarts, as it does live).
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np

from edgehar.bundle import Bundle
from edgehar.data.dataset import HarWindows
from edgehar.data.recordings import hapt_files, natural, read_hapt_experiment, read_hapt_labels
from edgehar.data.segments import stitch
from edgehar.errors import DataError, EdgeharError
from edgehar.model.metrics import predicted_index
from edgehar.preprocess.prepare import model_inputs
from edgehar.runtime.interpreter import TFLiteClassifier
from edgehar.runtime.smoothing import make_smoother
from edgehar.runtime.sources import Chunk, iter_array
from edgehar.runtime.stream import Result, Streamer, run
from edgehar.scoring.livescore import StreamedRecording, live_scores
from edgehar.spec import ACTIVITIES, HOP, WINDOW

HAPT_SMOOTHERS = ("none", "vote:5", "ema:0.3", "hysteresis:3:0.9")
DECODER_SMOOTHERS = ("hmm", "hmm:2")
"""Scored as well when the bundle has a decoder (metadata.json "decoder")."""


def _one_by_one(t: np.ndarray, raw: np.ndarray):
    """A recording as a source delivering one sample at a time, at its own timestamps."""
    for i in range(len(t)):
        yield Chunk(t[i:i + 1], raw[i:i + 1])


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
    classifier = TFLiteClassifier.of_bundle(bundle, variant)
    classes = bundle.classes
    offline = predicted_index(classifier.predict(model_inputs(test, bundle.pipeline)), classes, ACTIVITIES)
    streamed = np.full(len(test), -1)
    segments = stitch(test)
    for done, segment in enumerate(segments):
        if progress:
            progress(done, len(segments))
        streamer = Streamer(classifier, bundle.pipeline.for_published(), classes, window=WINDOW, hop=HOP)
        results = _stream(streamer, iter_array(segment.raw, streamer.rate_hz, chunk=1))
        for result in results:
            streamed[segment.rows[(result.end - WINDOW) // HOP]] = ACTIVITIES.index(result.label_activity)
    truth = test.class_index
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
    classifier = TFLiteClassifier.of_bundle(bundle, variant)
    recordings = []
    for done, experiment in enumerate(wanted):
        if progress:
            progress(done, len(wanted))
        if experiment not in files:
            raise DataError(f"{raw_dir}: no acc_exp{experiment:02d}_user*.txt[.gz] file")
        raw = read_hapt_experiment(files[experiment])
        mine = [s for s in labels if s.experiment == experiment]
        streamer = _streamer(bundle, classifier)
        results = _stream(streamer, iter_array(raw, streamer.rate_hz))
        recordings.append(_streamed(bundle, results, name=files[experiment].name,
                                    subject=mine[0].subject if mine else 0,
                                    sample_labels=_sample_labels(len(raw), mine), rate_hz=streamer.rate_hz))
    return recordings


def _streamer(bundle: Bundle, classifier: TFLiteClassifier) -> Streamer:
    """A fresh streamer at the bundle's window and hop, as ``edgehar stream`` runs it."""
    return Streamer(classifier, bundle.pipeline, bundle.classes, window=bundle.window, hop=bundle.hop)


def _streamed(bundle: Bundle, results: list[Result], **recording) -> StreamedRecording:
    return StreamedRecording(
        probs=np.array([r.probs for r in results], dtype=np.float64).reshape(-1, len(bundle.classes)),
        start=np.array([r.start for r in results], dtype=np.int64),
        end=np.array([r.end for r in results], dtype=np.int64), **recording)


def _smoothers(bundle: Bundle) -> tuple[str, ...]:
    """HAPT_SMOOTHERS, DECODER_SMOOTHERS if the bundle has a decoder, and the bundle's own default."""
    smoothers = HAPT_SMOOTHERS + DECODER_SMOOTHERS * ("decoder" in bundle.metadata)
    return smoothers + (bundle.smoothing,) * (bundle.smoothing not in smoothers)


def validate_hapt(bundle: Bundle, raw_dir: Path, variant: str = "float32", *,
                  smoothers=None, experiments=None, progress=None) -> dict:
    """Stream HAPT experiments (all in ``raw_dir``/labels.txt, or ``experiments``) at the
    bundle's hop; per smoothing (default: HAPT_SMOOTHERS, DECODER_SMOOTHERS if the bundle has a
    decoder, and the bundle's own default): accuracy on activity windows and label flips per minute.
    ``progress(done, total)`` is called as experiments are streamed."""
    smoothers = _smoothers(bundle) if smoothers is None else smoothers
    recordings = stream_hapt(bundle, raw_dir, variant, experiments=experiments, progress=progress)
    report = {"variant": variant, "experiments": len(recordings),
              "subjects": sorted({r.subject for r in recordings}, key=natural),
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


def stream_recordings(bundle: Bundle, recordings, variant: str = "float32", *,
                      progress=None) -> tuple[list[StreamedRecording], np.ndarray]:
    """Stream each :class:`~edgehar.data.recordings.Recording` sample by sample, at its own
    timestamps, through a fresh :class:`Streamer` at the bundle's hop; with, per streamed window
    in order, the offline batch label of the same .tflite on the same samples (-1 where the
    window's samples are not the recording's rows: after a gap or a resampled timestamp).
    ``progress(done, total)`` is called as recordings are streamed."""
    classifier = TFLiteClassifier.of_bundle(bundle, variant)
    streamed, offline = [], []
    for done, recording in enumerate(recordings):
        if progress:
            progress(done, len(recordings))
        streamer = _streamer(bundle, classifier)
        results = _stream(streamer, _one_by_one(recording.t, recording.raw))
        rec = _streamed(bundle, results, name=recording.name, subject=recording.subject,
                        sample_labels=recording.labels, label_names=tuple(recording.label_names),
                        rate_hz=streamer.rate_hz)
        streamed.append(rec)
        offline.append(_offline_labels(bundle, classifier, recording, rec,
                                       regular=not (streamer.gaps or streamer.lost or streamer.resyncs
                                                    or streamer.skipped)))
    return streamed, np.concatenate(offline) if offline else np.zeros(0, np.int64)


def _offline_labels(bundle: Bundle, classifier: TFLiteClassifier, recording, rec: StreamedRecording,
                    regular: bool) -> np.ndarray:
    """The offline batch label of each streamed window (-1 where not comparable)."""
    grid = np.arange(len(recording.t)) / rec.rate_hz
    on_grid = regular and np.allclose(recording.t - recording.t[0], grid, rtol=0, atol=0.01 / rec.rate_hz)
    if not on_grid or not len(rec.start):
        return np.full(len(rec.start), -1)
    features = bundle.pipeline.transform(recording.raw)
    return classifier.predict(features[rec.start[:, None] + np.arange(bundle.window)]).argmax(axis=1)


def validate_recordings(bundle: Bundle, recordings, class_map, variant: str = "float32", *,
                        smoothers=None, progress=None) -> dict:
    """Stream labelled ``recordings`` (see :func:`stream_recordings`) and score them with
    :func:`live_scores` through ``class_map`` (a :class:`~edgehar.data.recordings.ClassMap`)
    for each smoothing (default: those :func:`validate_hapt` uses); with the agreement of the
    streamed window labels with the offline batch ones."""
    smoothers = _smoothers(bundle) if smoothers is None else smoothers
    streamed, offline = stream_recordings(bundle, recordings, variant, progress=progress)
    classes = bundle.classes
    if not any((r.window_truth(classes, class_map.members) >= 0).any() for r in streamed):
        seconds = bundle.window / bundle.pipeline.sample_rate_hz
        names = ", ".join(r.name for r in recordings[:3]) + ", ..." * (len(recordings) > 3)
        raise DataError(f"{names}: no streamed window lies wholly inside one of the classes "
                        f"{class_map.spec}; nothing to score (a class must last {bundle.window} samples, "
                        f"{seconds:g} s, in a row)")
    said = np.concatenate([r.probs.argmax(axis=1) for r in streamed]) if streamed else np.zeros(0, np.int64)
    compared = offline >= 0
    report = {"variant": variant, "recordings": len(streamed),
              "subjects": sorted({str(r.subject) for r in streamed}, key=natural),
              "minutes": round(sum(r.minutes for r in streamed), 2),
              "windows": int(len(said)),
              "compared_windows": int(compared.sum()),
              "agreement": float((said[compared] == offline[compared]).mean()) if compared.any() else None,
              "smoothing": {}}
    for spec in smoothers:
        scores = live_scores(streamed, classes, spec, partial(make_smoother, spec, bundle),
                             members=class_map.members)
        report["smoothing"][spec] = {k: scores[k] for k in (
            "accuracy", "macro_f1", "recall", "label_changes_per_minute", "true_changes_per_minute",
            "changes_ratio", "delay_s_median", "delay_s_p90", "changes_detected", "changes_missed",
            "labels_on_transitions", "transition_recall")}
        report.setdefault("scored_windows", scores["activity_windows"])
        report.setdefault("transition_windows", scores["transition_windows"])
    return report
