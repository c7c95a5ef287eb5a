"""`edgehar review`: a label corrected on the page (in a real browser) is in the recording's CSV
and sidecar afterwards, the data layer that `train --recordings` reads sees it, undo puts the
previous version back and redo the correction; HAPT RawData experiments are listed, read-only."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from browser import Served, browser, page, screenshot  # noqa: F401  (fixtures)

from edgehar.bundle import Bundle
from edgehar.data.recordings import ClassMap, read_hapt_recordings, read_recordings, recording_windows

SAMPLES = 6000  # two minutes of HAPT experiment 1: standing, sitting, laying


@pytest.fixture
def folder(hapt_raw, tmp_path) -> Path:
    """A recording made by `edgehar record` from HAPT experiment 1, labelled with its activities."""
    rec = read_hapt_recordings(hapt_raw, experiments=[1])[0]
    names = np.array(["", *rec.label_names], dtype=object)[rec.labels[:SAMPLES]]
    source = tmp_path / "source.csv"
    table = pd.DataFrame(rec.raw[:SAMPLES], columns=["ax", "ay", "az", "gx", "gy", "gz"])
    table.insert(0, "t", np.round(rec.t[:SAMPLES], 2))
    table["label"] = names
    table.to_csv(source, index=False)
    subprocess.run([sys.executable, "-m", "edgehar", "record", "--source", f"csv:{source}", "--out",
                    str(tmp_path / "data"), "--name", "exp01", "--subject", "user01"],
                   check=True, capture_output=True, stdin=subprocess.DEVNULL)
    return tmp_path / "data"


def _rows(csv: Path) -> pd.DataFrame:
    return pd.read_csv(csv, dtype=str, keep_default_na=False)


def test_a_label_corrected_on_the_page_is_in_the_csv_and_the_training_data(folder, page):
    csv, sidecar = folder / "exp01.csv", folder / "exp01.json"
    before_bytes, before = csv.read_bytes(), _rows(csv)
    served = Served("review", str(folder), "--http", "0")
    try:
        page.goto(served.url)
        page.click("a:text('exp01.csv')")
        page.wait_for_function("document.getElementById('model-state').textContent.includes('stretches')",
                               timeout=60_000)
        first = page.locator("#disagreements tr").first
        assert "labelled STANDING, model SITTING" in first.text_content()
        count = page.locator("#disagreements tr").count()
        first.locator("button").click()
        start, end = float(page.input_value("#from")), float(page.input_value("#to"))
        screenshot(page, "web-review.png")
        page.select_option("#label", "SITTING")
        page.click("#apply")
        page.wait_for_function("document.getElementById('status').textContent.startsWith('saved')")
        page.wait_for_function(f"document.querySelectorAll('#disagreements tr').length === {count - 1}")
        assert page.locator("#undo").text_content() == "Undo (1)"

        after = _rows(csv)
        t = after["t"].astype(float).to_numpy()
        inside = (t >= start) & (t < end)
        assert inside.sum() > 50 and (after["label"][inside] == "SITTING").all()
        assert (before["label"][inside] == "STANDING").all()
        assert after["label"][~inside].equals(before["label"][~inside])
        numbers = ["t", "ax", "ay", "az", "gx", "gy", "gz"]  # the samples are written back exactly
        np.testing.assert_array_equal(after[numbers].astype(float), before[numbers].astype(float))
        side = json.loads(sidecar.read_text())
        assert side["label_samples"]["SITTING"] == (before["label"] == "SITTING").sum() + inside.sum()
        assert side["label_samples"]["STANDING"] == (before["label"] == "STANDING").sum() - inside.sum()
        assert [c["label"] for c in side["corrections"]] == ["SITTING"] and side["end"] == "eof"
        corrected = csv.read_bytes(), sidecar.read_bytes()

        (recording,) = read_recordings(folder)  # the kept version is not read as a second recording
        class_map = ClassMap.identity(["STANDING", "SITTING"])
        assert (class_map.codes(recording)[inside] == 2).all()
        windows = recording_windows([recording], Bundle.default().pipeline, class_map)
        seconds = windows.start / 50
        assert (windows.y[(seconds >= start) & (seconds + 128 / 50 <= end)] == 2).all()

        page.click("#undo")
        page.wait_for_function("document.getElementById('status').textContent === 'undone'")
        assert csv.read_bytes() == before_bytes
        assert "corrections" not in json.loads(sidecar.read_text())
        page.wait_for_function(f"document.querySelectorAll('#disagreements tr').length === {count}")
        assert page.locator("#redo").text_content() == "Redo (1)"
        page.click("#redo")  # the correction comes back, byte for byte
        page.wait_for_function("document.getElementById('status').textContent === 'redone'")
        assert (csv.read_bytes(), sidecar.read_bytes()) == corrected
        assert page.locator("#undo").text_content() == "Undo (1)"
        assert page.locator("#redo").text_content() == "Redo (0)"
        page.click("#undo")
        page.wait_for_function("document.getElementById('redo').textContent === 'Redo (1)'")
        page.select_option("#label", "WALKING")  # a new correction: what was undone stays undone
        page.click("#apply")
        page.wait_for_function("document.getElementById('redo').textContent === 'Redo (0)'")
        assert not list(folder.glob(".exp01.*.redo-*"))
        assert [c["label"] for c in json.loads(sidecar.read_text())["corrections"]] == ["WALKING"]
    finally:
        served.stop()


def test_dragging_across_the_charts_selects_the_stretch_to_correct(folder, page):
    served = Served("review", str(folder), "--http", "0")
    try:
        page.goto(served.url + "?name=exp01.csv")
        over = page.locator("#bands .u-over")
        over.wait_for()
        box = over.bounding_box()
        y = box["y"] + box["height"] / 2
        page.mouse.move(box["x"] + box["width"] * 0.25, y)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] * 0.5, y, steps=5)
        page.mouse.up()
        start, end = float(page.input_value("#from")), float(page.input_value("#to"))
        assert 20 < start < 40 < end < 70, (start, end)  # a quarter to a half of 120 s
    finally:
        served.stop()


def test_a_recording_still_being_recorded_or_compressed_is_shown_but_not_rewritten(folder):
    side = json.loads((folder / "exp01.json").read_text())
    del side["ended"]  # what `record` leaves while it runs (or after a power cut)
    (folder / "exp01.json").write_text(json.dumps(side))
    (folder / "old.csv.gz").write_bytes(gzip.compress((folder / "exp01.csv").read_bytes()))
    before = (folder / "exp01.csv").read_bytes()
    served = Served("review", str(folder), "--http", "0")
    try:
        base = served.url.rstrip("/")
        for name, reason in (("exp01.csv", "still being recorded"), ("old.csv.gz", "compressed")):
            with urllib.request.urlopen(f"{base}/api/recording?name={name}") as answer:
                assert reason in json.load(answer)["read_only"]
            request = urllib.request.Request(f"{base}/api/label", json.dumps(
                {"name": name, "start": 0, "end": 10, "label": "SITTING"}).encode(), method="POST",
                headers={"Origin": base, "Content-Type": "application/json"})
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(request)
            assert refused.value.code == 409 and reason in json.load(refused.value)["error"]
        assert (folder / "exp01.csv").read_bytes() == before
    finally:
        served.stop()


def _post(base: str, path: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(base + path, json.dumps(body).encode(), method="POST",
                                     headers={"Origin": base, "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request) as answer:
            return answer.status, json.load(answer)
    except urllib.error.HTTPError as err:
        return err.code, json.load(err)


def test_a_hapt_rawdata_folder_is_listed_and_shown_but_its_labels_are_not_rewritten(hapt_raw, page):
    served = Served("review", str(hapt_raw), "--http", "0")
    try:
        page.goto(served.url)
        link = page.locator("a:text('acc_exp01_user01.txt.gz')")
        link.wait_for()
        row = page.locator("tr[data-name='acc_exp01_user01.txt.gz'] td").all_text_contents()
        assert row[0].endswith("read-only") and row[1:3] == ["1", "1"]
        assert "STANDING" in row[4] and "SIT_TO_STAND" in row[4]
        assert page.locator("#recordings tr").count() == len(list(hapt_raw.glob("acc_exp*")))
        link.click()
        page.wait_for_function("document.getElementById('read-only').textContent.includes('labels.txt')")
        assert page.locator("#apply").is_disabled() and page.locator("#undo").is_disabled()
        assert page.locator("#redo").is_disabled()
        base = served.url.rstrip("/")
        for path, body in (("/api/label", {"start": 0, "end": 10, "label": "SITTING"}), ("/api/undo", {}),
                           ("/api/redo", {})):
            code, answer = _post(base, path, {"name": "acc_exp01_user01.txt.gz", **body})
            assert code == 409 and "hapt_to_recordings" in answer["error"], (path, answer)
        assert not [p for p in hapt_raw.iterdir() if p.name.startswith(".")]
    finally:
        served.stop()
