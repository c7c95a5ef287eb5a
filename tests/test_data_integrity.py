"""Bad data files end in one short DataError, reads are bounded, the parsed-data cache is checked.

Corrupt zip members, zip bombs, npz arrays of any dtype and shape (hypothesis), values that do
not fit a float32; the cache is keyed on content, validated when read, and pruned.
"""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from edgehar.data import uci
from edgehar.data.uci import load_split
from edgehar.errors import DataError
from edgehar.spec import WINDOW

LABELS = "UCI HAR Dataset/activity_labels.txt"


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEHAR_CACHE", str(tmp_path / "cache"))


@pytest.fixture
def dataset(tmp_path, uci_original_sample) -> Path:
    return Path(shutil.copytree(uci_original_sample, tmp_path / "src" / "UCI HAR Dataset"))


def zip_of(folder: Path, path: Path) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for p in sorted(folder.rglob("*")):
            zf.write(p, (Path(folder.name) / p.relative_to(folder)).as_posix())
    return path


def one_line_error(call) -> str:
    with pytest.raises(DataError) as err:
        call()
    message = str(err.value)
    assert "\n" not in message and len(message) < 400, message[:400]
    return message


def test_a_zip_member_with_corrupt_compressed_data_is_a_data_error(dataset, tmp_path):
    archive = zip_of(dataset, tmp_path / "UCI HAR Dataset.zip")
    name = "UCI HAR Dataset/train/Inertial Signals/body_acc_x_train.txt"
    with zipfile.ZipFile(archive) as zf:
        info = zf.getinfo(name)
    data = bytearray(archive.read_bytes())
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    data[start + 100: start + 400] = bytes(300)  # zeros in the middle of the deflate stream
    archive.write_bytes(bytes(data))
    message = one_line_error(lambda: load_split(archive, "train"))
    assert "body_acc_x_train.txt: corrupt zip member" in message


def bomb_zip(path: Path, inflated: int, declared: int) -> Path:
    """A zip whose activity_labels.txt inflates to ``inflated`` bytes of one endless line, its
    headers declaring ``declared`` bytes. Built from one deflate block repeated: no 1 GiB in memory."""
    chunk = b"1 WALKING " * (1 << 17)
    compressor = zlib.compressobj(1, zlib.DEFLATED, -15)
    block = compressor.compress(chunk) + compressor.flush(zlib.Z_FULL_FLUSH)
    count = inflated // len(chunk)
    crc = 0
    for _ in range(count):
        crc = zlib.crc32(chunk, crc)
    stream = block * count + compressor.flush(zlib.Z_FINISH)
    name = LABELS.encode()
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0x21, crc, len(stream), declared,
                        len(name), 0)
    central = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 0x21, crc, len(stream),
                          declared, len(name), 0, 0, 0, 0, 0, 0)
    offset = len(local) + len(name) + len(stream)
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(central) + len(name), offset, 0)
    path.write_bytes(local + name + stream + central + name + end)
    return path


@pytest.mark.parametrize("declared", ["honest", "lying"])
def test_a_zip_bomb_is_refused_with_little_memory_and_a_short_message(tmp_path, declared):
    inflated = 1 << 30
    archive = bomb_zip(tmp_path / "bomb.zip", inflated, inflated if declared == "honest" else 1000)
    assert archive.stat().st_size < 8 << 20
    code = ("import json, re\n"
            "from edgehar.data.uci import load_split\nfrom edgehar.errors import DataError\n"
            f"try:\n    load_split({str(archive)!r}, 'train')\n"
            "except DataError as err:\n    message = str(err)\n"
            "status = open('/proc/self/status').read()  # VmHWM: this process's peak, not its parent's\n"
            "peak = int(re.search(r'VmHWM:\\s+(\\d+)', status)[1]) / 1024\n"
            "print(json.dumps({'message': message, 'peak_mib': peak}))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={"EDGEHAR_CACHE": str(tmp_path / "cache"), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    assert result["peak_mib"] < 400, result
    assert len(result["message"]) < 300 and "activity_labels.txt" in result["message"]
    assert ("larger than the 65,536" if declared == "honest" else "corrupt zip member") in result["message"]


def test_an_endless_line_is_quoted_as_a_short_excerpt(dataset):
    (dataset / "activity_labels.txt").write_text("1 " + "WALKING" * 8000)
    message = one_line_error(lambda: load_split(dataset, "train"))
    assert "activity_labels.txt, line 1: expected '1 WALKING', found '1 WALKINGWALKING" in message


def test_a_signal_value_beyond_float32_is_a_data_error_not_inf(dataset):
    signal = dataset / "train" / "Inertial Signals" / "body_gyro_y_train.txt"
    lines = signal.read_text().split("\n")
    values = lines[2].split()
    values[4] = "1e50"
    lines[2] = " ".join(values)
    signal.write_text("\n".join(lines))
    message = one_line_error(lambda: load_split(dataset, "train"))
    assert "body_gyro_y_train.txt, line 3, column 5: 1e+50 is too large for a float32" in message


# -- npz ----------------------------------------------------------------------------------------

def good_arrays(n: int = 3) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {"X": rng.normal(size=(n, WINDOW, 9)).astype(np.float32), "y": np.arange(1, n + 1),
            "subject": np.full(n, 7)}


@pytest.mark.parametrize(("key", "value", "message"), [
    ("X", np.full((3, WINDOW, 9), "a"), "X holds <U1 values, not real numbers"),
    ("y", np.array(["1", "2", "3"]), "y holds <U1 values, not real numbers"),
    ("y", np.array(2), "y has 0 dimensions"),
    ("subject", np.array(7), "subject has 0 dimensions"),
    ("X", np.full((3, WINDOW, 9), 1e50), "X[0] holds 1e+50, not a finite float32 value"),
    ("X", np.full((3, WINDOW, 9), 1 + 2j), "X holds complex128 values, not real numbers"),
    ("y", np.array([True, False, True]), "y holds bool values"),
    ("y", np.array([1, 2, 99]), "y[2] = 99 is not an integer in 1..6"),
])
def test_npz_arrays_of_the_wrong_kind_are_one_clear_error(tmp_path, key, value, message):
    np.savez(tmp_path / "uci_har_train.npz", **{**good_arrays(), key: value})
    assert message in one_line_error(lambda: load_split(tmp_path, "train"))


dtypes = st.one_of(hnp.floating_dtypes(), hnp.integer_dtypes(), hnp.complex_number_dtypes(),
                   hnp.boolean_dtypes(), hnp.unicode_string_dtypes(max_len=3),
                   hnp.byte_string_dtypes(max_len=3), hnp.datetime64_dtypes())


def arrays_for(key: str):
    shapes = st.one_of(st.just((2, WINDOW, 9) if key == "X" else (2,)),
                       hnp.array_shapes(min_dims=0, max_dims=3, max_side=3))
    return hnp.arrays(dtypes, shapes, elements=None)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(data=st.data())
def test_any_npz_content_loads_as_sound_windows_or_is_one_data_error(tmp_path_factory, data):
    folder = tmp_path_factory.mktemp("npz")
    arrays = good_arrays(2)
    for key in data.draw(st.sets(st.sampled_from(["X", "y", "subject"]), min_size=1)):
        arrays[key] = data.draw(arrays_for(key))
    np.savez(folder / "uci_har_train.npz", **arrays)
    try:
        windows = load_split(folder, "train")
    except DataError as err:
        assert "\n" not in str(err) and len(str(err)) < 400
        return
    assert windows.X.dtype == np.float32 and np.isfinite(windows.X).all()
    assert windows.X.shape[1:] == (WINDOW, 9) and ((windows.y >= 1) & (windows.y <= 6)).all()
    assert ((windows.subject >= 1) & (windows.subject <= 30)).all()


# -- the parsed-dataset cache -------------------------------------------------------------------

def cache_entries(tmp_path) -> list[Path]:
    return sorted((tmp_path / "cache" / "uci").glob("*.npz"))


def test_a_forged_cache_entry_is_never_returned(dataset, tmp_path):
    first = load_split(dataset, "train")
    (entry,) = cache_entries(tmp_path)
    X = first.X.copy()
    X[0, 0, 0] = np.nan
    np.savez(entry, X=X, y=np.full(len(first), 99), subject=first.subject)
    again = load_split(dataset, "train")
    np.testing.assert_array_equal(again.y, first.y)
    assert np.isfinite(again.X).all()
    assert load_split(dataset, "train").y.max() <= 6  # the bad entry was replaced


def test_the_cache_keeps_its_most_recently_used_entries_within_its_size(dataset, tmp_path, monkeypatch):
    load_split(dataset, "train")
    size = cache_entries(tmp_path)[0].stat().st_size
    monkeypatch.setattr(uci, "CACHE_BYTES", size + 1)
    load_split(dataset, "test")
    (kept,) = cache_entries(tmp_path)
    assert load_split(dataset, "test").y.tolist() == load_split(dataset, "test").y.tolist()
    assert cache_entries(tmp_path) == [kept]
