"""Write the README's result tables and each shipped model's card from the committed JSON.

Nothing here measures anything: every figure comes from files the experiment tools and the
CLI wrote into ``models/`` (reference-results.json, causal-audit.json, live-results.json and, per bundle,
metadata.json, export_report.json, evaluate_int8.json, validate.json, bench.json,
stream_bench_*.json and seeds.json), stream-bench.json, gateway-bench.json and own-data-e2e.json.
Tables go between
``<!-- name -->`` and ``<!-- /name -->`` markers in README.md and the docs/ pages, wherever
those markers are.

    python tools/readme_tables.py
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from edgehar.spec import POSTURAL_TRANSITIONS

REPO = Path(__file__).resolve().parent.parent
MODELS = REPO / "models"


def load(path: Path):
    return json.loads(path.read_text()) if path.is_file() else None


def pct(x, std=None) -> str:
    if x is None:
        return "–"
    return f"{x * 100:.2f}%" + (f" ± {std * 100:.2f}" if std is not None else "")


def table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def bench_row(bench: dict, variant: str, runtime: str) -> dict | None:
    return next((r for r in (bench or {}).get("rows", [])
                 if r["variant"] == variant and r["runtime"] == runtime), None)


class Shipped:
    """Everything committed about one bundle."""

    def __init__(self, path: Path):
        self.path, self.name = path, path.name
        self.meta = load(path / "metadata.json")
        self.export = load(path / "export_report.json")
        self.validate = load(path / "validate.json")
        self.bench = load(path / "bench.json")
        self.seeds = load(path / "seeds.json")
        self.evaluate = load(path / "evaluate_int8.json")
        self.stream = {v: load(path / f"stream_bench_{v}.json") for v in ("float32", "int8")}

    @property
    def macs(self) -> int:
        """MACs per window; bundles older than that metadata field are counted from the model."""
        if "macs_per_window" in self.meta["model"]:
            return self.meta["model"]["macs_per_window"]
        import keras

        from edgehar.model.complexity import macs

        return macs(keras.models.load_model(self.path / "model.keras", compile=False))

    def scores(self, kind: str) -> tuple[str, str, str]:
        """(accuracy, macro-F1, how many seeds) for 'float', 'int8' (LiteRT) or 'int8_tflm'."""
        if self.seeds:
            s, n = self.seeds["summary"], len(self.seeds["seeds"])
            key = {"float": "float", "int8": "int8_litert"}.get(kind, kind)
            acc, f1 = s[f"{key}_accuracy"], s[f"{key}_macro_f1"]
            return pct(acc["mean"], acc["std"]), pct(f1["mean"], f1["std"]), f"{n} seeds"
        int8 = self.export["variants"]["int8"]
        scores = {"float": self.export["keras"], "int8": int8, "int8_tflm": int8.get("tflm", {})}[kind]
        return pct(scores.get("accuracy")), pct(scores.get("macro_f1")), "seed 1"


def shipped_models() -> list[Shipped]:
    return [Shipped(p.parent) for p in sorted(MODELS.glob("*/metadata.json"))
            if (p.parent / "export_report.json").is_file()]


def models_table(models: list[Shipped]) -> str:
    rows = []
    for m in models:
        int8 = m.export["variants"]["int8"]
        litert, tflm = bench_row(m.bench, "int8", "litert"), bench_row(m.bench, "int8", "tflm")
        fa, ff, n = m.scores("float")
        ia, i_f, _ = m.scores("int8")
        hapt = (m.validate or {}).get("hapt", {}).get("smoothing", {})
        rows.append([
            f"`{m.name}`", m.meta["pipeline"]["name"], f"{m.meta['model']['parameters']:,}",
            f"{m.macs / 1e6:.2f} M", f"{int8['bytes']:,}",
            f"{int8['tflm']['arena_bytes']:,}",
            f"{litert['p50_ms']:.3f}" if litert else "–", f"{tflm['p50_ms']:.3f}" if tflm else "–",
            fa, ff, ia, i_f, n,
            pct(hapt.get("none", {}).get("accuracy")), pct(hapt.get("vote:5", {}).get("accuracy")),
        ])
    return table(["model", "pipeline", "params", "MACs/window", "int8 bytes", "TFLM arena B",
                  "LiteRT int8 p50 ms", "TFLM int8 p50 ms", "float acc", "float macro-F1",
                  "int8 acc", "int8 macro-F1", "over", "HAPT streamed", "HAPT + vote:5"], rows)


def reference_table(results: dict) -> str:
    rows = []
    for name, r in results["experiments"].items():
        ref = r.get("reference")
        rows.append([f"`{name}`", r["repeats"], f"{r['mean']:.2f}% ± {r['std']:.2f}",
                     f"{min(r['runs']):.2f} – {max(r['runs']):.2f}",
                     f"{ref[0]}%" + (f" ± {ref[1]}" if ref and ref[1] else "") if ref else "–",
                     f"{r['seconds_per_run']:.0f} s"])
    return table(["configuration", "repeats", "test accuracy (mean ± std)", "range", "notebook",
                  "time per run"], rows)


def audit_table(audit: dict) -> str:
    rows = [[f"`{name}`", len(r["pipeline"]["channels"]), pct(r["offline_published_accuracy"]),
             pct(r["stream_accuracy"]), f"{r['stream_offline_agreement']:.4f}", pct(r["hapt_accuracy"]),
             pct(r["hapt_accuracy_vote5"])] for name, r in audit["results"].items()]
    return table(["pipeline", "channels", "published test windows (offline)",
                  "stitched test segments, streamed", "stream/offline agreement", "HAPT streamed",
                  "HAPT + vote:5"], rows)


LIVE_SMOOTHERS = ("none", "vote:5", "hmm", "hmm:1", "hmm:2", "hmm:1@0.3", "hsmm", "hsmm:1", "hsmm:2")
"""The smoothings the live table shows (live-results.json holds more; recipes scored before the
duration decoder existed have no hsmm rows)."""


def live_table(live: dict) -> str:
    """int8 rows of tools/live_results.py per recipe and smoothing: mean ± std over folds."""
    rows = []
    for name, variants in live["results"].items():
        for variant, entry in variants.items():
            if variant != "int8":
                continue
            held_out = [f["uci_heldout_accuracy"] for f in entry["folds"]]
            for spec in (s for s in LIVE_SMOOTHERS if s in entry["smoothing"]):
                scores = entry["smoothing"][spec]
                m = scores["mean"]
                rows.append([f"`{name}`", variant, f"`{spec}`", len(entry["folds"]),
                             pct(m["accuracy"]["mean"], m["accuracy"]["std"]),
                             pct(m["macro_f1"]["mean"], m["macro_f1"]["std"]),
                             pct(m["recall_SITTING"]["mean"], m["recall_SITTING"]["std"]),
                             weakest_recall(m), changes_text(m), delay_text(m),
                             pct(sum(held_out) / len(held_out))])
    return table(["recipe", "variant", "smoothing", "folds", "live accuracy", "live macro-F1",
                  "SITTING recall", "weakest recall", "label changes/min (× true)", "delay median / p90 s",
                  "held-out UCI windows"], rows)


def recalls(mean: dict) -> dict[str, float]:
    """Mean recall per class of a live-results ``mean`` entry."""
    return {k[len("recall_"):]: v["mean"] for k, v in mean.items() if k.startswith("recall_")}


def weakest_recall(mean: dict) -> str:
    name, value = min(recalls(mean).items(), key=lambda kv: kv[1])
    return f"{name} {pct(value)}"


def changes_text(mean: dict) -> str:
    return f"{mean['label_changes_per_minute']['mean']:.2f} ({mean['changes_ratio']['mean']:.2f}×)"


def delay_text(mean: dict) -> str:
    return f"{mean['delay_s_median']['mean']:.2f} / {mean['delay_s_p90']['mean']:.2f}"


def int8_results(live: dict) -> dict[str, dict]:
    return {name: variants["int8"] for name, variants in live["results"].items() if "int8" in variants}


def shipped_recipe(m: Shipped, live: dict) -> str | None:
    """The live benchmark's recipe that ``m`` was trained by (family, parameters, front end, data,
    epochs, rotation and classes alike), if any."""
    train = m.meta["training"]
    source = train.get("data_source", "")
    data = "mix" if " + " in source else "hapt" if Path(source).name == "RawData" else "uci"
    for name, recipe in live["recipes"].items():
        if (recipe["family"], recipe["params"], recipe.get("pipeline", "causal9"), recipe["data"],
                recipe.get("epochs", live["epochs"]), recipe.get("max_rotation", 15.0),
                12 if recipe.get("transitions") else 6) == (
                train["family"], train["params"], train["pipeline"], data, train["epochs"],
                train.get("max_rotation", 15.0), len(m.meta["classes"])):
            return name
    return None


def shipped_scores(m: Shipped, live: dict) -> tuple[str, dict] | None:
    """(recipe, int8 mean live scores) of ``m``'s recipe with ``m``'s default smoothing."""
    name = shipped_recipe(m, live)
    smoothing = int8_results(live).get(name, {}).get("smoothing", {}).get(m.meta["smoothing"])
    return (name, smoothing["mean"]) if smoothing else None


def roles(models: list[Shipped], live: dict) -> dict[str, str]:
    """Recipe -> what it is to the defaults: the shipped defaults' recipes, then the benchmark's
    picks where those differ."""
    by_name = {m.name: m for m in models}
    found = {}
    for role, marker in (("Pi", "DEFAULT"), ("MCU", "DEFAULT_MCU")):
        recipe = shipped_recipe(by_name[(MODELS / marker).read_text().strip()], live)
        found.setdefault(recipe, f"{role} default")
    for role, pick in live.get("chosen", {}).items():
        found.setdefault(pick["recipe"], f"the benchmark's {'Pi' if role == 'pi' else 'MCU'} pick")
    return found


def decoder_recipes(models: list[Shipped], live: dict) -> list[str]:
    """Recipes scored with the duration decoder (hsmm), the defaults' and the picks' first."""
    scored = [name for name, entry in int8_results(live).items() if "hsmm:1" in entry["smoothing"]]
    first = [n for n in roles(models, live) if n in scored]
    return first + [n for n in scored if n not in first]


DECODER_SMOOTHERS = ("none", "hmm:1", "hmm:1@0.3", "hmm:2", "hsmm", "hsmm:1", "hsmm:2")
"""The smoothings docs/labels.md compares: no smoothing, the HMM and the duration decoder."""


def decoder_table(models: list[Shipped], live: dict) -> str:
    """The HMM against the duration decoder on every recipe scored with both (int8), and per fold
    how often `hsmm:1` beats `hmm:1`."""
    entries, rows, verdicts = int8_results(live), [], []
    for name in decoder_recipes(models, live):
        smoothing = entries[name]["smoothing"]
        for spec in (s for s in DECODER_SMOOTHERS if s in smoothing):
            m = smoothing[spec]["mean"]
            rows.append([f"`{name}`", len(entries[name]["folds"]), f"`{spec}`",
                         pct(m["accuracy"]["mean"], m["accuracy"]["std"]), pct(m["macro_f1"]["mean"]),
                         f"{pct(m['recall_SITTING']['mean'])} / {pct(m['recall_STANDING']['mean'])}",
                         weakest_recall(m), changes_text(m), delay_text(m)])
        hmm, hsmm = smoothing["hmm:1"], smoothing["hsmm:1"]
        pairs = list(zip(hmm["per_fold"], hsmm["per_fold"], strict=True))
        fewer = sum(b["changes_ratio"] < a["changes_ratio"] for a, b in pairs)
        level = sum(b["accuracy"] >= a["accuracy"] for a, b in pairs)
        a, b = hmm["mean"], hsmm["mean"]
        verdicts.append(
            f"- `{name}` ({len(pairs)} folds): `hsmm:1` changes the label less often than `hmm:1` in "
            f"{fewer} of {len(pairs)} folds and is as accurate or more in {level} of {len(pairs)} (accuracy "
            f"{(b['accuracy']['mean'] - a['accuracy']['mean']) * 100:+.2f} points, macro-F1 "
            f"{(b['macro_f1']['mean'] - a['macro_f1']['mean']) * 100:+.2f}, changes "
            f"{a['changes_ratio']['mean']:.2f}× → {b['changes_ratio']['mean']:.2f}×, median delay "
            f"{a['delay_s_median']['mean']:.2f} → {b['delay_s_median']['mean']:.2f} s).")
    return (table(["recipe", "folds", "smoothing", "live accuracy", "macro-F1", "SITTING / STANDING recall",
                   "weakest class", "changes/min (× true)", "delay median / p90 s"], rows)
            + "\n\n" + "\n".join(verdicts))


RECIPE_DATA = {"hapt": "raw recordings", "uci": "UCI HAR windows", "mix": "both"}


def recipes_table(models: list[Shipped], live: dict) -> str:
    """The recipes run over every fold and scored with the duration decoder: `hmm:1` and `hsmm:1`."""
    role = roles(models, live)
    rows = []
    for name in decoder_recipes(models, live):
        entry, recipe = int8_results(live)[name], live["recipes"][name]
        if len(entry["folds"]) < len(live["folds"]):
            continue
        held_out = [f["uci_heldout_accuracy"] for f in entry["folds"]]
        for spec in ("hmm:1", "hsmm:1"):
            m = entry["smoothing"][spec]["mean"]
            rows.append([f"`{name}`" + (f" ({role[name]})" if name in role else ""),
                         f"`{recipe.get('pipeline', 'causal9')}`", RECIPE_DATA[recipe["data"]],
                         12 if recipe.get("transitions") else 6, recipe.get("epochs", live["epochs"]),
                         f"`{spec}`", pct(m["accuracy"]["mean"], m["accuracy"]["std"]),
                         pct(m["macro_f1"]["mean"]), weakest_recall(m), f"{m['changes_ratio']['mean']:.2f}×",
                         f"{m['delay_s_median']['mean']:.2f} s", pct(sum(held_out) / len(held_out))])
    return table(["recipe", "front end", "trained on", "classes", "epochs", "smoothing", "live accuracy",
                  "macro-F1", "weakest recall", "label changes (× true)", "median delay",
                  "held-out UCI windows"], rows)


ISSUE_TARGETS = {"pi": {"accuracy": 0.98, "macro_f1": 0.98, "recall": 0.96, "changes_ratio": 1.5,
                        "delay_s_median": 2.5, "test_split": 0.96},
                 "mcu": {"accuracy": 0.975, "changes_ratio": 1.5, "test_split": 0.95,
                         "int8_bytes": 24 * 1024, "arena_bytes": 8 * 1024}}
"""Issue 18's targets for the two defaults (int8, default smoothing)."""


def targets_table(models: list[Shipped], live: dict) -> str:
    """Issue 18's targets against the shipped defaults: the live figures of each one's recipe with
    its default smoothing (7-fold means), its UCI HAR test split and sizes."""
    by_name = {m.name: m for m in models}
    rows = []

    def row(target: str, measured: str, met: bool) -> None:
        rows.append([target, measured, "met" if met else "missed"])

    shipped = {}
    for role, marker, label in (("pi", "DEFAULT", "Pi"), ("mcu", "DEFAULT_MCU", "MCU")):
        m = shipped[role] = by_name[(MODELS / marker).read_text().strip()]
        goal = ISSUE_TARGETS[role]
        recipe, mean = shipped_scores(m, live)
        acc = mean["accuracy"]
        row(f"{label} live accuracy ≥ {goal['accuracy']:.1%}",
            f"{pct(acc['mean'], acc['std'])} (`{m.name}`: `{recipe}`, `{m.meta['smoothing']}`)",
            acc["mean"] >= goal["accuracy"])
        if "macro_f1" in goal:
            row(f"{label} live macro-F1 ≥ {goal['macro_f1']:.1%}", pct(mean["macro_f1"]["mean"]),
                mean["macro_f1"]["mean"] >= goal["macro_f1"])
        if "recall" in goal:
            per_class = sorted(recalls(mean).items(), key=lambda kv: kv[1])
            below = [f"{name} {pct(value)}" for name, value in per_class if value < goal["recall"]]
            row(f"{label} every class's recall ≥ {goal['recall']:.0%}",
                ", ".join(below) or f"lowest {per_class[0][0]} {pct(per_class[0][1])}", not below)
        ratio = mean["changes_ratio"]["mean"]
        row(f"{label} label changes ≤ {goal['changes_ratio']:g}× the wearers' own",
            f"{ratio:.2f}× ({mean['label_changes_per_minute']['mean']:.2f} / min, true "
            f"{mean['true_changes_per_minute']['mean']:.2f})", ratio <= goal["changes_ratio"])
        if "delay_s_median" in goal:
            delay = mean["delay_s_median"]["mean"]
            row(f"{label} median detection delay ≤ {goal['delay_s_median']:g} s", f"{delay:.2f} s",
                delay <= goal["delay_s_median"])
        test = m.evaluate["accuracy"]
        row(f"{label} UCI HAR test split ≥ {goal['test_split']:.1%}",
            f"{pct(test)} (`{m.name}/evaluate_int8.json`)", test >= goal["test_split"])
        if "int8_bytes" in goal:
            int8 = m.export["variants"]["int8"]
            size, arena = int8["bytes"], int8["tflm"]["arena_bytes"]
            row(f"{label} ≤ {goal['int8_bytes'] // 1024} KiB int8, ≤ {goal['arena_bytes'] // 1024} KiB arena",
                f"{size:,} B, {arena:,} B", size <= goal["int8_bytes"] and arena <= goal["arena_bytes"])
    agreement = {role: m.validate["agreement"] for role, m in shipped.items()}
    row("`edgehar validate` agreement 1.0 (raw labels)",
        f"{agreement['pi']:.4f} (Pi), {agreement['mcu']:.4f} (MCU)", min(agreement.values()) == 1.0)
    return table(["target", "measured (default, int8)", ""], rows)


def chosen_text(models: list[Shipped], live: dict) -> str:
    """What the live benchmark chose, in two bullets."""
    by_name = {m.name: m for m in models}
    lines = []
    for role, marker, label in (("pi", "DEFAULT", "Pi"), ("mcu", "DEFAULT_MCU", "MCU")):
        m = by_name[(MODELS / marker).read_text().strip()]
        pick = live["chosen"][role]
        mean = int8_results(live)[pick["recipe"]]["smoothing"][pick["smoothing"]]["mean"]
        float32 = live["results"][pick["recipe"]].get("float32", {}).get("smoothing", {})
        float32 = float32.get(pick["smoothing"])
        float_text = f"; float32 {pct(float32['mean']['accuracy']['mean'])}" if float32 else ""
        met = "met" if pick["constraint_met"] else "met by no recipe"
        lines.append(
            f"- **The {label} pick: `{pick['recipe']}` with `{pick['smoothing']}`** — "
            f"{pct(mean['accuracy']['mean'], mean['accuracy']['std'])} live accuracy and "
            f"{pct(mean['macro_f1']['mean'], mean['macro_f1']['std'])} macro-F1 (int8{float_text}), weakest "
            f"recall {weakest_recall(mean)}, label changes {mean['changes_ratio']['mean']:.2f}× the wearers' "
            f"own, median delay {mean['delay_s_median']['mean']:.2f} s; held-out UCI windows "
            f"{pct(pick['uci_heldout_accuracy'])} (constraint ≥ {pick['uci_heldout_constraint']:.0%}, "
            f"{met}). " + shipped_text(m, live, pick))
    return "\n".join(lines)


def shipped_text(m: Shipped, live: dict, pick: dict) -> str:
    """Whether the shipped default is the benchmark's pick, and if not, how far its own recipe is."""
    recipe, mean = shipped_scores(m, live)
    if (recipe, m.meta["smoothing"]) == (pick["recipe"], pick["smoothing"]):
        return f"Shipped as `{m.name}`, which smooths with `{m.meta['smoothing']}` by default."
    return (f"**Not shipped**: the default is `{m.name}` (recipe `{recipe}`, smoothing "
            f"`{m.meta['smoothing']}`: {pct(mean['accuracy']['mean'])} live, "
            f"{(mean['accuracy']['mean'] - pick['accuracy']) * 100:+.2f} points from the pick, label changes "
            f"{mean['changes_ratio']['mean']:.2f}×); a bundle of the `{pick['recipe']}` recipe trained on "
            f"all 21 subjects is not made yet.")


OWN_DATA_SMOOTHERS = ("none", "hysteresis:3:0.9", "hmm:1", "hmm:2")


def own_data_table(e2e: dict) -> str:
    """tools/own_data_e2e.py: what the chain trained, exported and streamed on held-out people."""
    train, export = e2e["train"], e2e["export"]
    checks = ", ".join(f"{name} {round(t['value'], 4)} ({'pass' if t['pass'] else 'FAIL'}, "
                       f"limit {t['limit']})"
                       for name, t in export["report"]["targets"].items())
    facts = [
        ["classes", ", ".join(f"`{c}`" for c in train["classes"])],
        ["training data", f"{train['recordings']['files']} recordings of {len(e2e['train_subjects'])} "
                          f"subjects, {train['train_windows']:,} windows, {train['epochs_run']} epochs"],
        ["int8 model", f"{export['int8_bytes']:,} B, calibrated on {export['calibration']['windows']} "
                       "windows of the training recordings"],
        ["export checks (validation subjects)", checks],
        ["no UCI HAR anywhere edgehar looks", "yes" if e2e["no_uci_har"]["empty_throughout"] else "NO"],
    ]
    rows = []
    for variant in ("int8", "float32"):
        v = e2e[f"validate_heldout_{variant}"]
        for spec in OWN_DATA_SMOOTHERS:
            r = v["smoothing"][spec]
            rows.append([variant, f"`{spec}`", pct(r["accuracy"]), pct(r["macro_f1"]),
                         pct(r["recall"]["SITTING"]), pct(r["recall"]["TRANSITION"]),
                         f"{r['changes_ratio']:.2f}×", f"{r['delay_s_median']:.2f}", f"{v['agreement']:.3f}"])
    held = e2e["validate_heldout_int8"]
    return (table(["", ""], facts) + "\n\n" + f"Streamed live over the held-out subjects "
            f"{', '.join(map(str, e2e['held_out_subjects']))} ({held['minutes']} min, {held['recordings']} "
            "recordings):\n\n" + table(
                ["variant", "smoothing", "live accuracy", "macro-F1", "SITTING recall", "TRANSITION recall",
                 "label changes (× true)", "delay median s", "agreement with offline"], rows))


def stream_table(models: list[Shipped]) -> str:
    rows = []
    for m in models:
        for variant, s in m.stream.items():
            if s:
                rows.append([f"`{m.name}`", variant, f"{s['replay']['samples_per_s']:,}",
                             f"{s['replay']['x_realtime']:,}×", f"{s['live']['cpu_percent_of_one_core']}%",
                             f"{s['live']['latency_ms_p50']} / {s['live']['latency_ms_p99']}",
                             f"{s['peak_rss_mb']} MB"])
    return table(["model", "variant", "replay samples/s", "× real time", "CPU at live 50 Hz",
                  "latency p50 / p99 ms", "peak RSS"], rows)


GATEWAY_TARGET_DEVICES = 5000
SCALE_OUT_TARGET = 1.7
"""Issue 20's gateway targets: devices on one core (nothing lost, p99 ≤ 100 ms, normal priority), and
the devices 2 partitioned gateways serve at that latency against one's."""


def ms(value) -> str:
    """A latency in ms; a run that timed no window has none (null or infinite p99)."""
    if value is None or value == float("inf"):
        return "—"
    return f"{value:,.0f}" if value >= 100 else f"{value:g}"


def single_broker_runs(bench: dict, staggered: bool = False) -> list[dict]:
    """One gateway on Mosquitto at normal priority, the nodes started together (the runs the 5,000-device
    target speaks of: every device's windows end in the same batch period) or ``staggered``."""
    return [r for r in bench["runs"] if r["broker"] == "mosquitto" and r["nice"] == 0
            and r.get("stagger", False) == staggered]


def cluster_runs(bench: dict) -> dict[int, list[dict]]:
    """The scale-out runs (a broker cluster, not Mosquitto) by gateway count, fewest devices first."""
    runs: dict[int, list[dict]] = {}
    for r in sorted(bench["runs"], key=lambda r: r["devices"]):
        if r["broker"] != "mosquitto":
            runs.setdefault(r["gateways"], []).append(r)
    return dict(sorted(runs.items()))


def largest_passed(runs: list[dict]) -> int | None:
    return max((r["devices"] for r in runs if r["passed"]), default=None)


def span(runs: list[dict]) -> str:
    counts = sorted({r["devices"] for r in runs})
    return f"{counts[0]:,}" + (f"–{counts[-1]:,}" if len(counts) > 1 else "")


def one_core_text(bench: dict, staggered: bool = False) -> tuple[str, str]:
    """(the largest device count passed on one core at normal priority, met or missed), of the runs
    with the nodes started together or ``staggered``."""
    runs = single_broker_runs(bench, staggered)
    if not runs:
        return "not measured", "–"
    best = largest_passed(runs)
    if best is None:
        return f"none ({span(runs)} devices measured)", "missed"
    return f"{best:,} devices", "met" if best >= GATEWAY_TARGET_DEVICES else "missed"


def run_text(r: dict) -> str:
    return (f"{r['devices']:,} devices: p99 {ms(r['latency_ms_p99'])} ms, {r['windows_received']:,} / "
            f"{r['windows_expected']:,} windows, {r['lost_samples']:,} samples lost")


def scale_out_text(runs: list[dict]) -> tuple[str, str]:
    """One gateway count on the cluster: its largest passing run, else its lightest one."""
    best = largest_passed(runs)
    if best is not None:
        return "the largest passing, " + run_text(next(r for r in runs if r["devices"] == best)), "passed"
    return f"none passed ({span(runs)} devices measured); the lightest, " + run_text(runs[0]), "not passed"


def scale_out_ratio(bench: dict) -> tuple[str, str]:
    """(devices 2 partitioned gateways serve at p99 ≤ 100 ms with nothing lost ÷ one gateway's, or why it
    cannot be computed; met, missed or –)."""
    runs = cluster_runs(bench)
    if not runs.get(1) or not runs.get(2):
        return "not measured (no 1- and 2-gateway cluster runs)", "–"
    one, two = largest_passed(runs[1]), largest_passed(runs[2])
    if one is None:
        return f"cannot be computed: no 1-gateway run passed ({span(runs[1])} devices measured)", "–"
    if one == max(r["devices"] for r in runs[1]):
        return f"cannot be computed: 1 gateway passed every count measured (up to {one:,} devices)", "–"
    if two is None:
        return f"cannot be computed: no 2-gateway run passed ({span(runs[2])} devices measured)", "–"
    ratio = two / one
    at_least = "≥ " if two == max(r["devices"] for r in runs[2]) else ""
    return (f"{at_least}{ratio:.2f}× ({two:,} against {one:,} devices)",
            "met" if ratio >= SCALE_OUT_TARGET else "missed" if not at_least else "–")


def load_range(runs: list[dict]) -> str:
    loads = [v for r in runs for v in r["load_average_before_after"]]
    return f"{min(loads):g}–{max(loads):g}"


def gateway_row(r: dict) -> list:
    others, options = r["gateway_core_used_by_others_percent"], r["serve_options"]
    broker = r["broker"] + (", staggered starts" if r.get("stagger") else "")
    return [f"{r['devices']:,}", broker + (f" (`serve {options}`)" if options else ""), r["gateways"],
            f"nice {r['nice']}" if r["nice"] else "normal",
            f"{r['lost_samples']:,} of {r['samples_sent']:,}",
            f"{r['windows_received']:,} / {r['windows_expected']:,}",
            f"{ms(r['latency_ms_p50'])} / {ms(r['latency_ms_p99'])} ({ms(r['gateway_latency_ms_p99'])})",
            " + ".join(f"{cpu:g} %" for cpu in r["gateway_cpu_percent_each"])
            + f" ({r['gateway_classifying_thread_cpu_percent']:g} %)",
            "–" if others is None else f"{others:g} %",
            f"{r['gateway_cpu_us_per_message']:,} µs", f"{r['rss_kb_per_device']:g} KB",
            " → ".join(f"{v:g}" for v in r["load_average_before_after"]), "yes" if r["passed"] else "no"]


def gateway_table(bench: dict) -> str:
    """Every load run of tools/bench_gateway.py: the one-core sweep on Mosquitto, then the scale-out
    runs on the broker cluster, and what they say about the targets."""
    c, s = bench["conditions"], bench["stream_publish"]
    rows = [gateway_row(r) for r in sorted(bench["runs"], key=lambda r: (r["broker"] != "mosquitto",
                                                                       r["gateways"]))]
    runs = table(["devices", "broker", "gateways", "priority", "lost samples", "windows received / expected",
                  "latency p50 / p99 ms (p99 in the gateway)", "gateway CPU, each (classifying thread)",
                  "others on its core", "CPU per message", "RSS per device", "load average", "passed"], rows)
    one_core, one_core_met = one_core_text(bench)
    if single_broker_runs(bench, staggered=True):
        staggered = one_core_text(bench, staggered=True)[0]
        one_core += f"; with staggered starts (a fleet switched on over time): {staggered}"
    ratio, ratio_met = scale_out_ratio(bench)
    conditions = (f"{c['machine']}; `{c['model']}` {c['variant']}; {c['seconds_per_run']:g} s per run, the "
                  f"first {c['warmup_seconds']:g} s not timed")
    publish = (f"one `publish()` takes {s['publish_call_ms_mean_paced']} ms "
               f"(p99 {s['publish_call_ms_p99_paced']} ms) at a live pace and "
               f"{s['publish_call_ms_mean_replay']} ms in a full-speed replay, which takes "
               f"{s['ms_per_window_plain']} ms per window without publishing and "
               f"{s['ms_per_window_publish']} ms with it")
    return (f"{runs}\n\n{conditions}. A run passes with nothing lost and p99 ≤ 100 ms. The most devices one "
            f"gateway passed with on one core at normal priority (Mosquitto): **{one_core}** (target "
            f"{GATEWAY_TARGET_DEVICES:,}: {one_core_met}). Devices served at that latency by 2 partitioned "
            f"gateways on the cluster against 1: **{ratio}** (target ≥ {SCALE_OUT_TARGET:g}×"
            f"{'' if ratio_met == '–' else ': ' + ratio_met}). "
            f"`stream --publish` over the demo ({s['windows']} windows): {publish}; output identical: "
            f"{'yes' if s['output_identical'] else 'NO'}.")


STREAM_ROWS = [
    ("live stream at 50 Hz: CPU of one core", ("live_cpu_percent",), "%"),
    ("replay in memory (`Streamer`), × the LiteRT kernel", ("replay_x_kernel",), "×"),
    ("replay through the CLI, a CSV / a HAPT file, × the kernel",
     ("cli_replay_x_kernel", "cli_hapt_replay_x_kernel"), "×"),
    ("peak RSS, streaming as a library / `edgehar stream`", ("peak_rss_mb", "cli_peak_rss_mb"), " MB"),
]
"""The README's rows of tools/bench_stream.py's targets: (what, its keys in ``targets``, unit)."""


def performance_table(stream: dict | None, gateway: dict | None) -> str:
    """The README's performance table: issue 20's targets against the committed stream and gateway
    benchmarks, with the machine and its load."""
    rows, notes = [], []
    if stream:
        targets = stream["targets"]
        groups = [*STREAM_ROWS, *((key, (key,), "") for key in targets
                                 if all(key not in keys for _, keys, _ in STREAM_ROWS))]
        for what, keys, unit in groups:
            found = [targets[k] for k in keys if k in targets]
            if found:
                limits = dict.fromkeys(f"{t['target']:g}{unit}" for t in found)
                rows.append([what, " / ".join(f"{t['value']:g}{unit}" for t in found),
                             f"≤ {' / '.join(limits)}", "met" if all(t["met"] for t in found) else "missed"])
        load = stream["load_average"]
        notes.append(f"`tools/bench_stream.py`: `{stream['model']}` {stream['variant']}, kernel "
                     f"{stream['kernel']['ms_per_window']:g} ms a window, load average "
                     f"{load['start'][0]:g} at the start and {load['end'][0]:g} at the end")
    if gateway:
        one_core, met = one_core_text(gateway)
        rows.append(["gateway (`edgehar serve`) on one core, normal priority: devices with nothing lost and "
                     "p99 ≤ 100 ms", one_core, f"≥ {GATEWAY_TARGET_DEVICES:,}", met])
        if single_broker_runs(gateway, staggered=True):
            staggered, met = one_core_text(gateway, staggered=True)
            rows.append(["the same, the devices switched on at moments of their own (staggered starts)",
                         staggered, f"≥ {GATEWAY_TARGET_DEVICES:,}", met])
        cluster = cluster_runs(gateway)
        broker = next((runs[0]["broker"] for runs in cluster.values()), "a broker cluster")
        for count in (1, 2, 3):
            text, passed = scale_out_text(cluster[count]) if count in cluster else ("not measured", "–")
            what = f"{count} partitioned gateway{'s' if count > 1 else ''}, {broker}"
            rows.append([what, text, "–", passed])
        ratio, met = scale_out_ratio(gateway)
        rows.append(["devices served at p99 ≤ 100 ms by 2 gateways ÷ by 1", ratio, f"≥ {SCALE_OUT_TARGET:g}×",
                     met])
        notes.append(f"`tools/bench_gateway.py`: the gateway pinned to one core, "
                     f"{gateway['conditions']['seconds_per_run']:g} s a run, load average "
                     f"{load_range(gateway['runs'])}")
    machine = gateway["conditions"]["machine"] if gateway else "this project's machine"
    return (table(["what", "measured", "target", ""], rows) + f"\n\nOn {machine}; " + "; ".join(notes)
            + ". How, and every run: [Performance](docs/performance.md), [Gateway](docs/fleet.md#load).")


def crossval_bench_table(bench: dict) -> str:
    """tools/bench_crossval.py's runs (models/crossval-bench.json) and what they say about the target."""
    names = {"workers_2": "`--workers 2` (Ray, 1 thread each)",
             "workers_1": "`--workers 1` (default threads)",
             "workers_1_threads_1": "`--workers 1 --threads 1`",
             "two_plain_processes": "two plain processes side by side (no Ray; 3 folds, 1 thread each)"}
    seconds = bench["seconds"]
    rows = []
    for name, r in bench["runs"].items():
        phases = r["task_phases_seconds"]
        rows.append([names[name], f"{r['seconds']} s", f"{r['seconds'] / seconds['workers_1']:.3f}",
                     f"{r['seconds'] / seconds['workers_1_threads_1']:.3f}",
                     *(f"{phases[k]} s" for k in ("imports", "train", "export", "stream")),
                     f"{r['outside_tasks_seconds']} s",
                     "–".join(str(x) for x in r["load_average_1min_before_after"])])
    runs = table(["run", "wall time", "× `--workers 1`", "× `--threads 1`", "imports", "train", "export",
                  "stream", "outside the tasks", "load average"], rows)
    target, cores = bench["target_ratio"], bench["cores_this_session_gets"]
    text = (f"Two Ray workers took **{bench['ratio']}** of one worker's time ({bench['ratio_vs_one_thread']} "
            f"against one thread): target {target} **{'met' if bench['ratio'] <= target else 'missed'}**.")
    if "ratio_two_plain_processes" in bench:
        plain, slow = bench["ratio_two_plain_processes"], bench["side_by_side_slowdown"]
        ray_same, plain_same = ("yes" if bench[k] else "NO" for k in (
            "identical_per_fold_results_at_one_thread", "identical_per_fold_results_two_plain_processes"))
        text += (f" The machine's own bound, the same folds in two plain processes side by side, took "
                 f"**{plain}** of one worker's time ({bench['ratio_two_plain_processes_vs_one_thread']} "
                 "against one thread): " + ("not even they reach the target here" if plain > target else
                                            "the target is within this machine's reach")
                 + f"; Ray took {bench['ray_over_two_plain_processes']}× their time. Side by side, the same "
                 f"tasks took {slow['all_but_imports']:+.1%} in all but the imports (training "
                 f"{slow['train']:+.1%}, export {slow['export']:+.1%}) against one after another on one "
                 f"thread. Per-fold results identical to `--threads 1`: Ray {ray_same}, plain processes "
                 f"{plain_same}.")
    text += (f" Cores this session got with one and two busy processes: {cores['before']['one_process']} "
             f"and {cores['before']['two_processes']} before the runs, {cores['after']['one_process']} and "
             f"{cores['after']['two_processes']} after (`{bench['recipe']}`).")
    return f"{runs}\n\n{text}"


def validate_table(models: list[Shipped]) -> str:
    rows = [[f"`{m.name}`", m.validate["variant"], m.validate["windows"], pct(m.validate["accuracy"]),
             pct(m.validate["offline_accuracy"]), f"{m.validate['agreement']:.4f}"]
            for m in models if m.validate]
    return table(["model", "variant", "windows", "streamed accuracy", "offline accuracy",
                  "agreement"], rows)


def export_table(m: Shipped) -> str:
    rows = [["keras", "–", pct(m.export["keras"]["accuracy"]), pct(m.export["keras"]["macro_f1"]),
             "–", "–", "–"]]
    for variant, v in m.export["variants"].items():
        tflm = v.get("tflm")
        rows.append([variant, f"{v['bytes']:,}", pct(v["accuracy"]), pct(v["macro_f1"]),
                     f"{v['agreement_vs_keras']:.4f}",
                     f"{tflm['arena_bytes']:,}" if tflm else "–",
                     f"{tflm['agreement_with_litert']:.4f}" if tflm else "–"])
    return table(["variant", "bytes", "accuracy", "macro-F1", "top-1 agreement with Keras",
                  "TFLM arena B", "TFLM/LiteRT agreement"], rows)


def firmware_text(m: Shipped) -> str:
    """The card's firmware section: the package's arena and Cortex-M4 figures, or how to make it."""
    export = f"edgehar export models/{m.name} --firmware models/{m.name}/firmware --tflm-sources DIR"
    if not (m.path / "firmware").is_dir():
        return (f"Not kept in the repository (only the default's and `lstm100`'s are): `{export}` "
                "writes it (`--tflm-sources` also measures the CMSIS-NN arena).")
    firmware = m.export.get("firmware", {})
    arena = firmware.get("arena", {})
    lines = [f"`firmware/`: the TensorFlow Lite Micro package (CMake, PlatformIO/Arduino, ESP-IDF, Zephyr; "
             f"see its README), made by `{export}`."]
    if arena:
        measured = ", ".join(f"{name} kernels {row['bytes']:,} B"
                             for name, row in arena.items() if row["bytes"])
        lines.append(f"- tensor arena measured on x86-64: {measured}; reserved "
                     f"{firmware['arena_size']:,} B (largest + {firmware['arena_margin']:.0%})")
    if (m4 := load(m.path / "cortex_m4.json")) is not None:
        lines.append(f"- Cortex-M4F image (`tools/cortex_m4_qemu.py`, {m4['flags']}, CMSIS-NN kernels, "
                     f"newlib with semihosting): flash {m4['flash_bytes']:,} B "
                     f"({m4['flash_without_recording']:,} B without the {m4['recording_bytes']:,} B "
                     f"recording it plays), static RAM {m4['ram_bytes']:,} B (arena included, stack not); "
                     f"under QEMU mps2-an386 it printed {len(m4['qemu_labels'])} labels, "
                     f"{'the same as' if m4['labels_match'] else 'NOT the same as'} the host build's")
    return "\n".join(lines)


def card(m: Shipped) -> str:
    meta, train = m.meta, m.meta["training"]
    pipe = meta["pipeline"]
    fa, ff, n = m.scores("float")
    ia, i_f, _ = m.scores("int8")
    tflm_acc, tflm_f1, _ = m.scores("int8_tflm")
    stopping = str(train["val_subjects"] or "none")
    rotation = train.get("max_rotation", 15)
    augmentation = f"rotation ±{rotation:g}°, scaling, jitter, time warp" if train["augment"] else "none"
    if train["val_subjects"] and train.get("min_epochs"):
        stopping += f", not before epoch {train['min_epochs']}"
    int8 = m.meta.get("exports", {}).get("int8", {})
    scales = "one scale per weight tensor" if int8.get("per_channel") is False else "per-channel scales"
    targets = "\n".join(f"- {'pass' if t['pass'] else 'FAIL'} {name}: {t['value']} (limit {t['limit']})"
                        for name, t in m.export.get("targets", {}).items())
    hapt = (m.validate or {}).get("hapt")
    hapt_text = ""
    if hapt:
        hapt_text = ("\n\nStreamed over the real HAPT recordings (" + f"{hapt['minutes']} min, "
                     f"{hapt['activity_windows']} activity windows; these are UCI HAR *training* subjects, "
                     "so this is not a held-out score):\n\n"
                     + table(["smoothing", "accuracy", "label flips / min"],
                             [[k, pct(v["accuracy"]), v["flips_per_minute"]]
                              for k, v in hapt["smoothing"].items()]))
    normalization = "per-channel mean/std" if pipe['mean'] else "none"
    picture = "confusion_int8.png" if (m.path / "confusion_int8.png").is_file() else "confusion_keras.png"
    return f"""# Model card: `{m.name}`

Generated by `tools/readme_tables.py` from the files in this folder.

## Model
- family `{meta['model']['family']}`, parameters {meta['model']['params'] or 'defaults'}:
  {meta['model']['parameters']:,} weights,
  {m.macs:,} multiply-accumulates per window
- input: {meta['window']} samples at {meta['sample_rate_hz']:g} Hz × {len(pipe['channels'])} channels
  ({', '.join(pipe['channels'])}), a window every {meta['hop']} samples; output: {len(meta['classes'])}
  classes ({', '.join(meta['classes'])})

## Data and preprocessing
- trained on UCI HAR, training split ({train['train_windows']} windows, 21 subjects; sha256
  `{train['data_sha256'][:16]}…`), tested on the 2947 windows of the 9 test subjects
- pipeline `{pipe['name']}`: {"published UCI HAR channels for training; live, body_acc comes from a causal "
  f"{pipe['gravity_order']}rd-order Butterworth low-pass at {pipe['gravity_cutoff_hz']} Hz" if
  pipe['train_from'] == 'dataset' else "training windows made by replaying the stitched recordings through "
  "the same causal preprocessing the live runtime runs"}{noise_text(pipe)}; normalization: {normalization}

## Training recipe
- adam (learning rate {train['learning_rate']}{", cosine decay" if train.get('cosine') else ""}),
  categorical cross-entropy, {train['epochs']} epochs (ran {train['epochs_run']}),
  batch {train['batch_size']}, seed {train['seed']},
  augmentation: {augmentation},
  held-out training subjects for early stopping: {stopping}
- int8: full-integer, calibrated on training windows, {scales}

## Metrics (test split, {n})
- float (Keras): accuracy {fa}, macro-F1 {ff}
- int8 (LiteRT): accuracy {ia}, macro-F1 {i_f}
- int8 (TFLM): accuracy {tflm_acc}, macro-F1 {tflm_f1}

Exported variants of this bundle on all test windows (`export_report.json`):

{export_table(m)}

{targets}{hapt_text}

![confusion matrix]({picture})

## Firmware
{firmware_text(m)}

## Limits
- a phone worn on the waist, as in UCI HAR; other placements need retraining on own recordings
- 50 Hz total acceleration in g and angular velocity in rad/s; other rates are resampled
- {classes_text(meta['classes'])}
- UCI HAR's 30 volunteers were 19–48 years old; the dataset terms forbid commercial use
"""


def defaults_table(models: list[Shipped], live: dict | None) -> str:
    """The two shipped defaults in a few figures: the README's short results table."""
    by_name = {m.name: m for m in models}
    rows = []
    for role, marker in (("Raspberry Pi", "DEFAULT"), ("microcontroller", "DEFAULT_MCU")):
        m = by_name.get((MODELS / marker).read_text().strip()) if (MODELS / marker).is_file() else None
        if m is None:
            continue
        int8 = m.export["variants"]["int8"]
        uci = (m.validate or {}).get("accuracy")
        accuracy, changes = "–", "–"
        if live and (scores := shipped_scores(m, live)):
            mean = scores[1]
            accuracy = f"{pct(mean['accuracy']['mean'])} (`{m.meta['smoothing']}`)"
            changes = f"{mean['changes_ratio']['mean']:.2f}×"
        rows.append([role, f"`{m.name}`", accuracy, changes, f"{int8['bytes']:,} B",
                     f"{int8['tflm']['arena_bytes']:,} B", pct(uci)])
    return table(["default for", "model", "live accuracy, new people (int8)",
                  "label changes (× the wearer's own)", "int8 model", "TFLM arena",
                  "UCI HAR test split, streamed"], rows)


PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
"""Where generated tables may sit: the README and the documentation pages."""


def noise_text(pipe: dict) -> str:
    """The pipeline's noise stages, as the card says them."""
    stages = []
    if pipe.get("median_length"):
        stages.append(f"a running median of {pipe['median_length']} samples")
    if pipe.get("noise_cutoff_hz"):
        stages.append(f"an order-{pipe['noise_order']} {pipe['noise_cutoff_hz']:g} Hz Butterworth low-pass")
    return f", behind {' and '.join(stages)} on the raw samples (as UCI HAR filtered its published " \
           "windows; those are not filtered twice)" if stages else ""


def classes_text(classes: list[str]) -> str:
    if any(c in POSTURAL_TRANSITIONS for c in classes):
        return ("the six activities and HAPT's postural transitions (STAND_TO_SIT, ...): a transition "
                "label means the wearer is changing posture; its activity is the posture reached "
                "(docs/models.md)")
    return ("six activities; postural transitions have no class of their own (during one, the model\n"
            "  reports one of the six)")


def replace_section(text: str, name: str, body: str) -> str:
    pattern = re.compile(rf"(<!-- {name} -->\n)(?:.*?\n)?(<!-- /{name} -->)", re.S)
    return pattern.sub(lambda m: m.group(1) + body + "\n" + m.group(2), text)


def sections(models: list[Shipped]) -> dict[str, str]:
    """Every generated block, by its marker's name, from the committed JSON."""
    live = load(MODELS / "live-results.json")
    found = {"models-table": models_table(models), "validate-table": validate_table(models),
             "stream-table": stream_table(models), "defaults-table": defaults_table(models, live)}
    if (ref := load(MODELS / "reference-results.json")) is not None:
        found["reference-table"] = reference_table(ref)
    stream, gateway = load(MODELS / "stream-bench.json"), load(MODELS / "gateway-bench.json")
    if gateway is not None:
        found["gateway-table"] = gateway_table(gateway)
    if stream is not None or gateway is not None:
        found["performance-table"] = performance_table(stream, gateway)
    if (audit := load(MODELS / "causal-audit.json")) is not None:
        found["audit-table"] = audit_table(audit)
    if (crossval_bench := load(MODELS / "crossval-bench.json")) is not None:
        found["crossval-bench-table"] = crossval_bench_table(crossval_bench)
    if live is not None:
        found |= {"live-table": live_table(live), "decoder-table": decoder_table(models, live),
                  "recipes-table": recipes_table(models, live),
                  "targets-table": targets_table(models, live), "chosen-text": chosen_text(models, live)}
    if (e2e := load(MODELS / "own-data-e2e.json")) is not None:
        found["own-data-table"] = own_data_table(e2e)
    return found


def main() -> None:
    models = shipped_models()
    blocks = sections(models)
    written = set()
    for page in PAGES:
        text = page.read_text()
        for name, body in blocks.items():
            if f"<!-- {name} -->" in text:
                text = replace_section(text, name, body)
                written.add(name)
        page.write_text(text)
    for m in models:
        (m.path / "README.md").write_text(card(m))
    unused = ", ".join(sorted(set(blocks) - written))
    print(f"updated {', '.join(sorted(written))} in README.md and docs/, and {len(models)} model cards"
          + (f"; no page has a place for {unused}" if unused else ""))


if __name__ == "__main__":
    main()
