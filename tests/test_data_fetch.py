"""`fetch` against a real HTTP server on 127.0.0.1 serving zips in the official layouts (UCI HAR's
original-layout sample; two HAPT experiments)."""

from __future__ import annotations

import functools
import hashlib
import http.server
import threading
import zipfile
from pathlib import Path

import pytest
from test_make_test_data import hapt_archive
from typer.testing import CliRunner

from edgehar.cli import app
from edgehar.data.fetch import ARCHIVES, fetch
from edgehar.data.uci import load_uci
from edgehar.errors import DataError


@pytest.fixture
def www(tmp_path):
    """(folder, base URL) of an HTTP server on 127.0.0.1 serving the folder."""
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def served_zip(www, uci_original_sample):
    """(url, sha256) of 'UCI HAR Dataset.zip' built from the sample, served over HTTP."""
    root, base = www
    archive = root / "UCI HAR Dataset.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(uci_original_sample.rglob("*")):
            zf.write(path, (Path("UCI HAR Dataset") / path.relative_to(uci_original_sample)).as_posix())
    return f"{base}/UCI%20HAR%20Dataset.zip", hashlib.sha256(archive.read_bytes()).hexdigest()


def test_fetch_downloads_a_verified_zip_that_loads(tmp_path, served_zip, monkeypatch):
    monkeypatch.setenv("EDGEHAR_CACHE", str(tmp_path / "cache"))
    url, sha256 = served_zip
    path = fetch(tmp_path / "data", url=url, sha256=sha256)
    assert path == tmp_path / "data" / "UCI_HAR.zip"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == sha256
    train, test = load_uci(path)
    assert len(train) == len(test) == 40
    assert fetch(tmp_path / "data", url=url, sha256=sha256) == path  # already there: kept


def test_checksum_mismatch_is_a_clear_error_and_keeps_nothing(tmp_path, served_zip):
    url, sha256 = served_zip
    wrong = "0" * 64
    with pytest.raises(DataError, match=f"has SHA-256 {sha256}, expected {wrong}; the file was not kept"):
        fetch(tmp_path / "data", url=url, sha256=wrong)
    assert list((tmp_path / "data").iterdir()) == []


def test_unreachable_url_and_bad_checksum_argument(tmp_path, served_zip):
    url, sha256 = served_zip
    with pytest.raises(DataError, match="cannot download .*missing.zip"):
        fetch(tmp_path, url=url.replace("UCI%20HAR%20Dataset.zip", "missing.zip"), sha256=sha256)
    with pytest.raises(DataError, match="not 64 hexadecimal digits"):
        fetch(tmp_path, url=url, sha256="abc")


def test_fetch_command(tmp_path, served_zip):
    url, sha256 = served_zip
    runner = CliRunner()
    args = ["data", "fetch", "--dest", str(tmp_path / "data"), "--url", url]
    result = runner.invoke(app, [*args, "--sha256", sha256])
    assert result.exit_code == 0, result.output
    assert f"--data {tmp_path / 'data' / 'UCI_HAR.zip'}" in result.output
    result = runner.invoke(app, [*args, "--sha256", "1" * 64])
    assert isinstance(result.exception, DataError)


def test_fetch_hapt_stores_the_archive_make_test_data_takes_checked_against_its_pin(tmp_path, www, hapt_raw):
    root, base = www
    served = hapt_archive(hapt_raw, root / "hapt.zip")
    args = ["data", "fetch", "--dataset", "hapt", "--dest", str(tmp_path / "data"),
            "--url", f"{base}/hapt.zip"]
    result = CliRunner().invoke(app, args)  # a small archive, not the official one: refused against the pin
    assert isinstance(result.exception, DataError)
    assert f"expected {ARCHIVES['hapt'].sha256}; the file was not kept" in str(result.exception)
    assert "/static/public/341/" in ARCHIVES["hapt"].url  # UCI dataset 341: HAPT v2.1

    sha256 = hashlib.sha256(served.read_bytes()).hexdigest()
    result = CliRunner().invoke(app, [*args, "--sha256", sha256])
    assert result.exit_code == 0, result.output
    stored = tmp_path / "data" / "HAPT.zip"
    assert stored.read_bytes() == served.read_bytes()
    assert f"HAPT archive: {stored}" in result.output
    assert f"tools/make_test_data.py --hapt {stored}" in result.output
