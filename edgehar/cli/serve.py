"""`edgehar serve`: an MQTT gateway that classifies the raw samples of many sensor nodes."""

from __future__ import annotations

import json
import signal
import sys
from typing import Annotated, Literal

import typer

from edgehar.cli.app import app
from edgehar.cli.http_options import HttpOption
from edgehar.cli.mqtt_options import DiscoveryOption, MqttBufferOption, MqttCaOption
from edgehar.cli.numbers import MAX_GAP, HopOption, number
from edgehar.cli.stream import EXIT_CODES, ModelOption, VariantOption, _bundle
from edgehar.errors import OptionError


def _partition(text: str | None) -> tuple[int, int] | None:
    """'K/N' -> (K, N), 0 <= K < N."""
    if text is None:
        return None
    k, _, n = text.partition("/")
    if not (k.isdigit() and n.isdigit() and int(k) < int(n) <= 1024):
        raise OptionError(f"--partition {text!r}: expected K/N with 0 <= K < N <= 1024, e.g. 0/2")
    return int(k), int(n)


@app.command()
def serve(
    mqtt: Annotated[str, typer.Option(
        "--mqtt", help="Broker and root topic, mqtt[s]://[USER[:PASS]@]HOST[:PORT]/ROOT (default ROOT: "
        "edgehar); nodes publish to ROOT/DEVICE/imu. USER and PASS default to $EDGEHAR_MQTT_USERNAME "
        "and $EDGEHAR_MQTT_PASSWORD.")],
    model: ModelOption = None,
    variant: VariantOption = "int8",
    hop: HopOption = None,
    smooth: Annotated[str | None, typer.Option(
        help="none, vote:K, ema:A, hysteresis[:N[:P]], hmm[:LAG][@W] or hsmm[:LAG][@W] (the bundle's "
        "decoders), per device. Default: the bundle's choice, as for stream.",
    )] = None,
    max_gap: Annotated[float, number(*MAX_GAP, above=True,
        help="A pause longer than this (s) restarts a device's window and filters.")] = 0.1,
    idle: Annotated[float, number(0, 1e7, above=True,
        help="Forget a device silent this long (s): its retained messages are cleared.")] = 60.0,
    keep_retained: Annotated[bool, typer.Option(
        help="When forgetting a device, only mark it offline: its Home Assistant sensor stays.")] = False,
    max_devices: Annotated[int, number(1, 10_000_000, integer=True,
        help="Devices served at once; a new one beyond is refused (logged) until others are forgotten.",
    )] = 8_000,
    max_message: Annotated[int, number(1, 2**28, integer=True,
        help="Largest message (bytes); larger ones are dropped unread and counted. Announced to an "
        "MQTT 5 broker, which then never sends larger ones.")] = 65_536,
    max_rate: Annotated[float, number(0, 1e6, above=True,
        help="Samples a second one device may send on average; beyond, its samples are dropped and "
        "counted.")] = 200.0,
    quiet_connection: Annotated[bool, typer.Option(
        help="Give every well-behaved device a subscription of its own on a second connection, so that a "
        "flood on the shared one never delays or drops its messages (each of its messages then arrives "
        "twice, one copy ignored).")] = True,
    partition: Annotated[str | None, typer.Option(
        help="K/N: serve partition K (0..N-1) of a fleet the broker splits into N (ROOT/DEVICE/imu mapped "
        "to ROOT/DEVICE/imu/K, see docs/fleet.md).")] = None,
    result_qos: Annotated[int, number(0, 1, integer=True,
        help="QoS of each window's results (ROOT/DEVICE/window and state). 0: no acknowledgement and "
        "no --mqtt-buffer (results made while the broker is away are dropped and counted); on NATS a "
        "QoS 1 message is a replicated JetStream write, see docs/fleet.md.")] = 1,
    retain_state: Annotated[Literal["window", "change"], typer.Option(
        help="Retain ROOT/DEVICE/state every window, or only when its activity changes (the other "
        "windows' states still reach subscribers; a new one gets the state of the last change "
        "first). On NATS every retained message is a replicated JetStream write.")] = "window",
    mqtt_ca: MqttCaOption = None,
    mqtt_buffer: MqttBufferOption = 10_000,
    discovery_prefix: DiscoveryOption = "homeassistant",
    http: HttpOption = None,
) -> None:
    """Classify the IMU streams of many sensor nodes that publish raw samples over MQTT."""
    from edgehar.runtime.stream import Terminated
    from edgehar.services.gateway import Gateway, Limits, availability_topic
    from edgehar.services.mqtt import PACKET_OVERHEAD, Connection, parse_url

    part = _partition(partition)
    bundle = _bundle(model)
    if hop is not None and not 1 <= hop <= bundle.window:
        raise OptionError(f"--hop must be 1 to the window's {bundle.window} samples, not {hop}")
    target = parse_url(mqtt, default_topic="edgehar")
    max_packet = max_message + PACKET_OVERHEAD  # MQTT 5: the broker sends nothing larger
    conn = Connection(target, availability_topic(target.topic, part), ca_file=mqtt_ca, buffer=mqtt_buffer,
                      max_packet=max_packet)
    limits = Limits(max_devices=max_devices, max_message=max_message, rate_hz=max_rate)
    gateway = Gateway(conn, bundle, target.topic, variant=variant, hop=hop, smooth=smooth or bundle.smoothing,
                      max_gap_s=max_gap, idle_s=idle, discovery_prefix=discovery_prefix, limits=limits,
                      keep_retained=keep_retained, partition=part, result_qos=result_qos,
                      retain_every_window=retain_state == "window",
                      quiet=Connection(target, None, ca_file=mqtt_ca, buffer=mqtt_buffer,
                                       max_packet=max_packet) if quiet_connection else None)
    if http:
        from edgehar.services.web.app import serve_fleet

        web = serve_fleet(http, gateway)

    def terminate(signum, frame):
        raise Terminated

    signal.signal(signal.SIGTERM, terminate)
    try:
        end = gateway.serve()
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        if http:
            web.close()
    print(json.dumps({"end": end, **gateway.close()}), file=sys.stderr)
    raise typer.Exit(EXIT_CODES[end])
