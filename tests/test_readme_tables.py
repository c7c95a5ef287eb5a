"""tools/readme_tables.py: the generated blocks of the README and docs/ are what the committed JSON
gives, and the performance and gateway tables say what was not measured instead of failing."""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tools"))
import readme_tables as tables  # noqa: E402


@pytest.fixture(scope="module")
def gateway() -> dict:
    return json.loads((REPO / "models" / "gateway-bench.json").read_text())


@pytest.fixture(scope="module")
def stream() -> dict:
    return json.loads((REPO / "models" / "stream-bench.json").read_text())


def test_every_generated_block_is_what_the_committed_json_gives():
    """Rerunning the tool changes no page: the performance and gateway tables included."""
    blocks = tables.sections(tables.shipped_models())
    placed = set()
    for page in tables.PAGES:
        text = page.read_text()
        for name, body in blocks.items():
            if f"<!-- {name} -->" in text:
                assert tables.replace_section(text, name, body) == text, \
                    f"{page.name}: {name} is stale; run python tools/readme_tables.py"
                placed.add(name)
    assert {"performance-table", "gateway-table", "defaults-table"} <= placed
    assert set(blocks) == placed, f"blocks with no place on any page: {set(blocks) - placed}"


def test_the_performance_table_gives_every_stream_target_and_links_the_details(stream, gateway):
    text = tables.performance_table(stream, gateway)
    for target in stream["targets"].values():
        assert f"{target['value']:g}" in text
    assert text.count("| met |") + text.count("| missed |") >= 5
    assert "docs/performance.md" in text and "docs/fleet.md" in text
    assert gateway["conditions"]["machine"] in text


def _cluster(gateway: dict, passed: dict[tuple[int, int], bool]) -> dict:
    """The committed benchmark with cluster runs of (devices, gateways) whose outcome is ``passed``."""
    bench = copy.deepcopy(gateway)
    template = next(r for r in bench["runs"] if r["broker"] != "mosquitto")
    bench["runs"] = [r for r in bench["runs"] if r["broker"] == "mosquitto"]
    bench["runs"] += [{**template, "devices": devices, "gateways": gateways, "passed": ok}
                      for (devices, gateways), ok in passed.items()]
    return bench


def test_a_missing_three_gateway_run_reads_not_measured(stream, gateway):
    bench = _cluster(gateway, {(500, 1): False, (500, 2): False})
    text = tables.performance_table(stream, bench)
    assert "| 3 partitioned gateways, nats cluster, 3 nodes | not measured |" in text
    assert "cannot be computed: no 1-gateway run passed (500 devices measured)" in text
    tables.gateway_table(bench)


def test_without_cluster_runs_the_scale_out_is_not_measured(gateway):
    bench = _cluster(gateway, {})
    assert tables.scale_out_ratio(bench) == ("not measured (no 1- and 2-gateway cluster runs)", "–")
    assert tables.performance_table(None, bench).count("| not measured |") == 3


def test_the_scale_out_ratio_compares_the_largest_passing_counts(gateway):
    bench = _cluster(gateway, {(250, 1): True, (500, 1): False, (250, 2): True, (500, 2): True,
                               (750, 2): False, (250, 3): True})
    assert tables.scale_out_ratio(bench) == ("2.00× (500 against 250 devices)", "met")
    bench = _cluster(gateway, {(250, 1): True, (500, 1): False, (250, 2): True, (500, 2): True})
    assert tables.scale_out_ratio(bench) == ("≥ 2.00× (500 against 250 devices)", "met")
    bench = _cluster(gateway, {(250, 1): True, (500, 1): False, (250, 2): True, (300, 2): False})
    assert tables.scale_out_ratio(bench) == ("1.00× (250 against 250 devices)", "missed")
    bench = _cluster(gateway, {(250, 1): True, (500, 1): True, (500, 2): True})
    assert tables.scale_out_ratio(bench)[0] == \
        "cannot be computed: 1 gateway passed every count measured (up to 500 devices)"


def test_the_one_core_figure_is_the_largest_count_passed_at_normal_priority(gateway):
    bench = copy.deepcopy(gateway)
    for r in bench["runs"]:
        r["passed"] = r["broker"] == "mosquitto" and r["devices"] <= 1000
    assert tables.one_core_text(bench) == ("1,000 devices", "missed")
    bench["runs"] = [r for r in bench["runs"] if r["broker"] != "mosquitto"]
    assert tables.one_core_text(bench) == ("not measured", "–")


def test_staggered_runs_are_reported_apart_from_the_one_core_figure(gateway):
    bench = copy.deepcopy(gateway)
    sweep = [r for r in bench["runs"] if r["broker"] == "mosquitto"]
    for r in sweep:
        r["passed"], r["stagger"] = r["devices"] <= 500, False
    bench["runs"] += [{**r, "devices": 2000, "passed": True, "stagger": True} for r in sweep[:1]]
    assert tables.one_core_text(bench)[0] == "500 devices"
    assert tables.one_core_text(bench, staggered=True) == ("2,000 devices", "missed")
    assert "staggered starts (a fleet switched on over time): 2,000 devices" in tables.gateway_table(bench)
    row = "| the same, the devices switched on at moments of their own (staggered starts) | 2,000 devices |"
    assert row in tables.performance_table(None, bench)


def test_the_gateway_table_names_the_options_a_run_served_with(gateway):
    bench = _cluster(gateway, {(500, 2): False})
    bench["runs"][-1]["serve_options"] = "--result-qos 0"
    row = "| 500 | nats cluster, 3 nodes (`serve --result-qos 0`) | 2 | normal |"
    assert row in tables.gateway_table(bench)
