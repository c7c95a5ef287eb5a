"""The web pages' safety rules: a token beyond loopback, same-origin writes, paths kept inside the
folder; and a page that stops reading never holds up the stream."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import urllib.error
import urllib.request
from urllib.parse import urlsplit

import numpy as np
import pytest
from browser import Served, browser, page  # noqa: F401  (fixtures)
from test_web_review import folder  # noqa: F401  (fixture)

from edgehar.bundle import Bundle
from edgehar.errors import OptionError
from edgehar.runtime.stream import Result
from edgehar.services.web.live import HISTORY, LiveFeed, LiveView
from edgehar.services.web.server import WebServer, needs_token, parse_bind


def _result(classes, k: int, t: float) -> Result:
    probs = [0.9 if i == k else 0.1 / (len(classes) - 1) for i in range(len(classes))]
    return Result(0, 128, t - 2.56, t, classes[k], 0.9, probs, classes[k], 1.0, classes[k], classes[k])


def _get(url: str, headers=None) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=30) as r:
            return r.status, r.read(4096)
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def _post(url: str, body: dict, headers=None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=60) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def test_bind_addresses_and_which_need_a_token():
    assert parse_bind("8000") == ("127.0.0.1", 8000)
    assert parse_bind("0.0.0.0:80") == ("0.0.0.0", 80)
    assert parse_bind("[::1]:8000") == ("::1", 8000)
    for bad in ("", "host:", "8000:x", "70000", "a:-1"):
        with pytest.raises(OptionError, match="--http"):
            parse_bind(bad)
    assert not any(needs_token(h) for h in ("127.0.0.1", "::1", "localhost"))
    assert all(needs_token(h) for h in ("127.0.0.2", "0.0.0.0", "::", "192.168.1.5"))


def test_beyond_loopback_every_request_needs_the_token_and_writes_need_it_in_a_header(folder, page):
    csv = folder / "exp01.csv"
    before = csv.read_bytes()
    served = Served("review", str(folder), "--http", "127.0.0.2:0")
    try:
        url = urlsplit(served.url)
        assert url.hostname == "127.0.0.2" and url.query.startswith("token=")
        token = url.query[len("token="):]
        base = f"http://127.0.0.2:{url.port}"
        for path in ("/", "/static/common.js", "/static/uPlot.iife.min.js", "/api/recordings",
                     "/api/recording?name=exp01.csv", "/api/model?name=exp01.csv"):
            status, body = _get(base + path)
            assert status == 403 and b"token" in body, path
            assert _get(base + path, {"X-Edgehar-Token": token + "x"})[0] == 403, path
            assert _get(f"{base}{path}{'&' if '?' in path else '?'}token={token}")[0] == 200, path
        write = {"name": "exp01.csv", "start": 10, "end": 20, "label": "SITTING"}
        origin = {"Origin": base}
        assert _post(f"{base}/api/label", write, origin)[0] == 403  # no token
        assert _post(f"{base}/api/label?token={token}", write, origin)[0] == 403  # token not in a header
        assert _post(f"{base}/api/label", write, {"X-Edgehar-Token": token})[0] == 403  # no Origin
        evil = {"X-Edgehar-Token": token, "Origin": "http://evil.example"}
        assert _post(f"{base}/api/label", write, evil)[0] == 403
        assert csv.read_bytes() == before
        page.goto(served.url)  # the page keeps the token (a cookie) for its assets and API calls
        page.wait_for_selector("tr[data-name='exp01.csv']")
        page.goto(base + "/?name=exp01.csv")
        page.wait_for_function("document.getElementById('model-state').textContent.includes('stretches')",
                               timeout=60_000)
        page.fill("#from", "10")
        page.fill("#to", "20")
        page.select_option("#label", "SITTING")
        page.click("#apply")  # the page's own write carries the token in its header
        page.wait_for_function("document.getElementById('status').textContent.startsWith('saved')")
        assert csv.read_bytes() != before
    finally:
        served.stop()


def test_on_loopback_no_token_but_writes_are_same_origin_only_and_paths_stay_in_the_folder(folder, tmp_path):
    (folder / "sub").mkdir()
    os.symlink(tmp_path / "source.csv", folder / "sub" / "outside.csv")  # a link out of the folder
    (folder / ".hidden.csv").write_text("t,ax,ay,az,gx,gy,gz\n")
    served = Served("review", str(folder), "--http", "0")
    try:
        base = served.url.rstrip("/")
        assert "token" not in base
        assert _get(base + "/api/recordings")[0] == 200
        assert _get(base + "/api/recordings", {"Host": "attacker.example"})[0] == 403  # DNS rebinding
        names = [r["name"] for r in json.loads(_get(base + "/api/recordings")[1])["recordings"]]
        assert "exp01.csv" in names and ".hidden.csv" not in names
        for name, status in (("../source.csv", 403), ("/etc/passwd", 403), ("sub/outside.csv", 403),
                             ("sub/../../source.csv", 403), (".hidden.csv", 404), ("exp01.json", 404),
                             ("missing.csv", 404)):
            got, body = _get(f"{base}/api/recording?name={name}")
            assert got == status, (name, got, body)
        write = {"name": "../source.csv", "start": 0, "end": 10, "label": "x"}
        assert _post(base + "/api/label", write, {"Origin": base})[0] == 403
        write["name"] = "exp01.csv"
        assert _post(base + "/api/label", write)[0] == 403  # no Origin: not from the page
        assert _post(base + "/api/label", write, {"Origin": "http://localhost:1"})[0] == 403
        assert _post(base + "/api/label", {**write, "label": "no good"}, {"Origin": base})[0] == 400
        assert _get(base + "/static/../review.py")[0] == 404
    finally:
        served.stop()


def test_a_page_that_stops_reading_never_holds_up_the_stream_nor_the_server_closing():
    """A client that reads nothing, with a tiny receive buffer: its connection's thread blocks
    writing the hour-long snapshot, while the stream's calls go on and close() still returns."""
    classes = Bundle.default().classes
    view = LiveView(classes, "m")
    for i in range(HISTORY):
        view.result(_result(classes, i % len(classes), i * 1.28), {"windows": i})
    server = WebServer("0", view.routes()).start("live page")
    stuck = socket.socket()
    stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
    try:
        stuck.connect(("127.0.0.1", server.port))
        stuck.sendall(b"GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        deadline = time.monotonic() + 30
        while not server._feeds and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server._feeds  # its thread is writing to it (and blocked: nobody reads)
        time.sleep(1.5)
        stream = threading.Thread(target=lambda: [
            (view.samples(np.full(1, i / 50), np.zeros((1, 6))),
             i % 64 or view.result(_result(classes, 0, i / 50), {"windows": i})) for i in range(20_000)])
        stream.start()
        stream.join(60)
        assert not stream.is_alive()
        [(_, snapshot)] = LiveFeed(view).first()  # every sample was taken: the last 10 s are the last 500
        assert snapshot["signal"]["n"] == 500 and view.samples_in == 20_000
    finally:
        start = time.monotonic()
        server.close()
        stuck.close()
    assert time.monotonic() - start < 10
