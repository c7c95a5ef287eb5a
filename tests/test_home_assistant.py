"""What Home Assistant is told: its subscriptions keep the QoS edgehar publishes with, and the docs
name the Home Assistant version that keeps the sensor's list of states."""

from __future__ import annotations

from pathlib import Path

from edgehar.services.mqtt import discovery_config

DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_discovery_asks_home_assistant_to_subscribe_at_qos_1():
    config = discovery_config("edgehar/desk", ["WALKING", "SITTING"], "m", ["edgehar/desk/availability"])
    assert config["qos"] == 1
    assert config["options"] == ["WALKING", "SITTING"] and config["device_class"] == "enum"


def test_the_mqtt_page_names_the_minimum_version_and_demos_at_a_live_pace():
    page = (DOCS / "mqtt.md").read_text()
    assert "Home Assistant 2024.9 or later" in page
    demo_lines = [line for line in page.splitlines() if line.startswith("edgehar stream --source demo")]
    assert demo_lines and all("--speed realtime" in line for line in demo_lines)
