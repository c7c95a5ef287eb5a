"""`edgehar crossval` at CI size (the routes of docs/crossval.md): leave-subjects-out folds of a tiny
recipe on real HAPT recordings written in the recording format, sequentially in this process and as Ray
tasks on a loopback two-node Ray cluster, with the same per-fold results; and how folds are drawn."""

from __future__ import annotations

import importlib.util
import json
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from edgehar.bundle import Bundle
from edgehar.cli import app
from edgehar.data.recordings import ClassMap, Recording, read_recordings
from edgehar.errors import OptionError
from edgehar.scoring import crossval as cv
from edgehar.scoring.crossval import plan_folds
from edgehar.spec import WINDOW

TOOLS = Path(__file__).resolve().parent.parent / "tools"
TINY = ["--model", "dscnn", "--params", '{"filters": [8, 8], "kernel": 3}', "--epochs", "1"]


def _recording(subject: str, labels: list[str]) -> Recording:
    """A synthetic recording of ``subject``: one window-long stretch of each label in turn."""
    names = tuple(sorted(set(labels)))
    codes = np.repeat([names.index(label) + 1 for label in labels], WINDOW)
    n = len(codes)
    return Recording(name=f"{subject}.csv", raw=np.zeros((n, 6)), t=np.arange(n) / 50.0, labels=codes,
                     label_names=names, subject=subject, session=subject)


def test_folds_are_the_round_robin_of_the_people_when_everyone_did_every_class():
    people = [_recording(str(s), ["A", "B"]) for s in (10, 2, 1, 3, 5)]
    by, folds = plan_folds(people, ClassMap.parse("A,B"), 2)
    assert by == "subject" and folds == [["1", "3", "10"], ["2", "5"]]


def test_folds_give_every_fold_the_rare_class_when_the_data_allows():
    # Only people 4 and 7 did C: round robin would put both in one fold.
    people = [_recording(s, ["A", "B", "C"] if s in ("4", "7") else ["A", "B"]) for s in "1234567"]
    by, folds = plan_folds(people, ClassMap.parse("A,B,C"), 2)
    assert sorted(len(f) for f in folds) == [3, 4]
    assert all(("4" in f) != ("7" in f) for f in folds)
    assert sorted(g for f in folds for g in f) == list("1234567")


def test_without_stratifying_person_i_goes_to_fold_i_mod_k_whatever_they_did():
    people = [_recording(s, ["A", "B", "C"] if s in ("4", "6") else ["A", "B"]) for s in "1234567"]
    assert plan_folds(people, ClassMap.parse("A,B,C"), 2, stratify=False) == (
        "subject", [["1", "3", "5", "7"], ["2", "4", "6"]])


def test_leave_one_out_and_too_many_folds():
    people = [_recording(s, ["A", "B"]) for s in "123"]
    assert plan_folds(people, ClassMap.parse("A,B"), None)[1] == [["1"], ["2"], ["3"]]
    with pytest.raises(OptionError, match="3 subjects; use 2..3 folds"):
        plan_folds(people, ClassMap.parse("A,B"), 4)


def test_one_person_is_cross_validated_over_sessions():
    sessions = [Recording(**{**vars(_recording("1", ["A", "B"])), "session": s, "name": f"{s}.csv"})
                for s in ("mon", "tue")]
    assert plan_folds(sessions, ClassMap.parse("A,B"), 2) == ("session", [["mon"], ["tue"]])


def _crossval(own: Path, out: Path, cache: Path, *more: str):
    return CliRunner().invoke(app, ["crossval", "--recordings", str(own), "--folds", "3", *TINY,
                                    "--out", str(out), "--cache", str(cache), *more])


def _per_fold(report: dict) -> list:
    (entry,) = report["results"].values()
    return [(run["fold"], run["held_out"], s["accuracy"], s["changes_ratio"])
            for variant in ("int8", "float32") for spec in ("none", "hmm:1")
            for run, s in zip(entry["runs"], entry["variants"][variant][spec]["per_run"], strict=True)]


@pytest.fixture(scope="module")
def sequential(own, tmp_path_factory) -> tuple[Path, Path]:
    """A 3-fold crossval run in this process: (report, cache)."""
    work = tmp_path_factory.mktemp("cv")
    done = _crossval(own, work / "report.json", work / "cache")
    assert done.exit_code == 0, done.output
    assert "ran: sequential" in done.output
    return work / "report.json", work / "cache"


def test_crossval_scores_each_held_out_person_live(sequential):
    report = json.loads(sequential[0].read_text())
    assert report["by"] == "subject" and report["held_out"] == [["1"], ["3"], ["5"]]
    (entry,) = report["results"].values()
    assert [(r["fold"], r["held_out"]) for r in entry["runs"]] == [(0, ["1"]), (1, ["3"]), (2, ["5"])]
    assert all(r["train_groups"] == sorted({"1", "3", "5"} - set(r["held_out"])) for r in entry["runs"])
    for variant in ("int8", "float32"):
        for spec in ("none", "hmm:1"):
            s = entry["variants"][variant][spec]
            assert len(s["per_run"]) == 3
            assert [list(r["per_person"]) for r in s["per_run"]] == [["1"], ["3"], ["5"]]
            assert all(0 <= r["accuracy"] <= 1 for r in s["per_run"])
            mean = np.mean([r["accuracy"] for r in s["per_run"]])
            assert s["mean"]["accuracy"]["mean"] == pytest.approx(mean)
            assert set(s["mean"]) >= {"macro_f1", "changes_ratio", "delay_s_median", "recall_SITTING"}
    assert sequential[0].with_suffix(".png").stat().st_size > 1000


def test_a_rerun_skips_finished_folds_and_reports_the_same(own, sequential, tmp_path):
    report, cache = sequential
    done = _crossval(own, tmp_path / "again.json", cache)
    assert done.exit_code == 0, done.output
    assert done.output.count("(cached)") == 3 and "ran: cache" in done.output
    again = json.loads((tmp_path / "again.json").read_text())
    assert _per_fold(again) == _per_fold(json.loads(report.read_text()))


def test_crossval_mistakes_are_one_line(own, tmp_path):
    for args, message in ((["--folds", "9"], "--folds 9"), (["--model", "nope"], "--model 'nope'"),
                          (["--params", "[1]"], "a JSON object is needed"), (["--seeds", "0"], "--seeds 0"),
                          (["--smooth", "vote:0"], "bad --smooth 'vote:0'"),
                          (["--variant", "int16"], "--variant 'int16'"),
                          (["--folds", "3", "--val-groups", "2"], "a fold trains on as few as 2 subjects"),
                          (["--max-rotation", "-1"], "--max-rotation"), (["--patience", "0"], "--patience")):
        done = CliRunner().invoke(app, ["crossval", "--recordings", str(own),
                                        "--out", str(tmp_path / "r.json"), *args])
        assert done.exit_code != 0 and message in str(done.exception), (args, done.output)
    assert not (tmp_path / "r.json").exists()


def test_crossval_trains_streams_and_scores_as_asked(own, tmp_path):
    """The training options the live benchmark needs, one exported variant, and more decoders scored."""
    done = _crossval(own, tmp_path / "r.json", tmp_path / "cache", "--no-stratify", "--val-groups", "1",
                     "--patience", "2", "--max-rotation", "5", "--variant", "int8", "--smooth", "hsmm:1",
                     "--smooth", "hmm@0.5")
    assert done.exit_code == 0, done.output
    report = json.loads((tmp_path / "r.json").read_text())
    (entry,) = report["results"].values()
    assert report["variants"] == ["int8"] and list(entry["variants"]) == ["int8"]
    assert list(entry["variants"]["int8"]) == ["none", "hsmm:1", "hmm@0.5", "hmm:1"]
    assert all(0 <= r["accuracy"] <= 1 for s in entry["variants"]["int8"].values() for r in s["per_run"])
    for run in entry["runs"]:
        assert run["best_val_accuracy"] is not None  # one of the two training people validated
        bundle = Bundle.load(Path(run["cache"]) / "bundle")
        training = bundle.metadata["training"]
        assert (training["val_subjects"], training["patience"], training["max_rotation"]) == (1, 2, 5.0)
        assert (bundle.path / "model_int8.tflite").is_file()
        assert not (bundle.path / "model_float32.tflite").exists()
        assert {"decoder", "duration_decoder"} <= set(bundle.metadata)


def _tool(name: str):
    spec = importlib.util.spec_from_file_location(name, TOOLS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_live_benchmark_runs_crossval_on_its_committed_folds_and_recipes(hapt_raw):
    """tools/live_results.py: the fixed folds of models/live-results.json come out of crossval's
    planning (every 7th subject in id order), and its recipes train as the committed ones say."""
    live = _tool("live_results")
    committed = json.loads((TOOLS.parent / "models" / "live-results.json").read_text())
    assert live.folds(hapt_raw) == committed["folds"]
    assert (committed["epochs"], committed["min_epochs"], committed["seed"]) == (
        live.TRAINING["epochs"], live.TRAINING["min_epochs"], live.SEED)
    for name in ("mcu-hapt", "pi-hapt"):
        recipe, was = live.recipe(name), committed["recipes"][name]
        assert (recipe.family, recipe.params, recipe.per_channel) == (was["family"], was["params"],
                                                                       was["per_channel"])
        assert (recipe.pipeline, recipe.val_groups, recipe.patience) == ("causal9", 3, 15)
    assert {"hmm:1", "hmm:1@0.3", "hsmm:1@0.5", "vote:5"} <= set(live.SMOOTHERS)


def test_the_live_benchmark_entry_of_a_crossval_report_is_what_the_readme_tables_read(own, sequential,
                                                                                      uci_train, tmp_path):
    """The sequential run's cached folds, re-scored with every smoothing of the live benchmark (no
    training), become a live-results.json entry: the README's live table renders it."""
    live, tables = _tool("live_results"), _tool("readme_tables")
    found = read_recordings(own)
    recipe = cv.Recipe("dscnn", {"filters": [8, 8], "kernel": 3}, epochs=1)  # TINY, as the CLI makes it
    report = cv.crossval(own, found, ClassMap.of(found), [recipe], folds=3, smoothers=live.SMOOTHERS,
                         cache=sequential[1], out=tmp_path / "r.json", log=lambda line: None)
    assert report["ran"] == "cache"
    entry = live.live_entry(report, uci_train)
    assert list(entry) == ["int8", "float32"]
    for variant in entry.values():
        assert [f["held_out"] for f in variant["folds"]] == [[1], [3], [5]]
        assert all(0 <= f["uci_heldout_accuracy"] <= 1 for f in variant["folds"])
        assert list(variant["smoothing"]) == list(live.SMOOTHERS)
        assert all(len(s["per_fold"]) == 3 for s in variant["smoothing"].values())
    rendered = tables.live_table({"results": {"tiny": entry}})
    assert rendered.count("`tiny`") == len(tables.LIVE_SMOOTHERS)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.2", 0))
        return s.getsockname()[1]


@pytest.fixture
def ray_cluster(monkeypatch):
    """A head node and a worker node on loopback addresses (one CPU each); stopped after the test.

    Ray turns 127.0.0.1 into the machine's network address, so the nodes take 127.0.0.2 and
    127.0.0.3 (loopback too); token authentication is off for this loopback-only cluster."""
    pytest.importorskip("ray")
    ray = shutil.which("ray", path=str(Path(sys.executable).parent)) or shutil.which("ray")
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    port = _free_port()
    address = f"127.0.0.2:{port}"
    common = ["--num-cpus", "1", "--disable-usage-stats"]
    try:
        subprocess.run([ray, "start", "--head", "--node-ip-address", "127.0.0.2", "--port", str(port),
                        "--include-dashboard", "false", *common],
                       check=True, capture_output=True, timeout=180)
        subprocess.run([ray, "start", "--address", address, "--node-ip-address", "127.0.0.3", *common],
                       check=True, capture_output=True, timeout=180)
        yield address
    finally:
        subprocess.run([ray, "stop", "--force"], capture_output=True, timeout=180)


def test_crossval_on_a_two_node_ray_cluster_gives_the_same_folds(own, sequential, ray_cluster, tmp_path):
    done = _crossval(own, tmp_path / "ray.json", tmp_path / "cache", "--ray", ray_cluster)
    assert done.exit_code == 0, done.output
    assert f"ran: Ray cluster at {ray_cluster}" in done.output and "(cached)" not in done.output
    assert _per_fold(json.loads((tmp_path / "ray.json").read_text())) == \
        _per_fold(json.loads(sequential[0].read_text()))
