"""`edgehar serve --http`: the fleet page lists devices as they appear (real broker, real gateway)
and marks them offline when the gateway forgets them; each links to its live page."""

from __future__ import annotations

import numpy as np
from browser import Served, browser, page, screenshot  # noqa: F401  (fixtures)
from mqtt_broker import broker, mqtt  # noqa: F401  (fixtures)

from edgehar.runtime.sources import demo_path, iter_csv


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
