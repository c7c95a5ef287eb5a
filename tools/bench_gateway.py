"""Load benchmark of `edgehar serve`: N simulated sensor nodes at 50 Hz on loopback, and what
`stream --publish` costs.

    python tools/bench_gateway.py [--devices 500,750,1000@-10] [--staggered 1000,1500]
                                  [--cluster 500:1,500:2] [--nice 0]
                                  [--profile 1500@-20] [--seconds 60] [--batch 25]
                                  [--out models/gateway-bench.json]

For each N: a fresh Mosquitto on 127.0.0.1; the gateway (`edgehar serve`, default model, int8)
pinned to CPU 0; the broker, the node simulator and a listener pinned to CPU 1, each its own
process. The simulator replays the demo recording for every node (each from its own offset) in
the compact binary form, ``--batch`` samples per message (QoS 0, like PubSubClient), the nodes'
publish times spread evenly over the batch period, for ``--seconds``. The listener records when
each window's label arrives. Per N: samples sent and classified by the gateway (lost = the
difference), windows expected and received, latency from the publication of the batch that
completed a window to its label's arrival (p50/p99/max; the node's own batching delay comes on
top), how far the simulator fell behind its schedule, the gateway's CPU share of its core (mean, and
over its busiest batch period: every device's windows end within one, as the nodes start together,
unless ``--staggered``;
its CPU time per message sent, all its threads: the capacity of a core it would fill; how
much of it the main thread took: all since it does the network I/O too), how much of its
core other jobs of a shared machine took meanwhile, the load average, and its RSS per device.
The first ``--warmup`` seconds (3) are not timed: every device's first message starts its stream (a
streamer, a publisher, a Home Assistant announcement), a one-off backlog that a short run would
otherwise count in its latency and CPU; samples and windows are counted over the whole run.
N passes with zero lost samples and windows and p99 <= 100 ms (``max_devices_passed``: the largest N
that passed at normal priority with the nodes started together, the target's condition; the
``--staggered`` runs, of a fleet switched on over time, are kept apart). Every benchmark process runs in a
session of its own (the kernel's autogroup share), at priority ``--nice`` (default 0) or, for
``N@NICE``, at NICE: on a shared machine a negative value keeps other users' jobs from deciding
what one core appears to sustain.

``--profile N[@NICE]`` adds runs with py-spy (``pip install py-spy``, the ``bench`` extra) sampling
the gateway's threads while they hold the GIL: the share of its Python time in each part (paho's
network threads, decoding, the streamers' checks and filters, the decoder, the interpreter,
publishing); those runs are kept apart (``profiled_runs``), as the sampling costs a little.

Scale-out (``--cluster N:G``): the same load on a 3-node NATS cluster on loopback (MQTT and
JetStream on each node, the devices split into G partitions by the broker's subject mapping),
served by G `edgehar serve --partition K/G` processes, gateway K connected to node K mod 3 and
pinned to core K mod 2; the simulator and listener use node 2. The gateways publish their results
as docs/fleet.md has them on NATS (``--cluster-serve-options``). CPU: all gateways' together,
and each one's. A run with G > 1 after the run ``N:1`` says whether every window both received
has the same labels and probabilities (``labels_vs_one_gateway``).

First `stream --publish`: the demo streamed with and without a publisher (same process, broker on
loopback), the time per window publishing adds, and whether the results differ.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np
from nats_cluster import NatsCluster, free_port

from edgehar.atomic import write_json
from edgehar.bundle import Bundle
from edgehar.runtime.sources import demo_path, iter_csv
from edgehar.services.gateway import pack_binary

ROOT, RATE_HZ, WINDOW, HOP = "bench", 50, 128, 64
ACC_SCALE, GYRO_SCALE = 1 / 4096, 1 / 1000
GATEWAY_CPU, OTHERS_CPU = 0, 1
CLUSTER_SERVE_OPTIONS = "--result-qos 0 --retain-state change"
"""On NATS each QoS 1 or retained message is a JetStream write replicated to 3 nodes, made one at a
time per connection: the results go out at QoS 0 and the state is retained on changes (docs/fleet.md)."""


NICE = 0
"""Scheduling priority of the current run's processes."""


def pinned(cpu: int):
    """Run on ``cpu``, in a session of its own (as a service runs), at priority NICE: the kernel
    shares the CPU fairly between sessions first (autogroups), so a benchmark whose processes
    shared one session would get one session's share of a loaded machine for all of them, and a
    plain nice acts only within a session."""
    def setup():
        os.sched_setaffinity(0, {cpu})
        os.setsid()
        if NICE:
            Path("/proc/self/autogroup").write_text(str(NICE))
            os.nice(NICE)
    return setup


def start_broker(folder: Path, queue: int = 100_000) -> tuple[subprocess.Popen, int]:
    port = free_port()
    config = folder / "mosquitto.conf"
    lines = [f"listener {port} 127.0.0.1", "allow_anonymous true", f"max_queued_messages {queue}",
             "set_tcp_nodelay true"] + (["user root"] if os.geteuid() == 0 else [])
    config.write_text("\n".join(lines) + "\n")
    broker = subprocess.Popen(["mosquitto", "-c", str(config)], preexec_fn=pinned(OTHERS_CPU),
                              stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return broker, port
        except OSError:
            time.sleep(0.05)
    raise SystemExit("mosquitto did not start")


def client(port: int):
    import paho.mqtt.client as mqtt

    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    c.max_queued_messages_set(0)
    c.connect("127.0.0.1", port)
    c.loop_start()
    return c


def demo_counts() -> np.ndarray:
    x = np.concatenate([c.x for c in iter_csv(str(demo_path()))])
    return np.rint(x / np.array([ACC_SCALE] * 3 + [GYRO_SCALE] * 3)).astype(np.int16)


def skipped(devices: int, stagger: bool) -> np.ndarray:
    """Samples each device leaves out at its start: with ``stagger``, 0 to a hop at random, so that
    its windows end at moments of its own; else none, and every device's windows end in the same
    batch period."""
    return np.random.default_rng(1).integers(0, HOP, devices) if stagger else np.zeros(devices, int)


def simulate(port: int, devices: int, batch: int, batches: int, start, out: str,
             stagger: bool = False) -> None:
    """Make every message first, then publish ``batches`` batches per device on schedule from the
    time it puts in ``start`` (a shared double; 0 until then), leaving out the :func:`skipped`
    samples; save when each was published."""
    pinned(OTHERS_CPU)()
    raw, c = demo_counts(), client(port)
    offsets = np.random.default_rng(0).integers(0, len(raw), devices)
    period, dt_us = batch / RATE_HZ, np.arange(batch) * (1_000_000 // RATE_HZ)
    rows, skip = offsets[:, None] + np.arange(batch), skipped(devices, stagger)
    payloads = [[None if (left := skip[d] - k * batch) >= batch else
                 pack_binary(k * batch * 20_000, dt_us[max(left, 0):],
                             raw[(rows[d] + k * batch) % len(raw)][max(left, 0):], ACC_SCALE, GYRO_SCALE)
                 for d in range(devices)] for k in range(batches)]
    topics = [f"{ROOT}/node{d:05d}/imu" for d in range(devices)]
    published = np.zeros((devices, batches))
    behind = 0.0
    start.value = start_at = time.perf_counter() + 1.0
    for k in range(batches):
        for d in range(devices):
            due = start_at + (k + d / devices) * period
            if (wait := due - time.perf_counter()) > 0:
                time.sleep(wait)
            behind = max(behind, time.perf_counter() - due)
            if payloads[k][d] is not None:
                c.publish(topics[d], payloads[k][d], qos=0)
                published[d, k] = time.perf_counter()
    time.sleep(0.5)
    c.loop_stop()
    np.savez(out, published=published, behind=behind)


def listen(port: int, ready, stop, out: str) -> None:
    """Record (device, window end, arrival time, gateway latency ms, CRC-32 of its label, smoothed
    label and probabilities) of every result until ``stop``."""
    pinned(OTHERS_CPU)()
    arrivals = []

    def on_message(c, userdata, message):
        result = json.loads(message.payload)
        labels = json.dumps([result["label"], result["smoothed"], result["probs"]]).encode()
        arrivals.append((int(message.topic.split("/")[1][4:]), result["end"], time.perf_counter(),
                         result["latency_ms"], zlib.crc32(labels)))

    c = client(port)
    c.on_message = on_message
    c.subscribe(f"{ROOT}/+/window", qos=0)
    time.sleep(0.5)
    ready.set()
    stop.wait()
    c.loop_stop()
    np.save(out, np.array(arrivals, dtype=np.float64).reshape(-1, 5))


def proc_stat(pid: int, thread: int | None = None) -> tuple[float, float]:
    """(CPU seconds, RSS MB) of a process, or CPU seconds of one of its threads."""
    path = f"/proc/{pid}/stat" if thread is None else f"/proc/{pid}/task/{thread}/stat"
    fields = Path(path).read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    rss = int(fields[21]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    return cpu, rss


def busy(cpu: int) -> float:
    """Seconds CPU ``cpu`` has spent on anything but idling, since boot (/proc/stat)."""
    line = next(line for line in Path("/proc/stat").read_text().splitlines() if line.startswith(f"cpu{cpu} "))
    user, nice, system, idle, iowait, irq, softirq, steal = map(int, line.split()[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def start_gateways(ports: list[int], partitioned: bool, folder: Path, *options: str
                   ) -> list[subprocess.Popen]:
    """One `edgehar serve` per port (gateway k on ``ports[k]``, with ``--partition k/N`` when
    ``partitioned``), each pinned to a core in turn, once they serve. Each one's stderr goes to
    ``folder/gateway<k>.log`` (a pipe nobody reads would fill and stop it)."""
    processes = []
    for k, port in enumerate(ports):
        partition = ["--partition", f"{k}/{len(ports)}"] if partitioned else []
        with (folder / f"gateway{k}.log").open("w") as log:
            processes.append(subprocess.Popen(
                [sys.executable, "-m", "edgehar", "serve", "--mqtt", f"mqtt://127.0.0.1:{port}/{ROOT}",
                 "--idle", "600", *partition, *options], preexec_fn=pinned((GATEWAY_CPU + k) % 2),
                stderr=log))
    for k, gateway in enumerate(processes):
        while '"serving"' not in (log := (folder / f"gateway{k}.log").read_text()):
            if gateway.poll() is not None:
                raise SystemExit(f"a gateway did not start: {log[-2000:]}")
            time.sleep(0.1)
    return processes


def stop_gateways(processes: list[subprocess.Popen], folder: Path) -> list[dict]:
    """SIGTERM each gateway; their final summaries."""
    for gateway in processes:
        gateway.terminate()
    for gateway in processes:
        gateway.wait(60)
    return [json.loads((folder / f"gateway{k}.log").read_text().strip().splitlines()[-1])
            for k in range(len(processes))]


PARTS = (  # where the gateway's time goes: a stack counts for the first part found from its leaf up
    ("interpreter (LiteRT call, quantize)", ("TFLiteClassifier.",)),
    ("decoder (hmm)", ("HmmDecoder.",)),
    ("publishing results (JSON, paho publish)", ("ResultPublisher.publish",)),
    ("streamer: result bookkeeping", ("Streamer._result", "DeviceStreamer.results")),
    ("streamer: filters and windows", ("Preprocessor.push", "Streamer._windows",
                                       "DeviceStreamer.due_block", "DeviceStreamer.windows_of")),
    ("streamer: checks, 50 Hz grid, held block", ("Streamer.feed", "DeviceStreamer.hold_usual",
                                                  "_usual ", "_feed ")),
    ("decoding messages", ("decode_batches", "decode_joined")),
    ("inbox (queues, fairness)", ("Inbox.", "Gateway._received")),
    ("paho: receiving messages", ("Client._packet_read",)),
    ("paho: sending", ("Client._packet_write", "flush ")),
    ("paho: network loop", ("Client._loop",)),
    ("new devices (streamer, publisher, announcement)", ("Gateway._start", "Gateway._pace_retained")),
    ("gateway loop", ("Gateway.",)),
)


def profile(pid: int, seconds: float, out: Path) -> subprocess.Popen:
    """py-spy sampling the gateway's threads while they hold the GIL (its Python time), on CPU 1."""
    return subprocess.Popen(["py-spy", "record", "--pid", str(pid), "--duration", str(int(seconds)), "--rate",
                             "200", "--gil", "--threads", "--nonblocking", "--format", "raw", "--output",
                             str(out)], preexec_fn=pinned(OTHERS_CPU), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def time_by_part(raw: Path) -> dict:
    """Percent of py-spy's samples in each of PARTS, and in paho's threads altogether."""
    parts, total, network = dict.fromkeys([name for name, _ in PARTS] + ["other"], 0), 0, 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        total += int(count)
        network += int(count) * ("MainThread" not in frames[0])
        part = next((name for frame in reversed(frames) for name, keys in PARTS
                     if any(frame.startswith(key) for key in keys)), "other")
        parts[part] += int(count)
    return {"samples": total, "paho_threads_percent": round(100 * network / max(total, 1), 1),
            "percent": {name: round(100 * n / max(total, 1), 1) for name, n in parts.items()}}


def run_load(devices: int, seconds: float, batch: int, folder: Path, gateways: int = 0,
             options: tuple[str, ...] = (), profiled: bool = False, warmup: float = 3.0,
             stagger: bool = False) -> dict:
    """N devices against one gateway on Mosquitto (``gateways`` 0), or against ``gateways``
    partitioned gateways on a 3-node NATS cluster (the simulator and listener on its third node);
    ``profiled``: with py-spy watching the gateway after the warm-up until 1 s before the end.
    Latency and CPU are measured after the first ``warmup`` seconds; samples and windows over all."""
    folder.mkdir(exist_ok=True)
    if gateways:
        cluster = NatsCluster(folder, nodes=3, root=ROOT, partitions=gateways, preexec_fn=pinned(OTHERS_CPU))
        port, ports = cluster.mqtt_ports[2], [cluster.mqtt_ports[k % 3] for k in range(gateways)]
        stop_broker = cluster.stop
    else:
        broker, port = start_broker(folder)
        ports = [port]

        def stop_broker():
            broker.terminate()
            broker.wait(10)
    processes = []
    try:
        processes = start_gateways(ports, bool(gateways), folder, *options)
        time.sleep(1.0)
        rss0 = sum(proc_stat(g.pid)[1] for g in processes)
        ready, stop = mp.Event(), mp.Event()
        listener = mp.Process(target=listen, args=(port, ready, stop, str(folder / "arrivals.npy")))
        listener.start()
        ready.wait(30)
        batches = int(seconds * RATE_HZ / batch)
        start = mp.Value("d", 0.0)
        simulator = mp.Process(target=simulate, args=(port, devices, batch, batches, start,
                                                      str(folder / "published.npz"), stagger))
        simulator.start()
        while not start.value:
            time.sleep(0.05)
        load0 = os.getloadavg()
        start_at = start.value
        measured_from = start_at + warmup
        time.sleep(max(0.0, measured_from - time.perf_counter()))
        cpu0 = [proc_stat(g.pid)[0] for g in processes]
        busy0 = busy(GATEWAY_CPU)
        main0 = sum(proc_stat(g.pid, g.pid)[0] for g in processes)  # the classifying threads
        if profiled:
            spy = profile(processes[0].pid, seconds - warmup - 1, folder / "py-spy.txt")
        ticks = []  # (time, CPU seconds of the gateways): how full the core is from moment to moment
        while simulator.is_alive():
            ticks.append((time.perf_counter(), sum(proc_stat(g.pid)[0] for g in processes)))
            simulator.join(0.1)
        stats = [proc_stat(g.pid) for g in processes]
        busy1 = busy(GATEWAY_CPU)
        main1 = sum(proc_stat(g.pid, g.pid)[0] for g in processes)
        wall = time.perf_counter() - measured_from
        time.sleep(3.0)  # the tail: anything later than this counts as lost
        stop.set()
        listener.join()
        if profiled:
            spy.wait(60)
        load1 = os.getloadavg()
    finally:
        summaries = stop_gateways(processes, folder)
        stop_broker()
    served = {name: counts for s in summaries for name, counts in s["devices"].items()}
    sim = np.load(folder / "published.npz")
    published = sim["published"]
    arrivals = np.load(folder / "arrivals.npy")
    skip = skipped(devices, stagger)
    sent = batches * batch - skip  # per device
    classified = np.array([served.get(f"node{d:05d}", {}).get("samples", 0) for d in range(devices)])
    expected_windows = ((sent - WINDOW) // HOP + 1).sum()
    dev, end = arrivals[:, 0].astype(int), arrivals[:, 1].astype(int)
    completed = published[dev, (skip[dev] + end - 1) // batch]
    latency_all = (arrivals[:, 2] - completed) * 1e3
    steady = completed >= measured_from
    latency_ms, gateway_ms = latency_all[steady], arrivals[steady, 3]
    windows = len(np.unique(dev * 10**9 + end))
    p99 = float(np.percentile(latency_ms, 99)) if len(latency_ms) else float("inf")
    messages = int((published >= measured_from).sum())
    rss1 = sum(rss for _, rss in stats)
    return {
        "devices": devices, "broker": "nats cluster, 3 nodes" if gateways else "mosquitto",
        "serve_options": " ".join(options),
        "gateways": max(gateways, 1), "seconds": round(wall, 1), "batch_samples": batch,
        "messages_per_s": round(devices * RATE_HZ / batch),
        "stagger": stagger,
        "samples_sent": int(sent.sum()), "samples_classified": int(classified.sum()),
        "lost_samples": int(sent.sum() - classified.sum()),
        "windows_expected": int(expected_windows), "windows_received": int(windows),
        "nice": NICE,
        "latency_ms_p50": round(float(np.percentile(latency_ms, 50)), 2) if len(latency_ms) else None,
        "latency_ms_p99": round(p99, 2),
        "latency_ms_max": round(float(latency_ms.max()), 2) if len(latency_ms) else None,
        "latency_ms_p99_with_warmup": round(float(np.percentile(latency_all, 99)), 2)
        if len(latency_all) else None,
        "gateway_latency_ms_p99": round(float(np.percentile(gateway_ms, 99)), 2) if len(gateway_ms) else None,
        "warmup_seconds": warmup,
        "simulator_behind_ms_max": round(float(sim["behind"]) * 1e3, 2),
        "gateway_cpu_percent": round(100 * (sum(cpu for cpu, _ in stats) - sum(cpu0)) / wall, 1),
        "gateway_cpu_percent_busiest_half_second": busiest(ticks, batch / RATE_HZ),
        "gateway_classifying_thread_cpu_percent": round(100 * (main1 - main0) / wall, 1),
        "gateway_cpu_us_per_message": round(1e6 * (sum(cpu for cpu, _ in stats) - sum(cpu0))
                                            / max(1, messages)),
        "gateway_core_used_by_others_percent": round(100 * (busy1 - busy0 - sum(cpu for cpu, _ in stats)
                                                            + sum(cpu0)) / wall, 1) if not gateways else None,
        "gateway_cpu_percent_each": [round(100 * (cpu - c0) / wall, 1)
                                     for (cpu, _), c0 in zip(stats, cpu0, strict=True)],
        "gateway_rss_mb": {"idle": round(rss0, 1), "loaded": round(rss1, 1)},
        "rss_kb_per_device": round((rss1 - rss0) * 1024 / devices, 1),
        "publish_dropped": sum(s["mqtt"]["dropped"] for s in summaries),
        "load_average_before_after": [round(load0[0], 2), round(load1[0], 2)],
        "passed": bool(sent.sum() == classified.sum() and windows == expected_windows and p99 <= 100),
        **({"gateway_time_by_part": time_by_part(folder / "py-spy.txt")} if profiled else {}),
    }


def busiest(ticks: list[tuple[float, float]], span: float) -> float | None:
    """The gateways' highest CPU share over ``span`` seconds (one batch period: every device's
    message once), from (time, CPU seconds) samples. The nodes' windows end at the same sample
    count, so the windows of all devices come within one batch period: a mean share below 100%
    can hide a full core, and a queue, there."""
    t, cpu = (np.array(column) for column in zip(*ticks, strict=True)) if len(ticks) > 1 else ([], [])
    shares = [(cpu[j] - cpu[i]) / (t[j] - t[i]) for i in range(len(t))
              if (j := int(np.searchsorted(t, t[i] + span))) < len(t)]
    return round(100 * max(shares), 1) if shares else None


def same_labels(arrivals: Path, reference: Path) -> dict:
    """The windows both runs' listeners received (same device and end): how many, and in how many
    the label, smoothed label or probabilities differ."""
    got, want = ({(int(row[0]), int(row[1])): row[4] for row in np.load(path)}
                 for path in (arrivals, reference))
    common = got.keys() & want.keys()
    return {"windows_compared": len(common), "windows_differing": int(sum(got[k] != want[k] for k in common))}


def measure_stream_overhead(folder: Path, repeats: int) -> dict:
    """:func:`stream_overhead` in a process of its own on the gateway's core, at priority NICE."""
    results = mp.Queue()
    worker = mp.Process(target=lambda: (pinned(GATEWAY_CPU)(), results.put(stream_overhead(folder, repeats))))
    worker.start()
    overhead = results.get()
    worker.join()
    return overhead


def stream_overhead(folder: Path, repeats: int) -> dict:
    """The demo streamed with and without `--publish`: the time publishing adds per window at full
    replay speed (the network thread's work included), the time one ``publish()`` call takes when
    windows come at a live pace (one every 20 ms here), and whether the results differ."""
    from edgehar.runtime.stream import Streamer, run
    from edgehar.services.mqtt import open_publisher

    broker, port = start_broker(folder)
    bundle = Bundle.default()
    chunks = list(iter_csv(str(demo_path())))
    timings: dict[str, list] = {"plain": [], "publish": []}
    calls: dict[str, list] = {"replay": [], "paced": []}
    outputs = {}

    def stream(publisher=None, pace: float = 0.0, calls=None) -> tuple[list[dict], float]:
        lines = []

        def emit(result):
            lines.append(result.to_json())
            if publisher:
                t = time.perf_counter()
                publisher.publish(result)
                calls.append(time.perf_counter() - t)
                time.sleep(pace)

        streamer = Streamer.from_bundle(bundle, "int8")
        t0 = time.perf_counter()
        run(streamer, chunks, emit)
        seconds = (time.perf_counter() - t0) / streamer.windows
        return [{k: v for k, v in json.loads(line).items() if k != "latency_ms"} for line in lines], seconds

    try:
        publisher, conn = open_publisher(f"mqtt://127.0.0.1:{port}/bench/stream", bundle.classes, bundle.name)
        for _ in range(repeats):
            outputs["plain"], seconds = stream()
            timings["plain"].append(seconds)
            outputs["publish"], seconds = stream(publisher, calls=calls["replay"])
            timings["publish"].append(seconds)
        outputs["paced"], _ = stream(publisher, pace=0.02, calls=calls["paced"])
        counts = conn.close()
    finally:
        broker.terminate()
        broker.wait(10)
    plain, published = np.median(timings["plain"]) * 1e3, np.median(timings["publish"]) * 1e3
    ms = {k: np.array(v) * 1e3 for k, v in calls.items()}
    return {"windows": len(outputs["plain"]), "repeats": repeats,
            "ms_per_window_plain": round(float(plain), 4),
            "ms_per_window_publish": round(float(published), 4),
            "added_ms_per_window": round(float(published - plain), 4),
            "publish_call_ms_mean_replay": round(float(ms["replay"].mean()), 4),
            "publish_call_ms_mean_paced": round(float(ms["paced"].mean()), 4),
            "publish_call_ms_p99_paced": round(float(np.percentile(ms["paced"], 99)), 4),
            "output_identical": outputs["plain"] == outputs["publish"] == outputs["paced"],
            "messages": counts["messages"], "delivered": counts["delivered"],
            "undelivered": counts["undelivered"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", default="500,750,1000", help="N or N@NICE, comma-separated")
    parser.add_argument("--cluster", default="", help="N:G, comma-separated: N devices, G partitioned "
                        "gateways on a 3-node NATS cluster (scale-out), e.g. 500:1,500:2")
    parser.add_argument("--profile", default="", help="N or N@NICE, comma-separated: extra runs with py-spy "
                        "watching the gateway (pip install py-spy), to say where its time goes")
    parser.add_argument("--serve-options", default="", help="more options of every `edgehar serve`, e.g. "
                        "--no-quiet-connection")
    parser.add_argument("--cluster-serve-options", default=CLUSTER_SERVE_OPTIONS, help="more options of "
                        "the gateways on the NATS cluster (default: results as docs/fleet.md has them on "
                        "NATS; '' for serve's defaults)")
    parser.add_argument("--seconds", type=float, default=60.0, help="per run, the warm-up included")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds not timed at the start of a run")
    parser.add_argument("--batch", type=int, default=25)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--nice", type=int, default=0, help="priority of the benchmark's processes")
    parser.add_argument("--staggered", default="", help="N, comma-separated: more one-gateway runs in which "
                        "each device leaves out 0 to 63 samples at its start, so that its windows end at "
                        "moments of its own (a fleet switched on over time) instead of every device's in the "
                        "same batch period")
    parser.add_argument("--out", type=Path, default=Path("models/gateway-bench.json"))
    args = parser.parse_args()
    global NICE
    runs, options = [], tuple(args.serve_options.split())
    with tempfile.TemporaryDirectory() as tmp:
        NICE = args.nice
        overhead = measure_stream_overhead(Path(tmp), args.repeats)
        print(json.dumps(overhead), flush=True)
        sweep = [(spec, False) for spec in filter(None, args.devices.split(","))]
        for spec, stagger in sweep + [(spec, True) for spec in filter(None, args.staggered.split(","))]:
            n, _, nice = spec.partition("@")
            NICE = int(nice or args.nice)
            runs.append(run_load(int(n), args.seconds, args.batch, Path(tmp), options=options,
                                 warmup=args.warmup, stagger=stagger))
            print(json.dumps(runs[-1]), flush=True)
        profiles = []
        for spec in filter(None, args.profile.split(",")):
            n, _, nice = spec.partition("@")
            NICE = int(nice or args.nice)
            profiles.append(run_load(int(n), args.seconds, args.batch, Path(tmp), options=options,
                                     profiled=True, warmup=args.warmup))
            print(json.dumps(profiles[-1]), flush=True)
        NICE = args.nice
        cluster_options = options + tuple(args.cluster_serve_options.split())
        for spec in filter(None, args.cluster.split(",")):
            n, _, gateways = spec.partition(":")
            folder = Path(tmp) / spec.replace(":", "x")
            runs.append(run_load(int(n), args.seconds, args.batch, folder, gateways=int(gateways),
                                 options=cluster_options, warmup=args.warmup))
            if (one := Path(tmp) / f"{n}x1") != folder and one.exists():
                runs[-1]["labels_vs_one_gateway"] = same_labels(folder / "arrivals.npy", one / "arrivals.npy")
            print(json.dumps(runs[-1]), flush=True)
    passed = [r["devices"] for r in runs
              if r["passed"] and r["broker"] == "mosquitto" and r["nice"] == 0 and not r["stagger"]]
    write_json(args.out, {
        "conditions": {"machine": f"{platform.machine()}, {os.cpu_count()} cores shared with other users",
                       "python": platform.python_version(), "model": Bundle.default().name, "variant": "int8",
                       "gateway_cpu": GATEWAY_CPU, "broker_simulator_listener_cpu": OTHERS_CPU,
                       "node_format": "compact binary", "node_qos": 0, "rate_hz": RATE_HZ,
                       "seconds_per_run": args.seconds, "warmup_seconds": args.warmup,
                       "load_average_at_end": round(os.getloadavg()[0], 2),
                       "broker": "mosquitto with set_tcp_nodelay true, or a 3-node nats-server cluster "
                       "(MQTT + JetStream, partition mapping) for the scale-out runs"},
        "max_devices_passed": max(passed) if passed else 0, "runs": runs, "profiled_runs": profiles,
        "stream_publish": {"nice": args.nice, **overhead}})


if __name__ == "__main__":
    main()
