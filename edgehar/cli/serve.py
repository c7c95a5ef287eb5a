"""`edgehar serve`: an MQTT gateway that classifies the raw samples of many sensor nodes."""

from __future__ import annotations

import json
import signal
import sys
from typing import Annotated

import typer

from edgehar.cli.app import app
from edgehar.cli.http_options import HttpOption
from edgehar.cli.mqtt_options import DiscoveryOption, MqttBufferOption, MqttCaOption
from edgehar.cli.numbers import MAX_GAP, HopOption, number
from edgehar.cli.stream import EXIT_CODES, ModelOption, VariantOption, _bundle


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
    idle: Annotated[float, number(0, 1e7, above=True, help="Forget a device silent this long (s).")] = 60.0,
    mqtt_ca: MqttCaOption = None,
    mqtt_buffer: MqttBufferOption = 10_000,
    discovery_prefix: DiscoveryOption = "homeassistant",
    http: HttpOption = None,
) -> None:
    """Classify the IMU streams of many sensor nodes that publish raw samples over MQTT."""
    from edgehar.runtime.stream import Terminated
    from edgehar.services.gateway import Gateway
    from edgehar.services.mqtt import Connection, parse_url

    bundle = _bundle(model)
    target = parse_url(mqtt, default_topic="edgehar")
    conn = Connection(target, f"{target.topic}/_gateway/availability", ca_file=mqtt_ca, buffer=mqtt_buffer)
    gateway = Gateway(conn, bundle, target.topic, variant=variant, hop=hop, smooth=smooth or bundle.smoothing,
                      max_gap_s=max_gap, idle_s=idle, discovery_prefix=discovery_prefix)
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
