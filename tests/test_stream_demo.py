"""The shipped demo recording is what tools/make_demo.py cuts from the real HAPT data."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from edgehar.runtime.sources import demo_path, open_source

REPO = Path(__file__).resolve().parent.parent


def test_demo_is_reproduced_byte_for_byte_from_the_raw_data(hapt_raw, tmp_path):
    subprocess.run([sys.executable, str(REPO / "tools" / "make_demo.py"), "--raw", str(hapt_raw),
                    "--out", str(tmp_path)], check=True, capture_output=True, timeout=120)
    shipped = demo_path().parent
    for name in (demo_path().name, "README.md"):
        assert (tmp_path / name).read_bytes() == (shipped / name).read_bytes(), name


def test_demo_is_small_credited_and_holds_all_six_activities():
    readme = (demo_path().parent / "README.md").read_text()
    assert demo_path().stat().st_size < 400_000
    assert "Neurocomputing 171 (2016) 754-767" in readme and "commercial use is" in readme
    for activity in ("WALKING", "WALKING_UPSTAIRS", "WALKING_DOWNSTAIRS", "SITTING", "STANDING", "LAYING"):
        assert f"| {activity} |" in readme
    chunks = list(open_source("demo"))
    assert sum(len(c) for c in chunks) == 14450 and not any(c.skipped for c in chunks)
