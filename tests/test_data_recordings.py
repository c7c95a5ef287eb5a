"""Raw recordings -> windows on real HAPT experiments (1 and 2 only, to stay fast)."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import numpy as np
import pytest

from edgehar.data.recordings import (
    csv_windows,
    hapt_windows,
    read_csv_recording,
    read_hapt_experiment,
    read_hapt_labels,
)
from edgehar.errors import DataError
from edgehar.preprocess.pipeline import Pipeline
from edgehar.spec import ACTIVITIES

EXPERIMENTS = (1, 2)


@pytest.fixture(scope="module")
def labels(hapt_raw) -> np.ndarray:
    rows = np.loadtxt(hapt_raw / "labels.txt", dtype=np.int64)
    return rows[np.isin(rows[:, 0], EXPERIMENTS)]


@pytest.fixture
def exp1(tmp_path, hapt_raw) -> Path:
    """A writable RawData copy holding experiment 1 and its labels."""
    for kind in ("acc", "gyro"):
        shutil.copy(hapt_raw / f"{kind}_exp01_user01.txt.gz", tmp_path)
    rows = [line for line in (hapt_raw / "labels.txt").read_text().splitlines() if line.startswith("1 1 ")]
    (tmp_path / "labels.txt").write_text("\n".join(rows) + "\n")
    return tmp_path


def test_read_hapt_experiment_pairs_acc_and_gyro(hapt_raw):
    raw = read_hapt_experiment(hapt_raw / "acc_exp01_user01.txt.gz")
    assert raw.shape == (20598, 6)
    np.testing.assert_array_equal(raw[:, :3], np.loadtxt(hapt_raw / "acc_exp01_user01.txt.gz"))
    np.testing.assert_array_equal(raw[:, 3:], np.loadtxt(hapt_raw / "gyro_exp01_user01.txt.gz"))


@pytest.mark.parametrize("hop", [64, 32])
def test_window_count_and_placement(hapt_raw, labels, hop):
    windows = hapt_windows(hapt_raw, Pipeline.preset("causal9"), experiments=EXPERIMENTS, hop=hop)
    kept = labels[labels[:, 2] <= 6]
    lengths = kept[:, 4] - kept[:, 3] + 1
    assert len(windows) == np.maximum((lengths - 128) // hop + 1, 0).sum()
    assert windows.X.shape == (len(windows), 128, 9)
    assert set(windows.subject) == {1} and set(windows.experiment) == set(EXPERIMENTS)
    for y, experiment, start in zip(windows.y, windows.experiment, windows.start, strict=True):
        inside = ((kept[:, 0] == experiment) & (kept[:, 2] == y)
                  & (kept[:, 3] - 1 <= start) & (start + 128 <= kept[:, 4]))
        assert inside.sum() == 1


def test_windows_are_what_a_live_stream_of_the_recording_gives(hapt_raw):
    base = Pipeline.preset("raw6")
    raw = read_hapt_experiment(hapt_raw / "acc_exp02_user01.txt.gz")
    pipeline = base.fit(base.transform(raw))
    windows = hapt_windows(hapt_raw, pipeline, experiments=[2])
    live = pipeline.start()
    stream = np.concatenate([live.push(chunk) for chunk in np.array_split(raw, 300)])
    for k in (0, len(windows) // 2, len(windows) - 1):
        start = windows.start[k]
        np.testing.assert_array_equal(windows.X[k], stream[start:start + 128])
    plain = hapt_windows(hapt_raw, base, experiments=[2])
    np.testing.assert_allclose(windows.X, (plain.X - np.float32(pipeline.mean)) / np.float32(pipeline.std),
                               atol=1e-5)


def test_labels_reader_keeps_transitions_and_converts_to_zero_based(hapt_raw):
    segments = read_hapt_labels(hapt_raw / "labels.txt")
    assert len(segments) == 849
    first = segments[0]
    assert (first.experiment, first.subject, first.activity, first.start, first.end) == (1, 1, 5, 249, 1232)
    assert {s.activity for s in segments} == set(range(1, 13))


def _gzip_lines(path: Path, keep: slice) -> None:
    lines = gzip.decompress(path.read_bytes()).decode().splitlines(keepends=True)
    path.write_bytes(gzip.compress("".join(lines[keep]).encode()))


def test_bad_hapt_files_name_file_and_line(exp1):
    pipeline = Pipeline.preset("raw6")
    labels = exp1 / "labels.txt"
    good = labels.read_text()

    labels.write_text(good.replace("1 1 7 1233", "1 1 x 1233"))
    with pytest.raises(DataError, match=r"labels.txt, line 2, column 3: 'x' is not a number"):
        hapt_windows(exp1, pipeline)
    labels.write_text(good.replace("1 1 7 1233", "1 1 13 1233"))
    with pytest.raises(DataError, match=r"labels.txt, line 2: activity 13 is not in 1..12"):
        hapt_windows(exp1, pipeline)
    labels.write_text(good + "1 1 4 20000 20599\n")
    with pytest.raises(DataError, match=r"line \d+: segment end 20599 is beyond the 20598 samples"):
        hapt_windows(exp1, pipeline)
    labels.write_text(good.replace("1 1 7 1233", "1 2 7 1233"))
    with pytest.raises(DataError, match=r"labels.txt, line 2: user 2, but the file is acc_exp01_user01"):
        hapt_windows(exp1, pipeline)
    labels.write_text(good)
    _gzip_lines(exp1 / "gyro_exp01_user01.txt.gz", slice(0, -1))
    with pytest.raises(DataError, match=r"gyro_exp01_user01.txt.gz has 20597 lines but .*acc_exp01"):
        hapt_windows(exp1, pipeline)
    with pytest.raises(DataError, match="no acc_exp03_user"):
        hapt_windows(exp1, pipeline, experiments=[3])


def _write_csv(path: Path, raw: np.ndarray, labels: list[str], header="t,ax,ay,az,gx,gy,gz,label"):
    lines = [header] + [f"{k / 50:.2f}," + ",".join(repr(float(v)) for v in row) + f",{label}"
                        for k, (row, label) in enumerate(zip(raw, labels, strict=True))]
    path.write_text("\n".join(lines) + "\n")


def test_csv_recording_gives_the_same_windows_as_its_hapt_original(exp1, tmp_path):
    raw = read_hapt_experiment(exp1 / "acc_exp01_user01.txt.gz")
    labels = [""] * len(raw)
    for segment in read_hapt_labels(exp1 / "labels.txt"):
        if segment.activity <= 6:  # names for even classes, numbers for odd ones
            tag = ACTIVITIES[segment.activity - 1] if segment.activity % 2 == 0 else str(segment.activity)
            labels[segment.start:segment.end] = [tag] * (segment.end - segment.start)
    _write_csv(tmp_path / "rec.csv", raw, labels)
    pipeline = Pipeline.preset("causal9")
    from_csv = csv_windows(tmp_path / "rec.csv", pipeline, subject=1, experiment=1)
    from_hapt = hapt_windows(exp1, pipeline)
    assert len(from_csv) == len(from_hapt) > 0
    for field in ("X", "y", "subject", "experiment", "start"):
        np.testing.assert_array_equal(getattr(from_csv, field), getattr(from_hapt, field))


def test_bad_csv_names_line_and_column(exp1, tmp_path):
    raw = read_hapt_experiment(exp1 / "acc_exp01_user01.txt.gz")[:200]
    path = tmp_path / "rec.csv"
    _write_csv(path, raw, ["WALKING"] * 200, header="t,ax,ay,az,gx,gy")
    with pytest.raises(DataError, match="rec.csv, line 1: header must be t,ax,ay,az,gx,gy,gz"):
        read_csv_recording(path)
    _write_csv(path, raw, ["WALKING"] * 150 + ["JUMPING"] * 50)
    with pytest.raises(DataError, match="rec.csv, line 152: label 'JUMPING' is neither 1..6 nor"):
        read_csv_recording(path)
    _write_csv(path, raw, ["1"] * 200)
    path.write_text(path.read_text().replace("\n0.20,", "\n0.20,oops", 1))
    with pytest.raises(DataError, match=r"rec.csv, line 12, column 2 \(ax\): '.*oops.*' is not a finite"):
        read_csv_recording(path)
    _write_csv(path, raw, [""] * 200)
    path.write_text(path.read_text().replace("\n0.20,", "\n0.18,", 1))
    with pytest.raises(DataError, match="rec.csv, line 12: t does not increase"):
        read_csv_recording(path)
    _write_csv(path, raw, [""] * 200)
    assert (read_csv_recording(path)[1] == 0).all()
    assert len(csv_windows(path, Pipeline.preset("raw6"))) == 0


def test_recording_windows_of_chosen_subjects_train_a_model(hapt_raw):
    from edgehar.model.train import TrainConfig, fit

    windows = hapt_windows(hapt_raw, Pipeline.preset("raw6"), subjects=[1, 3])
    assert set(np.unique(windows.subject)) == {1, 3} and windows.source == str(hapt_raw.resolve())
    held = windows.take(windows.subject == 3)
    assert len(held) and set(held.subject) == {3} and held.pipeline == windows.pipeline
    config = TrainConfig("dscnn", {"filters": [8, 8], "kernel": 3}, epochs=1, pipeline="raw6", val_subjects=1)
    result = fit(config, windows, progress=False)
    assert result.pipeline.mean is not None and "val_accuracy" in result.history


def test_a_model_trained_on_recordings_is_calibrated_on_them(hapt_raw, uci_train, tmp_path):
    from edgehar.export.convert import calibration_windows, export_variants
    from edgehar.model.train import TrainConfig, fit, write_bundle

    windows = hapt_windows(hapt_raw, Pipeline.preset("raw6"), subjects=[1])
    config = TrainConfig("dscnn", {"filters": [8, 8], "kernel": 3}, epochs=1, pipeline="raw6")
    bundle = write_bundle(tmp_path / "b", fit(config, windows, progress=False), windows)
    calibration = calibration_windows(bundle, uci_train)
    assert calibration.source == str(hapt_raw.resolve()) and set(np.unique(calibration.subject)) > {1}
    export_variants(bundle, calibration, ("int8",))
    assert bundle.reload().metadata["exports"]["int8"]["calibration"]["data"] == str(hapt_raw.resolve())
    moved = bundle.reload().metadata["training"] | {"data_source": str(tmp_path / "gone")}
    assert calibration_windows(bundle.reload().update_metadata(training=moved), uci_train) is uci_train


def test_recording_windows_refuse_a_pipeline_that_did_not_cut_them(hapt_raw):
    from edgehar.preprocess.prepare import pipeline_channels

    windows = hapt_windows(hapt_raw, Pipeline.preset("raw6"), experiments=[1])
    with pytest.raises(ValueError, match="not cut by this pipeline"):
        pipeline_channels(windows, Pipeline.preset("causal9"))
