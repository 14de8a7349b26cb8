"""The benchmark's results: what it compares, its targets, its JSON file, and how it is shown.

``benchmarks/run.py`` measures (it trains, times and scores); this module owns the
format of what it writes, so that the script, the summary notebook, the README
and the tests read one file the same way:

* :func:`evaluate_targets` -- each target with its measured value and whether it is met;
* :func:`markdown` -- the full report (``benchmark.md``), :func:`summary` -- its headline tables;
* :func:`accuracy_curves` -- validation RMSE against training seconds, for the figure;
* :func:`load_benchmark` -- a results file, if it was measured on the data at hand;
* :func:`published` / :func:`readme_block` -- the committed copy of the latest full
  run (``fkd/measured/benchmark.json``) that notebooks and the README quote.

Wall time and CPU time are kept side by side: on a shared machine other jobs
stretch wall time, while the CPU seconds of the training process barely move.
"""

from __future__ import annotations

import json
import os
from importlib import resources
from pathlib import Path
from typing import Any

from tabulate import tabulate

from fkd.display import format_number
from fkd.keypoints import KEYPOINT_NAMES

REFERENCE = "modelh_12"
"""The study's best recipe: complete rows only, 5-conv CNN, flips, RMSprop, 300 epochs."""
OURS = "best"
PREVIOUS = "best_v1"
"""fkd's previous recipe: the training budget ``best`` is held to (its CPU seconds, same run)."""

RMSE_REDUCTION_TARGET = 0.35
RMSE_LIMIT = 1.60
BUDGET_TOLERANCE = 1.05
CLI_SECONDS_LIMIT = 20 * 60
TIME_TO_ACCURACY_LIMIT = 1 / 5
PIPELINE_OVERHEAD_LIMIT = 0.10
REPORT_SECONDS_LIMITS = {"standard": 45 * 60, "smoke": 4 * 60}
LOAD_SECONDS_LIMITS = {"first": 1.5, "cached": 0.2}

PUBLISHED = "measured/benchmark.json"
"""The committed copy of the latest full benchmark, inside the package."""
README_START, README_END = "<!-- benchmark:start -->", "<!-- benchmark:end -->"


# --- reading results -------------------------------------------------------------------


def find_run(results: dict[str, Any], model: str, split: str) -> dict[str, Any] | None:
    return next((r for r in results.get("accuracy", []) if r["model"] == model and r["split"] == split), None)


def find_speed(results: dict[str, Any], model: str, method: str, key: str = "images_per_second") -> float | None:
    return next((r[key] for r in results.get("throughput", []) if r["model"] == model and r["method"] == method),
                None)


def split_gap(results: dict[str, Any]) -> dict[str, dict[str, float]]:
    """For each recipe measured on both splits: random RMSE, grouped RMSE and their ratio."""
    gaps = {}
    for model in dict.fromkeys(r["model"] for r in results.get("accuracy", [])):
        random, grouped = find_run(results, model, "random"), find_run(results, model, "grouped")
        if random and grouped:
            gaps[model] = {"random": random["val_rmse"], "grouped": grouped["val_rmse"],
                           "grouped_over_random": grouped["val_rmse"] / random["val_rmse"]}
    return gaps


def time_to_accuracy(reference: dict[str, Any], ours: dict[str, Any]) -> dict[str, Any]:
    """When ``ours`` first matched ``reference``'s final validation RMSE, per its epoch history.

    Both histories are RMSEs over the same validation rows without test-time
    flipping, so the comparison is like for like (TTA would only help ``ours``).
    The fraction is given in wall time and in CPU time (robust to other load on
    the machine during one of the two runs).
    """
    target = reference["val_rmse_history"][-1]
    reached = [i for i, value in enumerate(ours["val_rmse_history"]) if value <= target]
    result = {"target_rmse": target, "reference_train_seconds": reference["train_seconds"],
              "reference_train_cpu_seconds": reference["train_cpu_seconds"], "reached": bool(reached),
              "epoch": None, "seconds": None, "cpu_seconds": None, "fraction_of_reference": None,
              "cpu_fraction_of_reference": None}
    if reached:
        seconds, cpu_seconds = ours["epoch_end_seconds"][reached[0]], ours["epoch_end_cpu_seconds"][reached[0]]
        result.update(epoch=reached[0] + 1, seconds=seconds, cpu_seconds=cpu_seconds,
                      fraction_of_reference=seconds / reference["train_seconds"],
                      cpu_fraction_of_reference=cpu_seconds / reference["train_cpu_seconds"])
    return result


def _target(name: str, description: str, value: float | None, limit: float, at_least: bool,
            cpu_value: float | None = None, failed: bool = False, both_clocks: bool = False) -> dict[str, Any]:
    met = None if value is None else (value >= limit if at_least else value <= limit)
    if both_clocks and met and cpu_value is not None:
        met = cpu_value >= limit if at_least else cpu_value <= limit
    return {"name": name, "description": description, "value": value, "cpu_time_value": cpu_value,
            "limit": limit, "met": False if failed else met}


def evaluate_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Every target with its measured value and whether it is met (None: not measured yet)."""
    ours, reference = find_run(results, OURS, "grouped"), find_run(results, REFERENCE, "grouped")
    previous = find_run(results, PREVIOUS, "grouped")
    cli, tta = results.get("cli_train"), results.get("time_to_accuracy")

    def overhead(key: str) -> float | None:
        bare, piped = find_speed(results, OURS, "bare_fit", key), find_speed(results, OURS, "fkd_pipeline", key)
        return 1 - piped / bare if bare and piped else None

    targets = [
        _target("rmse_limit", f"grouped-split val RMSE of {OURS}, flip TTA (px)",
                ours["val_rmse"] if ours else None, RMSE_LIMIT, at_least=False),
        _target("training_budget",
                f"{OURS}'s training CPU seconds / {PREVIOUS}'s, same run (wall-time ratio beside it)",
                ours["train_cpu_seconds"] / previous["train_cpu_seconds"] if ours and previous else None,
                BUDGET_TOLERANCE, at_least=False,
                cpu_value=ours["train_seconds"] / previous["train_seconds"] if ours and previous else None),
        _target("rmse_reduction", f"grouped-split val RMSE of {OURS} below {REFERENCE}'s (fraction)",
                1 - ours["val_rmse"] / reference["val_rmse"] if ours and reference else None,
                RMSE_REDUCTION_TARGET, at_least=True),
        _target("cli_train_seconds", f"`fkd train --model {OURS}` wall time (s)",
                cli["seconds"] if cli else None, CLI_SECONDS_LIMIT, at_least=False,
                cpu_value=cli["cpu_seconds"] if cli else None),
        _target("time_to_accuracy_fraction",
                f"seconds for {OURS} to reach {REFERENCE}'s final grouped RMSE / {REFERENCE}'s training seconds",
                tta["fraction_of_reference"] if tta else None, TIME_TO_ACCURACY_LIMIT, at_least=False,
                cpu_value=tta["cpu_fraction_of_reference"] if tta else None,
                failed=bool(tta) and not tta["reached"], both_clocks=True),
        _target("pipeline_overhead", f"images/s lost by the fkd pipeline vs a bare fit ({OURS}, fraction)",
                overhead("images_per_second"), PIPELINE_OVERHEAD_LIMIT, at_least=False,
                cpu_value=overhead("images_per_cpu_second")),
    ]
    report = results.get("report") or {}
    for profile, limit in REPORT_SECONDS_LIMITS.items():
        timing = report.get(profile)
        targets.append(_target(f"report_{profile}_seconds", f"`fkd report --profile {profile}`, all notebooks (s)",
                               timing["seconds"] if timing else None, limit, at_least=False))
    load = results.get("load") or {}
    for which, limit in LOAD_SECONDS_LIMITS.items():
        targets.append(_target(f"load_{which}_seconds", f"loading training.zip, {which} (s)",
                               load.get(f"{which}_seconds"), limit, at_least=False))
    return targets


# --- showing results -------------------------------------------------------------------


def _table(headers: list[str], rows: list[list[Any]]) -> list[str]:
    cells = [[format_number(cell) for cell in row] for row in rows]
    return [tabulate(cells, headers=headers, tablefmt="github", disable_numparse=True), ""]


def stem(results: dict[str, Any]) -> str:
    """File stem of a results file: ``benchmark`` for full runs, ``benchmark-quick`` for CI's."""
    return "benchmark" if results["mode"] == "full" else f"benchmark-{results['mode']}"


def _met(value: bool | None) -> str:
    return {True: "yes", False: "no"}.get(value, "not measured")


STUDENT_TARGETS = ("rmse_limit", "rmse_reduction", "cli_train_seconds", "report_standard_seconds")
"""What a reader of the summary notebook is shown; engineering targets stay in benchmark.md and the READMEs."""


def _speed_line(results: dict[str, Any]) -> list[str]:
    """How fast the machine trained in this run: times are comparable across runs only at like speeds."""
    speeds = {r["model"]: r["images_per_second"] for r in results.get("throughput") or []
              if r["method"] == "fkd_pipeline"}
    if not speeds:
        return []
    return [f"This machine's speed in this run (training images per second through fkd's pipeline; "
            "compare it before comparing times across runs or machines): "
            + ", ".join(f"`{model}` {value:.0f}" for model, value in speeds.items()) + ".", ""]


def summary(results: dict[str, Any]) -> str:
    """The headline tables as Markdown: the accuracy and time targets a student cares about, then the runs."""
    targets = [[t["description"], t["value"], t["limit"], _met(t["met"])] for t in results["targets"]
               if t["name"] in STUDENT_TARGETS]
    runs = [[r["model"], r["split"], r["missing"], r["epochs"], r["val_rmse"], r.get("val_rmse_complete_rows"),
             r["train_seconds"], r["train_cpu_seconds"]] for r in results["accuracy"]]
    state = "complete" if results["complete"] else "INCOMPLETE"
    machine = results["hardware"]
    return "\n".join([
        f"Benchmark ({results['mode']}, {state}) started {results['started_at']} on {machine['cpu_model']} "
        f"({machine['logical_cores']} cores).", "",
        *_table(["Target", "Measured", "Limit", "Met"], targets),
        *_table(["Model", "Split", "Labels", "Epochs", "Val RMSE (px)", "Complete rows (px)", "Train (s)",
                 "Train CPU (s)"], runs),
    ])


def markdown(results: dict[str, Any]) -> str:
    """The results as a Markdown report: targets, accuracy, per keypoint, speed, report times, machine."""
    data, machine = results["data"], results["hardware"]
    lines = [
        f"# fkd benchmark ({results['mode']}{'' if results['complete'] else ', INCOMPLETE'})", "",
        (f"Data: `{data['path']}` ({data['rows']} rows, {data['complete_rows']} complete"
         f"{', SYNTHETIC DEMO DATA' if data['demo'] else ''}); fingerprint `{data['fingerprint']}`."),
        f"Started {results['started_at']}, finished {results.get('finished_at') or '–'}.", "",
    ]
    if results["mode"] == "quick":
        lines += ["**Quick mode: tiny epochs and rows; the numbers are meaningless.**", ""]
    lines += ["## Targets", ""]
    lines += _table(["Target", "Measured", "Limit", "Met", "Other clock"],
                    [[t["description"], t["value"], t["limit"], _met(t["met"]), t["cpu_time_value"]]
                     for t in results["targets"]])
    lines += [("CPU time counts the work of the training process's own threads, so other jobs on the machine "
               "barely inflate it. Time to accuracy compares two trainings that may have met different loads, "
               "so it counts as met only if it is met on both clocks."), ""]
    lines += ["## Accuracy (validation RMSE, pixels)", ""]
    lines += _table(
        ["Model", "Split", "Labels", "Rows learned", "Val rows", "Epochs", "Val RMSE", "Complete rows",
         "Train (s)", "Train CPU (s)", "Inference (ms/image)", "Trained by", "Measured at", "Load after"],
        [[r["model"], r["split"], r["missing"], r["train_rows"], r["val_rows"], r["epochs"], r["val_rmse"],
          r["val_rmse_complete_rows"], r["train_seconds"], r["train_cpu_seconds"], r["inference_ms_per_image"],
          r["trained_by"], r["measured_at"] + (" (reused)" if r.get("reused") else ""),
          " / ".join(f"{load:g}" for load in r.get("load_average_after") or [])]
         for r in results["accuracy"]])
    lines += [("*Load after*: the 1/5/15-minute load average when the run ended. One training alone keeps it "
               f"near the core count ({machine['logical_cores']}); well above that, other work shared the CPU "
               "and stretched the wall time (CPU time barely moves). *Reused*: measured by an earlier "
               "invocation with the same config, data, split, seed and budget; `--fresh` re-measures."), ""]
    gaps = results.get("split_gap") or {}
    if gaps:
        lines += ["How much the random split flatters (same recipe, same seed):", ""]
        lines += _table(["Model", "Random-split RMSE", "Grouped-split RMSE", "Grouped / random"],
                        [[m, g["random"], g["grouped"], g["grouped_over_random"]] for m, g in gaps.items()])
    if results["accuracy"]:
        runs = results["accuracy"]
        lines += ["### Per keypoint (validation RMSE, pixels)", ""]
        lines += _table(["Keypoint", *(f"{r['model']} / {r['split']}" for r in runs)],
                        [[name, *(r["per_keypoint_rmse"][name] for r in runs)] for name in KEYPOINT_NAMES])
    tta = results.get("time_to_accuracy")
    if tta:
        lines += ["## Time to accuracy (grouped split)", "",
                  f"![Validation RMSE against training time]({stem(results)}-time-to-accuracy.png)", ""]
        lines += _table([f"{REFERENCE} final RMSE", f"{REFERENCE} training (s)", f"{OURS} reached it", "At epoch",
                         "After (s)", "Fraction of reference time", "Fraction in CPU time"],
                        [[tta["target_rmse"], tta["reference_train_seconds"], tta["reached"], tta["epoch"],
                          tta["seconds"], tta["fraction_of_reference"], tta["cpu_fraction_of_reference"]]])
    if results.get("throughput"):
        lines += ["## Training throughput (images/second, after the first epoch)", ""]
        lines += _table(["Model", "Method", "Batch", "Images/s", "Images/CPU-s"],
                        [[r["model"], r["method"], r["batch_size"], r["images_per_second"], r["images_per_cpu_second"]]
                         for r in results["throughput"]])
    cli = results.get("cli_train")
    if cli:
        lines += ["## `fkd train`", "",
                  f"`{cli['command']}`: {cli['seconds']:.0f} s wall time, {cli['cpu_seconds']:.0f} CPU seconds.",
                  f"Output: `{cli['output']}`", ""]
    report = results.get("report") or {}
    if report:
        lines += ["## `fkd report` (seconds per notebook)", ""]
        notebooks = sorted({nb for timing in report.values() for nb in timing["notebooks"]})
        lines += _table(["Profile", *notebooks, "All"],
                        [[profile, *(timing["notebooks"].get(nb) for nb in notebooks), timing["seconds"]]
                         for profile, timing in report.items()])
    load = results.get("load")
    if load:
        lines += ["## Loading `training.zip`", "",
                  f"First load (parse): {load['first_seconds']:.2f} s; from the cache: {load['cached_seconds']:.3f} s; "
                  f"peak memory while parsing: {format_number(load.get('peak_memory_ratio'))} x the CSV's size.", ""]
    lines += [
        "## Machine", "",
        (f"CPU: {machine['cpu_model']}; {machine['logical_cores']} logical cores ({machine['usable_cores']} usable). "
         f"Load average (1/5/15 min) at start {machine['load_average_start']}, at end "
         f"{machine.get('load_average_end') or '–'} -- above the core count, other work shared the CPU."), "",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in results["versions"].items()), "",
    ]
    return "\n".join(lines)


def accuracy_curves(
    results: dict[str, Any], split: str = "grouped"
) -> tuple[dict[str, tuple[list[float], list[float]]], tuple[str, float] | None]:
    """Per-epoch (seconds, val RMSE) of each benchmark run on ``split``, and the reference's final RMSE.

    Ready for :func:`fkd.plots.accuracy_over_time`; the target line is the study
    recipe's final RMSE, the level time-to-accuracy is measured at.
    """
    runs = [r for r in results["accuracy"] if r["split"] == split]
    curves = {r["model"]: (r["epoch_end_seconds"], r["val_rmse_history"]) for r in runs}
    reference = next((r for r in runs if r["model"] == REFERENCE), None)
    target = (f"{REFERENCE} final", reference["val_rmse_history"][-1]) if reference else None
    return curves, target


# --- files ---------------------------------------------------------------------------------


def load_benchmark(path: str | Path, fingerprint: str | None = None) -> tuple[dict[str, Any] | None, str]:
    """A benchmark's results if they were measured on these data (any data when ``fingerprint`` is None).

    Returns ``(results, "ok")`` or ``(None, why not)``, so a benchmark of other data
    never passes for this one's.
    """
    path = Path(path)
    if not path.is_file():
        return None, f"no benchmark results at {path}: run `nox -s benchmark`"
    results = json.loads(path.read_text())
    if fingerprint is not None and results["data"]["fingerprint"] != fingerprint:
        return None, (f"the benchmark was measured on other data ({results['data']['source']}, fingerprint "
                      f"{results['data']['fingerprint']}), not on these")
    return results, "ok"


def published() -> dict[str, Any] | None:
    """The latest full benchmark, as committed with fkd (``fkd/measured/benchmark.json``); None before the first."""
    path = resources.files("fkd").joinpath(PUBLISHED)
    return json.loads(path.read_text()) if path.is_file() else None


def public_copy(results: dict[str, Any]) -> dict[str, Any]:
    """``results`` as they are committed: the data named by their folder (``faces15/training.zip``),
    not by where they lay on the measuring machine, in every string that held that path."""
    prefix = str(Path(results["data"]["path"]).parent) + os.sep

    def cut(value: Any) -> Any:
        if isinstance(value, dict):
            return {key: cut(item) for key, item in value.items()}
        if isinstance(value, list):
            return [cut(item) for item in value]
        return value.removeprefix(prefix) if isinstance(value, str) else value

    return cut(results)


def readme_block(results: dict[str, Any]) -> str:
    """The README's benchmark table, generated from a results file (never typed by hand)."""
    reference, ours = find_run(results, REFERENCE, "grouped"), find_run(results, OURS, "grouped")
    rows = []
    for label, key in (("grouped-split validation RMSE (px)", "val_rmse"), ("epochs", "epochs"),
                       ("rows learned from", "train_rows"), ("training wall time (s)", "train_seconds"),
                       ("training CPU time (s)", "train_cpu_seconds")):
        rows.append([label, *(run[key] if run else None for run in (reference, ours))])
    for split in ("random",):
        rows.append([f"{split}-split validation RMSE (px)",
                     *((find_run(results, m, split) or {}).get("val_rmse") for m in (REFERENCE, OURS))])
    targets = [[t["description"], t["value"], t["limit"], _met(t["met"])] for t in results["targets"]
               if t["value"] is not None]
    report = results.get("report") or {}
    notebooks = sorted({nb for timing in report.values() for nb in timing["notebooks"]})
    report_rows = [[profile, *(timing["notebooks"].get(nb, 0) / 60 for nb in notebooks), timing["seconds"] / 60]
                   for profile, timing in report.items()]
    machine = results["hardware"]
    return "\n".join([
        README_START,
        f"*Generated from `fkd/{PUBLISHED}` (`python benchmarks/run.py --publish`): {results['data']['source']}, "
        f"{machine['cpu_model']}, {machine['logical_cores']} cores, TensorFlow {results['versions'].get('tensorflow')}, "
        f"seed {results['seed']}, started {results['started_at']}.*", "",
        *(_table(["", f"`{REFERENCE}` (the study)", f"`{OURS}` (ours)"], rows) if reference or ours else
          [f"The accuracy parts (`{REFERENCE}` and `{OURS}` trained on the grouped split) were not measured "
           "in this run.", ""]),
        *_speed_line(results),
        *_table(["Target", "Measured", "Limit", "Met"], targets),
        *(["`fkd report` from scratch, minutes per notebook:", "",
           *_table(["Profile", *notebooks, "All (with rendering)"], report_rows)] if report_rows else []),
        README_END,
    ])
