"""Labelled recordings for a bundle: what ``export``, ``evaluate`` and ``validate`` check a model on
when it was trained on recordings, with no UCI HAR data on the machine.

A recording's labels become the bundle's classes through its class map
(:func:`~edgehar.data.recordings.bundle_class_map`); labels that make no class are not scored.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from edgehar.bundle import Bundle
from edgehar.data.recordings import (
    ClassMap,
    Recording,
    RecordingWindows,
    bundle_class_map,
    read_recordings,
    recording_windows,
)
from edgehar.errors import DataError


def training_recordings(bundle: Bundle) -> dict | None:
    """``metadata.training.recordings`` of a bundle trained on recordings, else None."""
    return bundle.metadata.get("training", {}).get("recordings")


def labelled_recordings(bundle: Bundle, folder: Path) -> tuple[list[Recording], ClassMap]:
    """The recordings under ``folder`` and the bundle's class map; DataError (one line) when no
    sample carries a label that makes one of the bundle's classes."""
    class_map = bundle_class_map(bundle)
    recordings = read_recordings(folder)
    if not any((class_map.codes(r) > 0).any() for r in recordings):
        found = sorted({n for r in recordings for n in r.labels_present()})
        raise DataError(f"{folder}: no sample is labelled with one of {bundle.name}'s classes "
                        f"({class_map.spec}); labels found: {', '.join(found) or 'none'} "
                        "(names are case-sensitive)")
    return recordings, class_map


def bundle_windows(bundle: Bundle, recordings: list[Recording], class_map: ClassMap,
                   source: str = "") -> RecordingWindows:
    """Windows of every stretch of one class, cut by the bundle's pipeline un-normalized (the
    form ``model_inputs`` takes)."""
    raw = replace(bundle.pipeline, mean=None, std=None)
    windows = recording_windows(recordings, raw, class_map, source=source)
    if not len(windows):
        seconds = bundle.window / bundle.pipeline.sample_rate_hz
        raise DataError(f"{windows.source}: no stretch of one of {bundle.name}'s classes lasts a whole "
                        f"window ({bundle.window} samples, {seconds:g} s)")
    return windows


def validation_mask(bundle: Bundle, windows: RecordingWindows) -> np.ndarray:
    """Windows of the groups (subjects or sessions) the bundle held out from training."""
    held = [str(g) for g in (training_recordings(bundle) or {}).get("validation") or []]
    return np.isin(windows.groups()[1], held)


def trained_folder(bundle: Bundle) -> Path | None:
    """The folder of recordings the bundle was trained on (it may no longer be on this machine);
    None when its metadata names none."""
    trained = training_recordings(bundle) or {}
    folder = trained.get("folder") or bundle.metadata["training"].get("data_source")
    return Path(folder) if folder else None


def own_windows(bundle: Bundle) -> tuple[RecordingWindows, RecordingWindows]:
    """(training, validation) windows of a bundle trained on recordings, from the folder it was
    trained on: validation are the groups it held out; without any, both are all its windows."""
    folder = trained_folder(bundle)
    recordings, class_map = labelled_recordings(bundle, folder)
    windows = bundle_windows(bundle, recordings, class_map, source=str(folder))
    held = validation_mask(bundle, windows)
    if not held.any() or held.all():
        return windows, replace(windows, source=f"{folder} (all windows: no held-out groups)")
    kind, groups = windows.groups()
    names = ", ".join(sorted(set(groups[held].tolist())))
    return windows.take(~held), replace(windows.take(held), source=f"{folder} (held-out {kind}s {names})")
