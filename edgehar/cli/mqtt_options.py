"""Command-line options of MQTT publishing, shared by `edgehar stream` and `edgehar serve`."""

from __future__ import annotations

from typing import Annotated

import typer

from edgehar.cli.numbers import number
from edgehar.errors import OptionError
from edgehar.services.mqtt import is_topic


def _prefix(value: str) -> str:
    if value and not is_topic(value):
        raise OptionError(f"--discovery-prefix {value!r}: a topic without +, # or empty levels is needed "
                          "('' turns discovery off)")
    return value


PublishOption = Annotated[str | None, typer.Option(
    "--publish", help="Also publish results to mqtt[s]://[USER[:PASS]@]HOST[:PORT]/TOPIC (needs "
    "edgehar[mqtt]); USER and PASS default to $EDGEHAR_MQTT_USERNAME and $EDGEHAR_MQTT_PASSWORD.")]
MqttCaOption = Annotated[str | None, typer.Option(
    envvar="EDGEHAR_MQTT_CA", help="CA certificate file (PEM) for mqtts://. Default: the system's.")]
MqttBufferOption = Annotated[int, number(0, 10_000_000, integer=True,
    help="Messages held in order while the broker is away (2 per window); beyond, dropped and counted.")]
DiscoveryOption = Annotated[str, typer.Option(
    callback=_prefix, help="Home Assistant MQTT discovery prefix; '' turns discovery off.")]
