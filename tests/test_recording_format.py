"""The recording format (CSV + sidecar), HAPT folders as recordings, class maps and the windows
cut from them, on real HAPT experiments written as recordings; bad files by hand."""

from __future__ import annotations

import gzip
import json
import re
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from edgehar.data.recordings import (
    ClassMap,
    Recording,
    bundle_class_map,
    hapt_windows,
    read_hapt_recordings,
    read_recording,
    read_recording_rows,
    read_recordings,
    recording_windows,
    write_recording,
)
from edgehar.errors import DataError, OptionError
from edgehar.preprocess.pipeline import Pipeline
from edgehar.spec import ACTIVITIES, HAPT_ACTIVITIES

TRANSITION = "TRANSITION=STAND_TO_SIT+SIT_TO_STAND+SIT_TO_LIE+LIE_TO_SIT+STAND_TO_LIE+LIE_TO_STAND"
SEVEN = ",".join(ACTIVITIES) + "," + TRANSITION


@pytest.fixture(scope="module")
def hapt_two(hapt_raw) -> list[Recording]:
    """Experiments 1 and 5 (users 1 and 3) as recordings."""
    return read_hapt_recordings(hapt_raw, experiments=[1, 5])


@pytest.fixture
def csv_two(tmp_path, hapt_two) -> Path:
    """The same two experiments in the recording format, one subfolder per subject."""
    for rec in hapt_two:
        write_recording(rec, tmp_path / f"user{rec.subject}" / f"exp{rec.session}.csv")
    return tmp_path


def _csv(path: Path, rows: list[str], header="t,ax,ay,az,gx,gy,gz,label") -> Path:
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def _rows(n: int, label="WALKING", rate=50.0) -> list[str]:
    return [f"{k / rate:.4f},0.1,0.2,0.98,0.01,0.02,0.03,{label}" for k in range(n)]


def test_hapt_experiments_read_as_labelled_recordings(hapt_two, hapt_raw):
    first = hapt_two[0]
    assert (first.subject, first.session, first.rate_hz) == ("1", "1", 50.0)
    assert first.raw.shape == (20598, 6) and first.label_names == HAPT_ACTIVITIES
    assert first.labels_present()[:3] == ["STANDING", "STAND_TO_SIT", "SITTING"]
    assert first.labels[249] == 5 and first.labels[248] == 0  # labels.txt: 1 1 5 250 1232
    assert ClassMap.of(hapt_two).classes == ACTIVITIES  # not the transitions


def test_csv_recordings_round_trip_the_hapt_experiments_exactly(csv_two, hapt_two):
    recordings = read_recordings(csv_two)
    assert [Path(r.name).name for r in recordings] == ["exp1.csv", "exp5.csv"]
    for csv, hapt in zip(recordings, hapt_two, strict=True):
        np.testing.assert_array_equal(csv.raw, hapt.raw)
        np.testing.assert_array_equal(csv.t, hapt.t)
        assert [csv.label_names[k - 1] if k else "" for k in csv.labels[::50]] == \
               [hapt.label_names[k - 1] if k else "" for k in hapt.labels[::50]]
        assert (csv.subject, csv.session) == (hapt.subject, hapt.session)
    sidecar = json.loads((csv_two / "user1" / "exp1.json").read_text())
    assert sidecar["format"] == "edgehar.recording/1" and sidecar["samples"] == 20598


def test_csv_and_hapt_layouts_give_the_same_windows_for_any_class_set(csv_two, hapt_two):
    pipeline = Pipeline.preset("causal9")
    classes = ClassMap.parse(SEVEN)
    a = recording_windows(read_recordings(csv_two), pipeline, classes)
    b = recording_windows(hapt_two, pipeline, classes)
    assert a.classes == b.classes == (*ACTIVITIES, "TRANSITION")
    for name in ("X", "y", "subject", "experiment", "start"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert set(a.y) == set(range(1, 8)) and a.source == str(csv_two)
    # The six activities alone: exactly the windows the HAPT reader always gave.
    six = recording_windows(hapt_two, pipeline, ClassMap.identity(ACTIVITIES))
    old = hapt_windows(Path(hapt_two[0].name).parent, pipeline, experiments=[1, 5])
    np.testing.assert_array_equal(six.X, old.X)
    np.testing.assert_array_equal(six.start, old.start)


def test_merged_classes_take_their_labels(hapt_two):
    classes = ClassMap.parse("active=WALKING+WALKING_UPSTAIRS+WALKING_DOWNSTAIRS,static=SITTING+STANDING,"
                             "LAYING")
    codes = classes.codes(hapt_two[0])
    names = np.array(["", *hapt_two[0].label_names])[hapt_two[0].labels]
    assert set(codes[names == "WALKING_UPSTAIRS"]) == {1} and set(codes[names == "STANDING"]) == {2}
    assert set(codes[names == "LAYING"]) == {3} and set(codes[names == "SIT_TO_LIE"]) == {0}
    assert ClassMap.from_dict(json.loads(json.dumps(classes.to_dict()))) == classes
    assert ClassMap.parse(classes.spec) == classes
    windows = recording_windows(hapt_two, Pipeline.preset("raw6"), classes, hop=32)
    assert windows.classes == ("active", "static", "LAYING") and set(windows.y) == {1, 2, 3}


@pytest.mark.parametrize("spec, message", [
    ("A", "1 class: a classifier needs at least 2"),
    ("A,B,A", "class A is named twice"),
    (r"A,B=A+C", r"label A is in two classes \(A and B\)"),
    ("x=WALKING+SITTING,y=SITTING", "label SITTING is in two classes"),
    ("A,,B", "an empty class name"),
    ("A,B=C+", "class B has an empty label"),
    ("A,walk ing", "'walk ing' is not a name"),
])
def test_bad_class_specs_say_what_is_wrong(spec, message):
    with pytest.raises(OptionError, match=re.escape(f"--classes '{spec}': ") + message):
        ClassMap.parse(spec)


def test_a_class_map_naming_labels_no_recording_holds_is_refused(hapt_two):
    ClassMap.parse(SEVEN).check(hapt_two, "RawData")
    with pytest.raises(DataError, match=r"RawData: no recording holds label walking, JUMP \(labels found: "
                                        r"LAYING, LIE_TO_SIT"):
        ClassMap.parse("walking,JUMP,SITTING").check(hapt_two, "RawData")


def test_validation_groups_are_subjects_when_two_are_named_else_sessions(csv_two, hapt_two, tmp_path):
    classes = ClassMap.identity(ACTIVITIES)
    windows = recording_windows(read_recordings(csv_two), Pipeline.preset("raw6"), classes)
    kind, groups = windows.groups()
    assert kind == "subject" and set(groups) == {"1", "3"}
    for rec in hapt_two:  # no subjects named: each recording (session) is a group
        write_recording(replace(rec, subject=""), tmp_path / "anon" / f"exp{rec.session}.csv")
    windows = recording_windows(read_recordings(tmp_path / "anon"), Pipeline.preset("raw6"), classes)
    kind, groups = windows.groups()
    assert kind == "session" and set(groups) == {"1", "5"}


def test_a_gzipped_csv_reads_like_the_plain_one_with_its_sidecar(csv_two, tmp_path):
    plain = csv_two / "user3" / "exp5.csv"
    (tmp_path / "packed").mkdir()
    packed = tmp_path / "packed" / "exp5.csv.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    shutil.copy(plain.with_suffix(".json"), packed.with_name("exp5.json"))
    a, b = read_recording(plain), read_recording(packed)
    np.testing.assert_array_equal(a.raw, b.raw)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert (b.subject, b.session, b.label_names) == (a.subject, a.session, a.label_names)
    assert [Path(r.name).name for r in read_recordings(packed.parent)] == ["exp5.csv.gz"]


def test_sidecar_units_are_converted_to_g_and_rad_per_s(tmp_path, hapt_two):
    rec = hapt_two[0]
    part = slice(0, 500)
    rows = [f"{t:.2f}," + ",".join(repr(float(v)) for v in np.r_[a * 9.80665, g * 180 / np.pi]) + ",STANDING"
            for t, a, g in zip(rec.t[part], rec.raw[part, :3], rec.raw[part, 3:], strict=True)]
    path = _csv(tmp_path / "phone.csv", rows)
    (tmp_path / "phone.json").write_text(json.dumps(
        {"units": {"acc": "ms2", "gyro": "dps"}, "subject": "alice", "rate_hz": 50}))
    got = read_recording(path)
    np.testing.assert_allclose(got.raw, rec.raw[part], rtol=1e-12, atol=1e-15)
    assert (got.subject, got.session, got.label_names) == ("alice", "phone", ("STANDING",))


def test_recording_rows_are_the_files_own_values_and_label_text(tmp_path):
    """What a tool that rewrites a recording reads: no unit conversion, the label text as written
    (stripped), the same checks as read_recording."""
    rows = ["0.00,0.1,9.80665,0.30000000000000004,1,2,3,STANDING", "0.02,-0.2,1e-3,5,0,0,0,",
            "0.04,0,0,0,0,0,0, Falling.v2"]
    path = _csv(tmp_path / "phone.csv", rows)
    (tmp_path / "phone.json").write_text(json.dumps({"units": {"acc": "ms2", "gyro": "dps"}}))
    t, values, labels = read_recording_rows(path)
    assert t.tolist() == [0.0, 0.02, 0.04]
    assert values[0].tolist() == [0.1, 9.80665, 0.30000000000000004, 1, 2, 3]
    assert labels.tolist() == ["STANDING", "", "Falling.v2"]
    _csv(path, [*rows, "0.04,0,0,0,0,0,0,"])
    with pytest.raises(DataError, match=r"phone.csv, line 5: t does not increase"):
        read_recording_rows(path)


@pytest.mark.parametrize("sidecar, message", [
    ('{"rate_hz": 50,\n "units": {"acc": "g",}}', r"rec.json: invalid JSON at line 2"),
    ("[1, 2]", r"rec.json: a JSON object is needed, not list"),
    ('{"rate_hz": 100}', r"rec.json: field rate_hz: 100 is not 50: .* resample"),
    ('{"rate_hz": "fast"}', r"rec.json: field rate_hz: 'fast' is not a positive number"),
    ('{"units": {"acc": "mg"}}', r"rec.json: field units.acc: 'mg' is not one of g, ms2"),
    ('{"units": {"gyro": "rad"}}', r"rec.json: field units.gyro: 'rad' is not one of rads, dps"),
    ('{"subject": ["a"]}', r"rec.json: field subject: \['a'\] is not a string"),
    ('{"format": "other/2"}', r"rec.json: field format: 'other/2' is not 'edgehar.recording/1'"),
])
def test_bad_sidecars_name_file_and_field(tmp_path, sidecar, message):
    path = _csv(tmp_path / "rec.csv", _rows(10))
    (tmp_path / "rec.json").write_text(sidecar)
    with pytest.raises(DataError, match=message):
        read_recording(path)


@pytest.mark.parametrize("rows, header, message", [
    (_rows(5), "t,ax,ay,az,gx,gy", r"rec.csv, line 1: header must be t,ax,ay,az,gx,gy,gz\[,label\]"),
    ([], "t,ax,ay,az,gx,gy,gz,label", r"rec.csv: no samples after the header"),
    (_rows(3) + ["0.06,0.1,nan,1,0,0,0,WALKING"], None, r"line 5, column 3 \(ay\): 'nan' is not a finite"),
    (_rows(3) + ["0.06,0.1,0.2,1,0,inf,0,"], None, r"line 5, column 6 \(gy\): 'inf' is not a finite"),
    (_rows(3) + ["0.04,0.1,0.2,1,0,0,0,"], None, r"line 5: t does not increase \(0.04 after 0.0400\)"),
    (_rows(3) + ["0.06,0.1,0.2,1,0,0,0,walk ing"], None, r"line 5: label 'walk ing' is not a name"),
    (_rows(3) + ["0.06,0.1,0.2,1,0,0,0,-x"], None, r"line 5: label '-x' is not a name"),
    (_rows(20, rate=100.0), None, r"rec.csv: t advances 0.01 s per sample \(median\), 100 Hz, but the "
                                  r"recording must be 50 Hz"),
])
def test_bad_csv_recordings_name_file_and_line(tmp_path, rows, header, message):
    path = _csv(tmp_path / "rec.csv", rows, header or "t,ax,ay,az,gx,gy,gz,label")
    with pytest.raises(DataError, match=message.replace("line 5", "rec.csv, line 5")):
        read_recording(path)


def test_any_label_name_is_a_label_and_empty_is_unlabelled(tmp_path):
    rows = _rows(3, "cycling") + _rows(2, "") + _rows(2, "Falling.v2") + _rows(1, "cycling")
    rows = [f"{k / 50:.2f}," + r.split(",", 1)[1] for k, r in enumerate(rows)]
    rec = read_recording(_csv(tmp_path / "rec.csv", rows))
    assert rec.label_names == ("cycling", "Falling.v2")
    assert list(rec.labels) == [1, 1, 1, 0, 0, 2, 2, 1]
    unlabelled = read_recording(_csv(tmp_path / "plain.csv", [r.rsplit(",", 1)[0] for r in rows],
                                     "t,ax,ay,az,gx,gy,gz"))
    assert unlabelled.label_names == () and not unlabelled.labels.any()


def test_folders_without_recordings_are_refused(tmp_path, hapt_raw):
    with pytest.raises(DataError, match="gone: no such folder of recordings"):
        read_recordings(tmp_path / "gone")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(DataError, match="no recordings .NAME.csv with header t,ax,ay,az,gx,gy,gz,label"):
        read_recordings(tmp_path)
    # A HAPT layout inside the folder is found, and its missing gyro file named.
    raw = tmp_path / "hapt" / "RawData"
    raw.mkdir(parents=True)
    shutil.copy(hapt_raw / "acc_exp01_user01.txt.gz", raw)
    (raw / "labels.txt").write_text("1 1 5 250 1232\n")
    with pytest.raises(DataError, match=r"gyro_exp01_user01.txt.gz: file not found"):
        read_recordings(tmp_path)
    shutil.copy(hapt_raw / "gyro_exp01_user01.txt.gz", raw)
    (rec,) = read_recordings(tmp_path)
    assert rec.labels_present() == ["STANDING"]


def test_a_uci_bundle_labels_recordings_by_its_class_names(tiny_bundle, hapt_two):
    classes = bundle_class_map(tiny_bundle)
    assert classes == ClassMap.identity(ACTIVITIES)
    assert set(classes.codes(hapt_two[0])) == set(range(7))
