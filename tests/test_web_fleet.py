"""`edgehar serve --http`: the fleet page lists devices as they appear (real broker, real gateway)
and marks them offline when the gateway forgets them; each links to its live page."""

from __future__ import annotations

import urllib.error
import urllib.request

import numpy as np
from browser import Served, browser, page, screenshot  # noqa: F401  (fixtures)
from mqtt_broker import broker, mqtt  # noqa: F401  (fixtures)

from edgehar.bundle import Bundle
from edgehar.runtime.interpreter import TFLiteClassifier
from edgehar.runtime.sources import Chunk, demo_path, iter_csv
from edgehar.runtime.stream import Result, Streamer
from edgehar.services.web.fleet import FleetFeed, FleetView
from edgehar.services.web.server import WebServer


def _lines(t, x) -> list[str]:
    return [",".join(repr(float(v)) for v in row) for row in np.c_[t, x]]


def test_the_fleet_page_lists_devices_appearing_and_going_offline(broker, page):
    chunks = list(iter_csv(str(demo_path())))
    t, x = np.concatenate([c.t for c in chunks])[:2000], np.concatenate([c.x for c in chunks])[:2000]
    served = Served("serve", "--mqtt", f"{broker.url}/edgehar", "--idle", "2", "--http", "0")
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    try:
        page.goto(served.url)
        page.wait_for_function("document.getElementById('connection').textContent === 'live'")
        assert page.locator("#devices tr").count() == 0
        client.connect("127.0.0.1", broker.port)
        client.loop_start()
        lines = _lines(t, x)
        for i in range(0, 1000, 25):  # node-a: 20 s of the demo
            client.publish("edgehar/node-a/imu", "\n".join(lines[i:i + 25]), qos=1).wait_for_publish(5)
        page.wait_for_selector("tr[data-device=node-a][data-status=online]")
        page.wait_for_function("document.querySelector('tr[data-device=node-a] td:nth-child(3)')"
                               ".textContent === 'STANDING'")
        # node-b appears while node-a goes silent; the gateway forgets node-a after 2 s
        for i in range(0, 2000, 25):
            client.publish("edgehar/node-b/imu", "\n".join(lines[i:i + 25]), qos=1).wait_for_publish(5)
        page.wait_for_selector("tr[data-device=node-b]")
        page.wait_for_selector("tr[data-device=node-a][data-status=offline]", timeout=15_000)
        rows = page.locator("#devices tr").evaluate_all("rows => rows.map(r => r.dataset.device)")
        assert rows == ["node-a", "node-b"]
        windows = page.locator("tr[data-device=node-b] td:nth-child(5)").text_content()
        assert int(windows) == (2000 - 128) // 64 + 1
        screenshot(page, "web-fleet.png")
        page.click("a:text('node-b')")
        page.wait_for_function("document.getElementById('activity').dataset.label === 'SITTING'")
        assert page.locator("#title").text_content() == "node-b · edgehar serve"
        screenshot(page, "web-device.png")
    finally:
        client.loop_stop()
        client.disconnect()
        err = served.stop()
    assert '"forgotten"' in err


def _result(classes, k: int, t: float) -> Result:
    probs = [0.9 if i == k else 0.1 / (len(classes) - 1) for i in range(len(classes))]
    return Result(0, 128, t - 2.56, t, classes[k], 0.9, probs, classes[k], 1.0, classes[k], classes[k])


def test_the_fleet_keeps_only_the_newest_offline_devices(page):
    """With keep_offline=2, a third device going offline drops the oldest from the page (and its
    live page from memory); one coming back online is no longer counted offline."""
    bundle = Bundle.default()
    classes = bundle.classes
    view = FleetView(classes, bundle.name, keep_offline=2)
    streamer = Streamer(TFLiteClassifier(bundle.tflite("int8")), bundle.pipeline, classes, window=128, hop=64)
    chunk = Chunk(np.arange(25) / 50, np.zeros((25, 6)))
    names = [f"node-{i}" for i in range(5)]
    for i, name in enumerate(names):
        view.results(name, chunk, [_result(classes, i % len(classes), 2.56)], streamer)
    server = WebServer("0", view.routes()).start("fleet page")
    try:
        page.goto(f"http://127.0.0.1:{server.port}/")
        page.wait_for_function("document.querySelectorAll('#devices tr').length === 5")
        for name in names[:3]:
            view.offline(name)
        page.wait_for_selector("tr[data-device=node-0]", state="detached")
        shown = page.locator("#devices tr").evaluate_all(
            "rows => rows.map(r => [r.dataset.device, r.dataset.status])")
        assert shown == [["node-1", "offline"], ["node-2", "offline"], ["node-3", "online"],
                         ["node-4", "online"]]
        assert "node-0" not in view.lives and _status(server, "node-0") == 404
        view.results("node-1", chunk, [], streamer)  # back online: node-2 is the only offline one
        view.offline("node-3")
        page.wait_for_selector("tr[data-device=node-3][data-status=offline]")
        assert sorted(view.devices) == names[1:] and _status(server, "node-2") == 200
        # a page that missed more drops than the fleet remembers gets the whole list again
        feed = FleetFeed(view)
        feed.first()
        view.keep_offline = 0
        view.offline("node-4")
        [(event, snapshot)] = feed.next()
        assert event == "snapshot" and [row[0] for row in snapshot["devices"]] == ["node-1"]
        page.wait_for_function("document.querySelectorAll('#devices tr').length === 1")
    finally:
        server.close()


def _status(server, name: str) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/device?name={name}", timeout=30) as r:
            return r.status
    except urllib.error.HTTPError as err:
        return err.code
