"""Issue 12 (a) at CI size: HAPT recordings converted to the recording format -> `edgehar train
--recordings` for seven classes -> `export` int8 -> `validate --recordings` -> `stream --source
csv:`, each a real command line, with every folder edgehar could find UCI HAR in empty."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_own_data_chain_runs_from_the_cli_without_uci_har(hapt_raw, tmp_path):
    out = tmp_path / "e2e.json"
    done = subprocess.run([sys.executable, str(REPO / "tools" / "own_data_e2e.py"), "--quick", "--raw",
                           str(hapt_raw), "--work", str(tmp_path / "work"), "--out", str(out)],
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    r = json.loads(out.read_text())
    assert r["no_uci_har"]["empty_throughout"]
    assert [s["step"] for s in r["steps"]] == ["convert train", "convert held-out", "train", "decoder",
                                               "export", "validate int8", "validate float32", "stream"]
    assert all(s["exit"] == 0 for s in r["steps"])
    assert r["train"]["classes"][-1] == "TRANSITION" and len(r["train"]["classes"]) == 7
    assert r["train"]["recordings"]["subjects"] == ["3", "5", "6"] and r["held_out_subjects"] == [1]
    assert r["export"]["calibration"]["data"] == str(tmp_path / "work" / "train")
    v = r["validate_heldout_int8"]
    assert v["recordings"] == 2 and v["subjects"] == ["1"] and v["agreement"] > 0.99
    # recall per activity; the TRANSITION class is scored as transition recall
    assert set(v["smoothing"]["none"]["recall"]) == set(r["train"]["classes"]) - {"TRANSITION"}
    assert 0 <= v["smoothing"]["none"]["transition_recall"] <= 1
    assert "hmm:1" in v["smoothing"]  # the decoder estimated from the training recordings
    assert r["validate_heldout_float32"]["variant"] == "float32"
    firmware = tmp_path / "work" / "models" / "own7" / "firmware"
    assert '"TRANSITION"' in (firmware / "src" / "edgehar_params.c").read_text()
    s = r["stream"]["summary"]
    assert s["end"] == "eof" and s["windows"] > 300 and s["scored"] > 0 and 0 <= s["accuracy"] <= 1
    assert set(s["labels"]) <= set(r["train"]["classes"])
