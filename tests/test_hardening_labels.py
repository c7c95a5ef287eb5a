"""No file, flag or sample becomes a silent wrong label: labels match one way everywhere,
label-deciding parameters are validated, and a model that disagrees with itself is never passed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from edgehar.bundle import Bundle
from edgehar.data.recordings import ClassMap, Recording
from edgehar.errors import BundleError, DataError
from edgehar.runtime.interpreter import TFLiteClassifier
from edgehar.runtime.stream import Streamer

DEFAULT = Bundle.load("models/dscnn9")


def streamed_truth(labels: list[str], label_classes: dict[str, str]) -> set:
    streamer = Streamer(TFLiteClassifier(DEFAULT.tflite("float32")), DEFAULT.pipeline, DEFAULT.classes,
                        window=DEFAULT.window, hop=DEFAULT.hop, label_classes=label_classes)
    n = len(labels)
    results = streamer.feed(np.arange(n) / 50, np.tile([1.0, 0, 0, 0, 0, 0], (n, 1)), labels=labels)
    return {r.true for r in results}


def test_stream_matches_labels_to_classes_exactly_as_the_class_map_of_evaluate_does():
    low, up = DEFAULT.classes[:2]
    class_map = ClassMap((low, up, *DEFAULT.classes[2:]), {low: ("walk",), up: ("WALK",)})
    for label in ("walk", "WALK", "Walk", low):
        recording = Recording("r", np.zeros((1, 6)), np.zeros(1), np.ones(1, np.int64), (label,), "", "")
        code = int(class_map.codes(recording)[0])
        expected = {class_map.classes[code - 1]} if code else {None}
        assert streamed_truth([label] * 400, class_map.labels) == expected, label
    assert streamed_truth([DEFAULT.classes[0].lower()] * 400, {}) == {None}  # names are case-sensitive


def copy_of_default(tmp_path: Path, sealed: bool = False, **changes) -> Path:
    """A copy of the default bundle with metadata fields changed (``a__b``: field b of a); with
    ``sealed``, its label checksum recorded for the changes."""
    from edgehar.metadata import seal

    path = tmp_path / "b"
    shutil.copytree(DEFAULT.path, path)
    metadata = json.loads((path / "metadata.json").read_text())
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        node = metadata
        for part in parents:
            node = node[part]
        node[last] = value
    (path / "metadata.json").write_text(json.dumps(seal(metadata) if sealed else metadata))
    return path


def test_a_tflite_whose_outputs_are_not_the_classes_is_refused_where_it_is_loaded(tmp_path):
    five = DEFAULT.classes[:5]
    path = copy_of_default(tmp_path, sealed=True, classes=list(five), exports__int8__output__shape=[1, 5],
                           exports__float32__output__shape=[1, 5], exports__float16__output__shape=[1, 5],
                           exports__dynamic__output__shape=[1, 5])
    bundle = Bundle.load(path)
    for load in (lambda: Streamer.from_bundle(bundle, "int8"),
                 lambda: TFLiteClassifier.of_bundle(bundle, "float32")):
        with pytest.raises(BundleError, match=r"model_(int8|float32)\.tflite: .*6 outputs.*5 classes"):
            load()


@pytest.mark.parametrize(("rate", "refused"), [(46.0, True), (48.5, True), (51.5, True), (49.5, False),
                                               (50.4, False)])
def test_a_recording_not_at_50_hz_is_refused_by_every_reader(tmp_path, rate, refused):
    from edgehar.data.recordings import read_recording, read_recordings

    csv = tmp_path / "r.csv"
    csv.write_text("t,ax,ay,az,gx,gy,gz,label\n" + "".join(f"{i / rate!r},1,0,0,0,0,0,WALKING\n"
                                                           for i in range(500)))
    for read in (read_recording, read_recordings):
        if refused:
            with pytest.raises(DataError, match=r"r\.csv: t advances .* Hz"):
                read(csv)
        else:
            read(csv)


@pytest.mark.parametrize(("field", "value"), [
    ("classes", list(reversed(DEFAULT.classes))),
    ("pipeline__std", [float(v) * 2 for v in DEFAULT.metadata["pipeline"]["std"]]),
    ("pipeline__mean", [float(v) + 1 for v in DEFAULT.metadata["pipeline"]["mean"]]),
    ("smoothing", "vote:9"),
    ("sample_limits", {"acc_g": 2.0}),
    ("hop", 32),
])
def test_a_changed_label_deciding_field_is_refused_by_its_checksum(tmp_path, field, value):
    path = copy_of_default(tmp_path, **{field: value})
    with pytest.raises(BundleError, match=r"metadata\.json: field labels_sha256: .* modified or damaged"):
        Bundle.load(path)


def test_label_checksums_are_required_and_recorded_by_the_tool_for_a_trusted_bundle(tmp_path):
    from tools.record_checksums import record_checksums

    path = copy_of_default(tmp_path)
    metadata = json.loads((path / "metadata.json").read_text())
    del metadata["labels_sha256"]
    (path / "metadata.json").write_text(json.dumps(metadata))
    with pytest.raises(BundleError, match="field labels_sha256: no checksum"):
        Bundle.load(path)
    record_checksums(path)
    assert Bundle.load(path).classes == DEFAULT.classes


@pytest.mark.parametrize(("field", "value", "says"), [
    ("pipeline__std", [1e-300] * 9, "pipeline.std.0: Expected `float` >= 1e-06"),
    ("pipeline__mean", [1e300] * 9, "pipeline.mean.0: Expected `float` <= 1000000"),
])
def test_absurd_normalization_is_refused_even_with_its_checksum_recorded(tmp_path, field, value, says):
    path = copy_of_default(tmp_path, sealed=True, **{field: value})
    with pytest.raises(BundleError, match=says):
        Bundle.load(path)
