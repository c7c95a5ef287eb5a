"""The Python API page (docs/python-api.md) runs as written and streams what `edgehar stream` streams."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

from edgehar.bundle import Bundle
from edgehar.runtime.sources import open_source
from edgehar.runtime.stream import Streamer

REPO = Path(__file__).resolve().parent.parent


def api_page_code() -> str:
    page = (REPO / "docs" / "python-api.md").read_text()
    match = re.search(r"<!-- test: tests/test_python_api.py[^>]*-->\n```python\n(.*?)```", page, re.S)
    assert match, "docs/python-api.md lost its streaming example"
    return match.group(1)


def test_the_python_api_page_example_runs_and_streams_the_demo():
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(api_page_code(), "docs/python-api.md", "exec"), {})
    lines = out.getvalue().splitlines()
    streamer = Streamer.from_bundle(Bundle.default(), "int8")
    expected = [r for chunk in open_source("demo") for r in streamer.feed(chunk.t, chunk.x)]
    window_lines = [line for line in lines if line.rstrip().endswith(tuple("0123456789")) and " s  " in line]
    assert len(window_lines) == len(expected) == 224
    assert [line.split()[3] for line in window_lines] == [r.label for r in expected]
    assert lines[-2] == str(dict(streamer.labels))
    assert lines[-1].startswith("['LAYING', 'LAYING']")  # a device at rest, z up: lying
