"""A NATS cluster on loopback (Debian's nats-server): JetStream and MQTT on every node, and a
subject mapping that splits the devices of ROOT/DEVICE/imu into partitions, as docs/fleet.md sets
it up for several `edgehar serve --partition K/N`. Used by tools/bench_gateway.py and the tests."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import paho.mqtt.client as mqtt


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def config(name: str, folder: Path, ports: dict, routes: list[int], root: str, partitions: int,
           stream_replicas: int = 0) -> str:
    """One node's configuration; ``stream_replicas`` 0: NATS's default for MQTT's streams (the
    cluster's size, at most 3)."""
    subject = root.replace("/", ".")
    replicas = f", stream_replicas: {stream_replicas}" if stream_replicas else ""
    return f"""server_name: {name}
listen: 127.0.0.1:{ports['client']}
jetstream {{ store_dir: "{folder / name}" }}
mqtt {{ listen: 127.0.0.1:{ports['mqtt']}{replicas} }}
cluster {{
  name: edgehar
  listen: 127.0.0.1:{ports['cluster']}
  routes: [{', '.join(f'nats-route://127.0.0.1:{p}' for p in routes)}]
}}
mappings = {{
  "{subject}.*.imu": "{subject}.{{{{wildcard(1)}}}}.imu.{{{{partition({partitions},1)}}}}"
}}
"""


class NatsCluster:
    """``nodes`` nats-servers routed to each other; ``mqtt_ports`` take MQTT 3.1.1 clients."""

    def __init__(self, folder: Path, nodes: int = 3, root: str = "edgehar", partitions: int = 2,
                 preexec_fn=None, stream_replicas: int = 0):
        ports = [{"client": free_port(), "mqtt": free_port(), "cluster": free_port()} for _ in range(nodes)]
        self.mqtt_ports = [p["mqtt"] for p in ports]
        self.processes = []
        for i, p in enumerate(ports):
            path = folder / f"n{i}.conf"
            path.write_text(config(f"n{i}", folder, p, [q["cluster"] for q in ports if q is not p], root,
                                   partitions, stream_replicas))
            with (folder / f"n{i}.log").open("w") as log:
                self.processes.append(subprocess.Popen(["nats-server", "-c", str(path)],
                                                       stdout=subprocess.DEVNULL, stderr=log,
                                                       preexec_fn=preexec_fn))
        for port in self.mqtt_ports:
            self._wait_for_mqtt(port)

    def _wait_for_mqtt(self, port: int, timeout: float = 60.0) -> None:
        """Until an MQTT client is accepted (JetStream, which MQTT needs, elects its leader first)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
            try:
                client.connect("127.0.0.1", port)
                client.loop_start()
                for _ in range(50):
                    if client.is_connected():
                        return
                    time.sleep(0.1)
            except OSError:
                time.sleep(0.2)
            finally:
                client.loop_stop()
                client.disconnect()
        raise RuntimeError(f"the NATS cluster took no MQTT client on port {port} in {timeout:g} s")

    def url(self, node: int) -> str:
        return f"mqtt://127.0.0.1:{self.mqtt_ports[node]}"

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            process.wait(20)

