"""Benchmark fkd's own model (``best``) against the study's best recipe (``modelh_12``).

One command measures, on one machine:

* accuracy -- validation RMSE (overall, on complete rows, per keypoint) of both
  recipes on the random split and on the grouped split, to show how much a random
  split flatters (frames of one person on both sides) and how much ``best`` gains;
* speed -- training time, time-to-accuracy (seconds until ``best``'s per-epoch
  validation RMSE first reaches the study recipe's final one), images/second of
  the fkd input pipeline, of a bare ``fit`` on in-memory arrays and of the study's
  loop (one ``model.fit`` call per batch of 32, flipped with numpy), inference
  milliseconds per image, and the wall time of ``fkd train --model best`` (run as a
  user runs it, in its own process; that run is also ``best``'s grouped-split one);
* the machine -- CPU model, cores, load average, library versions.

Usage::

    python benchmarks/run.py [--quick] [--data DIR] [--out benchmarks/results] [--only PART] [--fresh]

``--quick`` (CI) shrinks every measurement (2 epochs, ~100 rows) so the whole
script runs in a minute or two: it proves every measurement still works, its
numbers mean nothing. Results go to ``<out>/benchmark.json`` and
``<out>/benchmark.md`` (``benchmark-quick.*`` with ``--quick``), rewritten
atomically after every step, so an interrupted run leaves the finished figures
with ``"complete": false``. Finished accuracy runs are kept in ``<out>/cache`` and
reused by the next invocation (``--fresh`` re-measures), so a long run resumes.

Everything is trained by ``fkd.train.train`` (directly or through ``fkd train``) from registered configs and scored by
``fkd.evaluate``; the only Keras here is the bare-fit and study-loop baselines, which exist to show what the fkd pipeline costs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tabulate import tabulate

from fkd.configs import ModelConfig, get_config
from fkd.data import Dataset, atomic_write_text, load_training, resolve_data
from fkd.evaluate import per_keypoint_rmse, rmse
from fkd.experiment import training_rows
from fkd.keypoints import KEYPOINT_NAMES
from fkd.results import RunKey, accuracy_curves, model_path, read_record, versions
from fkd.splits import Split, make_split

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "faces15"
DEFAULT_OUT = REPO / "benchmarks" / "results"

REFERENCE = "modelh_12"
"""The study's best recipe: complete rows only, 5-conv CNN, flips, RMSprop, 300 epochs."""
OURS = "best"
SPLITS = ("grouped", "random")
"""Grouped first: the targets are measured on it, so an interrupted run still has them."""
CLI_RUNS = "fkd-train-runs"
"""Where, under ``<out>``, the timed ``fkd train`` leaves its model, for ``fkd predict --runs-dir``."""

# The targets.
RMSE_REDUCTION_TARGET = 0.35
CLI_SECONDS_LIMIT = 20 * 60
TIME_TO_ACCURACY_LIMIT = 1 / 5
PIPELINE_OVERHEAD_LIMIT = 0.10


@dataclass(frozen=True)
class Budget:
    """How much each measurement does."""

    name: str
    epochs: int | None
    """Epochs of every accuracy run; None trains each config for its own epochs."""
    max_train_rows: int | None
    max_val_rows: int | None
    throughput_rows: int
    """Complete rows fed to each images/second measurement."""
    throughput_epochs: int
    """Epochs per images/second measurement; the first (graph tracing) is not timed."""
    throughput_repeats: int
    """Each images/second is the best of this many runs: other work on the CPU only ever slows one down."""
    study_loop_batches: int


FULL = Budget("full", None, None, None, throughput_rows=512, throughput_epochs=4, throughput_repeats=2,
              study_loop_batches=40)
QUICK = Budget("quick", 2, 96, 64, throughput_rows=64, throughput_epochs=2, throughput_repeats=1,
               study_loop_batches=4)


# --- Measurements ------------------------------------------------------------------


def steady_speed(wall: list[float], cpu: list[float], images_per_epoch: int) -> tuple[float, float]:
    """Images per wall second and per CPU second after the first epoch, which pays for tracing the graphs.

    ``wall`` and ``cpu`` are the seconds at the end of each epoch (``fkd.train.EpochClock``).
    """
    images = images_per_epoch * (len(wall) - 1)
    return images / (wall[-1] - wall[0]), images / (cpu[-1] - cpu[0])


def validation_rows(split: Split, budget: Budget) -> np.ndarray:
    return split.val if budget.max_val_rows is None else split.val[: budget.max_val_rows]


def rows_learned_from(config: ModelConfig, dataset: Dataset, split: Split, budget: Budget, seed: int) -> int:
    """Training rows left after the config's missing-label policy (dropna keeps complete ones only)."""
    from fkd import train as training

    rows = training_rows(split, budget.max_train_rows, seed)
    return len(training.apply_missing_policy(dataset.keypoints[rows], config.missing)[0])


def score(
    model: Any, config: ModelConfig, dataset: Dataset, split: Split, budget: Budget
) -> dict[str, Any]:
    """Validation RMSE (overall, complete rows, per keypoint) and inference speed of a trained model."""
    from fkd import train as training

    val = validation_rows(split, budget)
    val_images, val_keypoints = dataset.images[val], dataset.keypoints[val]
    predictions = training.predict(model, config, val_images)
    start = time.perf_counter()
    training.predict(model, config, val_images)  # timed warm, after the first call traced
    inference = (time.perf_counter() - start) / len(val) * 1000
    complete = ~np.isnan(val_keypoints).any(axis=1)
    return {
        "val_rows": len(val),
        "val_rmse": rmse(val_keypoints, predictions),
        "val_rmse_complete_rows": rmse(val_keypoints[complete], predictions[complete]) if complete.any() else None,
        "per_keypoint_rmse": per_keypoint_rmse(val_keypoints, predictions),
        "inference_ms_per_image": inference,
    }


def run_summary(
    config: ModelConfig, split: Split, train_rows: int, epochs: int, history: dict[str, list[float]],
    seconds: float, images_per_second: float, scores: dict[str, Any], how: str,
) -> dict[str, Any]:
    """One accuracy run as the JSON records it; ``how`` says which code trained it."""
    return {
        "model": config.name, "split": split.name, "missing": config.missing, "trained_by": how,
        "train_rows": train_rows, "epochs": epochs, **scores,
        "train_seconds": seconds, "train_cpu_seconds": history["cpu_seconds"][-1],
        "images_per_second": images_per_second, "val_rmse_history": history["val_rmse"],
        "epoch_end_seconds": history["seconds"], "epoch_end_cpu_seconds": history["cpu_seconds"],
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "load_average_after": _load_average(),
    }


def accuracy_run(
    config: ModelConfig, dataset: Dataset, split: Split, budget: Budget, seed: int
) -> dict[str, Any]:
    """Train ``config`` in this process on ``split``'s training rows, score it on its validation rows."""
    from fkd import train as training

    rows = training_rows(split, budget.max_train_rows, seed)
    val = validation_rows(split, budget)
    trained = training.train(
        config, dataset.images[rows], dataset.keypoints[rows], dataset.images[val], dataset.keypoints[val],
        seed=seed, epochs=budget.epochs, progress=False,
    )
    return run_summary(config, split, rows_learned_from(config, dataset, split, budget, seed), trained.epochs, trained.history, trained.seconds,
                       trained.images_per_second, score(trained.model, config, dataset, split, budget),
                       "fkd.train.train")


def cli_run(
    config: ModelConfig, data_dir: Path, dataset: Dataset, split: Split, budget: Budget, seed: int, runs_dir: Path
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``fkd train --model NAME`` in a fresh process, as a user runs it: its wall time, and its model scored.

    The command trains on the grouped split by default for a masked-loss config,
    so this one training is both the `fkd train` timing and the grouped accuracy
    run of ``config`` (the record it writes holds the per-epoch history and times).
    ``runs_dir`` is emptied first, so nothing cached shortens the timing; the model
    stays there for ``fkd predict --runs-dir``.
    """
    from fkd import train as training

    if split.name != "grouped" or config.missing == "dropna":
        raise ValueError("fkd train's default split is the grouped one only for configs that keep every label")
    epochs = budget.epochs or config.epochs
    shutil.rmtree(runs_dir, ignore_errors=True)
    options = ("--epochs", str(epochs)) if budget.epochs else ()
    if budget.max_train_rows:
        options += ("--max-train-rows", str(budget.max_train_rows))
    command = [sys.executable, "-m", "fkd.cli", "train", "--data", str(data_dir), "--model", config.name,
               "--seed", str(seed), *options, "--runs-dir", str(runs_dir)]
    start, children_before = time.perf_counter(), _children_cpu_seconds()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    seconds, cpu_seconds = time.perf_counter() - start, _children_cpu_seconds() - children_before
    if done.returncode != 0:
        raise RuntimeError(f"`{' '.join(command)}` failed ({done.returncode}):\n{done.stderr[-2000:]}")
    key = RunKey(config, dataset.fingerprint, split.name, seed, epochs, budget.max_train_rows)
    record = read_record(runs_dir, key)
    scores = score(training.load_model(model_path(runs_dir, key)), config, dataset, split, budget)
    shown = ["fkd", *command[3:-1], f"<out>/{CLI_RUNS}"]
    cli = {"command": " ".join(shown), "seconds": seconds, "cpu_seconds": cpu_seconds,
           "output": done.stdout.strip().splitlines()[-1]}
    run = run_summary(config, split, rows_learned_from(config, dataset, split, budget, seed), epochs, record["history"], record["seconds"],
                      record["images_per_second"], scores, "fkd train (CLI)")
    return run, cli


def cached(path: Path, fresh: bool, measure: Callable[[], Any], log: Callable[[str], None]) -> Any:
    """``measure()``, or its result saved at ``path`` by an earlier run of the same key.

    A full run takes over an hour; an interrupted one resumes from the runs it
    finished instead of starting again. Every saved result keeps the time and load
    average it was measured at, and the report marks it as reused.
    """
    if path.is_file() and not fresh:
        log(f"reusing {path.name}, measured earlier")
        result = json.loads(path.read_text())
        for item in result if isinstance(result, list) else [result]:
            item["reused_from_cache"] = True
        return result
    result = _json_safe(measure())
    atomic_write_text(path, json.dumps(result, indent=1, allow_nan=False))
    return result


def time_to_accuracy(reference: dict[str, Any], ours: dict[str, Any]) -> dict[str, Any]:
    """When ``ours`` first matched ``reference``'s final validation RMSE, per its epoch history.

    Both histories are RMSEs over the same validation rows without test-time
    flipping, so the comparison is like for like (TTA would only help ``ours``).
    The fraction is given in wall time (the target) and in CPU time (robust to
    other load on the machine during one of the two runs).
    """
    target = reference["val_rmse"]
    reached = [i for i, value in enumerate(ours["val_rmse_history"]) if value <= target]
    result = {
        "target_rmse": target,
        "reference_train_seconds": reference["train_seconds"],
        "reference_train_cpu_seconds": reference["train_cpu_seconds"],
        "reached": bool(reached),
        "epoch": None,
        "seconds": None,
        "cpu_seconds": None,
        "fraction_of_reference": None,
        "cpu_fraction_of_reference": None,
    }
    if reached:
        seconds, cpu_seconds = ours["epoch_end_seconds"][reached[0]], ours["epoch_end_cpu_seconds"][reached[0]]
        result.update(
            epoch=reached[0] + 1, seconds=seconds, cpu_seconds=cpu_seconds,
            fraction_of_reference=seconds / reference["train_seconds"],
            cpu_fraction_of_reference=cpu_seconds / reference["train_cpu_seconds"],
        )
    return result


def throughput_rows(dataset: Dataset, split: Split, n: int) -> np.ndarray:
    """The first ``n`` complete training rows: every missing-label policy keeps all of them."""
    complete = split.train[~np.isnan(dataset.keypoints[split.train]).any(axis=1)]
    return complete[:n]


def pipeline_speed(
    config: ModelConfig, images: np.ndarray, keypoints: np.ndarray, budget: Budget, seed: int
) -> tuple[float, float]:
    """Steady (images/s, images/CPU-s) of ``fkd.train.train``: tf.data, augmentation, no validation."""
    from fkd import train as training

    trained = training.train(config, images, keypoints, seed=seed, epochs=budget.throughput_epochs, progress=False)
    return steady_speed(trained.history["seconds"], trained.history["cpu_seconds"], len(images))


def network_arrays(images: np.ndarray, keypoints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Float inputs and normalised targets, held in memory (what a bare fit is given)."""
    from fkd.train import normalise_keypoints

    return images[..., None].astype(np.float32) / 255.0, normalise_keypoints(keypoints)


def bare_fit_speed(
    config: ModelConfig, images: np.ndarray, keypoints: np.ndarray, budget: Budget, seed: int
) -> tuple[float, float]:
    """Steady (images/s, images/CPU-s) of ``model.fit`` on in-memory arrays: no pipeline, no augmentation."""
    import keras

    from fkd.train import EpochClock, compile_model

    keras.utils.set_random_seed(seed)
    x, y = network_arrays(images, keypoints)
    steps = -(-len(x) // config.batch_size)
    model = compile_model(config, steps, budget.throughput_epochs)
    clock = EpochClock()
    model.fit(x, y, batch_size=config.batch_size, epochs=budget.throughput_epochs, shuffle=True,
              verbose=0, callbacks=[clock])
    return steady_speed(clock.seconds, clock.cpu_seconds, len(x))


def study_loop_speed(
    config: ModelConfig, images: np.ndarray, keypoints: np.ndarray, batches: int, seed: int
) -> tuple[float, float]:
    """The study's training loop: draw 32 faces, mirror half with numpy, call ``model.fit`` on them.

    Three untimed batches first, so graph tracing is not counted against it.
    """
    import keras

    from fkd.train import compile_model, unflip_normalised

    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    x, y = network_arrays(images, keypoints)
    batch_size = 32
    model = compile_model(config, -(-len(x) // batch_size), config.epochs)
    warmup = 3
    for b in range(warmup + batches):
        if b == warmup:
            start, cpu_start = time.perf_counter(), time.process_time()
        chosen = rng.choice(len(x), batch_size, replace=False)
        xb, yb = x[chosen].copy(), y[chosen].copy()
        flip = rng.random(batch_size) < 0.5
        xb[flip] = xb[flip][:, :, ::-1]
        yb[flip] = unflip_normalised(yb[flip])  # mirroring is its own inverse
        model.fit(xb, yb, batch_size=batch_size, epochs=1, verbose=0)
    images = batches * batch_size
    return images / (time.perf_counter() - start), images / (time.process_time() - cpu_start)


def _children_cpu_seconds() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# --- Machine -------------------------------------------------------------------------


def hardware() -> dict[str, Any]:
    model = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"cpu_model": model, "logical_cores": os.cpu_count(), "usable_cores": usable,
            "load_average_start": _load_average()}


def _load_average() -> list[float] | None:
    """The 1/5/15-minute load: above the core count, other work shared the CPU and slowed us."""
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except OSError:
        return None


# --- Targets and report ------------------------------------------------------------------


def find_run(results: dict[str, Any], model: str, split: str) -> dict[str, Any] | None:
    return next((r for r in results["accuracy"] if r["model"] == model and r["split"] == split), None)


def find_speed(results: dict[str, Any], model: str, method: str, key: str = "images_per_second") -> float | None:
    return next((r[key] for r in results["throughput"] if r["model"] == model and r["method"] == method), None)


def evaluate_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's four targets, each with its measured value and whether it is met (None: not measured yet)."""
    ours, reference = find_run(results, OURS, "grouped"), find_run(results, REFERENCE, "grouped")
    reduction = 1 - ours["val_rmse"] / reference["val_rmse"] if ours and reference else None
    cli = results.get("cli_train")
    tta = results.get("time_to_accuracy")

    def overhead(key: str) -> float | None:
        bare, piped = find_speed(results, OURS, "bare_fit", key), find_speed(results, OURS, "fkd_pipeline", key)
        return 1 - piped / bare if bare and piped else None

    def target(
        name: str, description: str, value: float | None, limit: float, at_least: bool,
        cpu_value: float | None = None, failed: bool = False, both_clocks: bool = False,
    ) -> dict[str, Any]:
        met = None if value is None else (value >= limit if at_least else value <= limit)
        if both_clocks and met and cpu_value is not None:
            met = cpu_value >= limit if at_least else cpu_value <= limit
        return {"name": name, "description": description, "value": value, "cpu_time_value": cpu_value,
                "limit": limit, "met": False if failed else met}

    return [
        target("rmse_reduction", f"grouped-split val RMSE of {OURS} below {REFERENCE}'s (fraction)",
               reduction, RMSE_REDUCTION_TARGET, at_least=True),
        target("cli_train_seconds", f"`fkd train --model {OURS}` wall time (s)",
               cli["seconds"] if cli else None, CLI_SECONDS_LIMIT, at_least=False,
               cpu_value=cli["cpu_seconds"] if cli else None),
        target("time_to_accuracy_fraction",
               f"seconds for {OURS} to reach {REFERENCE}'s final grouped RMSE / {REFERENCE}'s training seconds",
               tta["fraction_of_reference"] if tta else None, TIME_TO_ACCURACY_LIMIT, at_least=False,
               cpu_value=tta["cpu_fraction_of_reference"] if tta else None,
               failed=bool(tta) and not tta["reached"],  # measured, and never reached
               # The two trainings may have shared the CPU with different loads: met only if met on both clocks.
               both_clocks=True),
        target("pipeline_overhead", f"images/s lost by the fkd pipeline vs a bare fit ({OURS}, fraction)",
               overhead("images_per_second"), PIPELINE_OVERHEAD_LIMIT, at_least=False,
               cpu_value=overhead("images_per_cpu_second")),
    ]


def _number(value: Any, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}f}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value)


def _table(headers: list[str], rows: list[list[Any]]) -> list[str]:
    cells = [[_number(cell) for cell in row] for row in rows]
    return [tabulate(cells, headers=headers, tablefmt="github", disable_numparse=True), ""]


def markdown(results: dict[str, Any]) -> str:
    """The results as a Markdown report: targets, accuracy, per keypoint, speed, machine."""
    data, machine = results["data"], results["hardware"]
    lines = [
        f"# fkd benchmark ({results['mode']}{'' if results['complete'] else ', INCOMPLETE'})",
        "",
        (f"Data: `{data['path']}` ({data['rows']} rows, {data['complete_rows']} complete"
         f"{', SYNTHETIC DEMO DATA' if data['demo'] else ''}); fingerprint `{data['fingerprint']}`."),
        f"Started {results['started_at']}, finished {results.get('finished_at') or '–'}.",
        "",
    ]
    if results["mode"] == "quick":
        lines += ["**Quick mode: tiny epochs and rows; the numbers are meaningless.**", ""]
    lines += ["## Targets", ""]
    lines += _table(["Target", "Measured (wall time)", "Limit", "Met", "Same in CPU time"],
                    [[t["description"], t["value"], t["limit"], t["met"], t["cpu_time_value"]]
                     for t in results["targets"]])
    lines += [("CPU time counts the work of the training process's own threads, so other jobs on the "
               "machine barely inflate it. The targets are judged on wall time; time to accuracy compares "
               "two trainings that may have met different loads, so it counts as met only if it is met "
               "in CPU time too."), ""]

    lines += ["## Accuracy (validation RMSE, pixels)", ""]
    lines += _table(
        ["Model", "Split", "Missing labels", "Train rows", "Val rows", "Epochs", "Val RMSE",
         "Val RMSE (complete rows)", "Train time (s)", "Train CPU time (s)", "Inference (ms/image)",
         "Trained by", "Measured at", "Load after"],
        [[r["model"], r["split"], r["missing"], r["train_rows"], r["val_rows"], r["epochs"], r["val_rmse"],
          r["val_rmse_complete_rows"], r["train_seconds"], r["train_cpu_seconds"], r["inference_ms_per_image"],
          r["trained_by"], r["measured_at"] + (" (reused)" if r.get("reused_from_cache") else ""),
          " / ".join(f"{load:g}" for load in r["load_average_after"] or [])]
         for r in results["accuracy"]],
    )
    lines += [("*Load after*: the 1/5/15-minute load average when the run ended. One training alone keeps it "
               f"near or a little above the core count ({results['hardware']['logical_cores']}; TensorFlow's worker "
               "threads); well above that, other work shared the CPU and stretched the wall time (CPU time "
               "barely moves)."), ""]
    if any(r.get("reused_from_cache") for r in results["accuracy"]):
        lines += [("Runs marked *reused* were measured by an earlier invocation (an interrupted one, or one "
                   "with `--only`) with the same config, data, split, seed and budget (`<out>/cache/`); "
                   "`--fresh` re-measures them."), ""]
    if results["split_gap"]:
        lines += ["How much the random split flatters (same recipe, same seed):", ""]
        lines += _table(["Model", "Random-split RMSE", "Grouped-split RMSE", "Grouped / random"],
                        [[m, g["random"], g["grouped"], g["grouped_over_random"]]
                         for m, g in results["split_gap"].items()])
    if results["accuracy"]:
        runs = results["accuracy"]
        lines += ["### Per keypoint (validation RMSE, pixels)", ""]
        lines += _table(["Keypoint", *(f"{r['model']} / {r['split']}" for r in runs)],
                        [[name, *(r["per_keypoint_rmse"][name] for r in runs)] for name in KEYPOINT_NAMES])

    tta = results.get("time_to_accuracy")
    if tta:
        lines += ["## Time to accuracy (grouped split)", "",
                  f"![Validation RMSE against training time]({_stem(results)}-time-to-accuracy.png)", ""]
        lines += _table(
            [f"{REFERENCE} final RMSE", f"{REFERENCE} training (s)", f"{OURS} reached it",
             "At epoch", "After (s)", "Fraction of reference time", "Fraction in CPU time"],
            [[tta["target_rmse"], tta["reference_train_seconds"], tta["reached"], tta["epoch"],
              tta["seconds"], tta["fraction_of_reference"], tta["cpu_fraction_of_reference"]]],
        )
    if results["throughput"]:
        lines += ["## Training throughput (images/second, after the first epoch)", ""]
        lines += _table(["Model", "Method", "Batch", "Images/s", "Images/CPU-s"],
                        [[r["model"], r["method"], r["batch_size"], r["images_per_second"], r["images_per_cpu_second"]]
                         for r in results["throughput"]])
    cli = results.get("cli_train")
    if cli:
        lines += ["## `fkd train`", "",
                  f"`{cli['command']}`: {cli['seconds']:.0f} s wall time, {cli['cpu_seconds']:.0f} CPU seconds.",
                  f"Output: `{cli['output']}`", ""]
    lines += [
        "## Machine", "",
        (f"CPU: {machine['cpu_model']}; {machine['logical_cores']} logical cores "
         f"({machine['usable_cores']} usable). Load average (1/5/15 min) at start "
         f"{machine['load_average_start']}, at end {machine.get('load_average_end') or '–'}"
         " -- above the core count, other work shared the CPU."),
        "",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in results["versions"].items()),
        "",
    ]
    return "\n".join(lines)


def _json_safe(value: Any) -> Any:
    """Plain JSON: numpy numbers become Python ones, NaN (a keypoint never labelled) becomes null."""
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(item) for item in value]
    if isinstance(value, (np.floating, float)):
        return None if np.isnan(value) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    return value


def _stem(results: dict[str, Any]) -> str:
    return "benchmark" if results["mode"] == "full" else f"benchmark-{results['mode']}"


def draw_time_to_accuracy(results: dict[str, Any], path: Path) -> None:
    """Validation RMSE against training seconds on the grouped split, the reference's final RMSE dashed."""
    from fkd.plots import accuracy_over_time

    curves, target = accuracy_curves(results)
    figure = accuracy_over_time(curves, target=target)
    figure.suptitle(f"time to accuracy, grouped split ({results['mode']} run)")
    with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".png", delete=False) as partial:
        figure.savefig(partial.name, dpi=120)
    os.replace(partial.name, path)


def write_results(results: dict[str, Any], out: Path) -> None:
    """Rewrite the JSON and Markdown atomically (a reader never sees half a file)."""
    results["targets"] = evaluate_targets(results)
    results["split_gap"] = {
        model: {"random": r["val_rmse"], "grouped": g["val_rmse"], "grouped_over_random": g["val_rmse"] / r["val_rmse"]}
        for model in (REFERENCE, OURS)
        if (r := find_run(results, model, "random")) and (g := find_run(results, model, "grouped"))
    }
    stem = _stem(results)
    atomic_write_text(out / f"{stem}.json", json.dumps(_json_safe(results), indent=1, allow_nan=False))
    atomic_write_text(out / f"{stem}.md", markdown(results))


# --- Main ------------------------------------------------------------------------------


def _speed_record(
    config: ModelConfig, method: str, batch_size: int, speeds: list[tuple[float, float]], log: Callable[[str], None]
) -> dict[str, Any]:
    """The best of several (wall, CPU) speed samples: other load only ever slows a run down."""
    wall, cpu = max(s[0] for s in speeds), max(s[1] for s in speeds)
    log(f"{config.name} {method}: {wall:.0f} images/s, {cpu:.0f} images/CPU-s "
        f"(best of {[(round(w), round(c)) for w, c in speeds]})")
    return {"model": config.name, "method": method, "batch_size": batch_size, "images_per_second": wall,
            "images_per_cpu_second": cpu, "samples": [list(s) for s in speeds]}


PARTS = ("throughput", *(f"{model}:{split}" for split in SPLITS for model in (REFERENCE, OURS)))
"""What ``--only`` can pick: the speed measurements, and each accuracy run as MODEL:SPLIT."""


def measure_throughput(
    results: dict[str, Any], dataset: Dataset, split: Split, budget: Budget, seed: int, log: Callable[[str], None]
) -> None:
    """Images/second of the fkd pipeline and a bare fit for both recipes, and of the study's loop."""
    reference, ours = get_config(REFERENCE), get_config(OURS)
    rows = throughput_rows(dataset, split, budget.throughput_rows)
    images, keypoints = dataset.images[rows], dataset.keypoints[rows]
    for config in (reference, ours):
        samples: dict[str, list[tuple[float, float]]] = {"bare_fit": [], "fkd_pipeline": []}
        for _ in range(budget.throughput_repeats):  # interleaved, so a burst of other load hits both
            samples["bare_fit"].append(bare_fit_speed(config, images, keypoints, budget, seed))
            samples["fkd_pipeline"].append(pipeline_speed(config, images, keypoints, budget, seed))
        for method, speeds in samples.items():
            results["throughput"].append(_speed_record(config, method, config.batch_size, speeds, log))
    speeds = [study_loop_speed(reference, images, keypoints, budget.study_loop_batches, seed)]
    results["throughput"].append(_speed_record(reference, "study_loop", 32, speeds, log))


def run(
    data: Path | None, out: Path, budget: Budget, seed: int, fresh: bool, log: Callable[[str], None],
    only: frozenset[str] = frozenset(PARTS),
) -> dict[str, Any]:
    files = resolve_data(data)
    dataset = load_training(files)
    reference, ours = get_config(REFERENCE), get_config(OURS)
    results: dict[str, Any] = {
        "mode": budget.name, "complete": False, "command": " ".join(sys.argv),
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "finished_at": None, "seed": seed,
        "data": {"path": str(files.root), "source": dataset.source, "fingerprint": dataset.fingerprint,
                 "demo": files.demo, "rows": len(dataset), "complete_rows": int(dataset.complete.sum())},
        "hardware": hardware(), "versions": versions(), "reference": REFERENCE, "ours": OURS,
        "configs": {c.name: c.to_dict() for c in (reference, ours)},
        "budget": budget.__dict__, "accuracy": [], "throughput": [], "time_to_accuracy": None,
        "cli_train": None,
    }
    splits = {name: make_split(name, dataset) for name in SPLITS}
    write_results(results, out)

    if "throughput" in only:
        measure_throughput(results, dataset, splits["grouped"], budget, seed, log)
        write_results(results, out)
    cache = out / "cache"
    cache.mkdir(parents=True, exist_ok=True)

    def cache_path(config: ModelConfig, split: Split, how: str) -> Path:
        key = RunKey(config, dataset.fingerprint, split.name, seed, budget.epochs or config.epochs,
                     budget.max_train_rows)
        return cache / f"{budget.name}-{how}-{key.stem}-{split.name}.json"

    for split_name in SPLITS:
        split = splits[split_name]
        for config in (reference, ours):
            if f"{config.name}:{split_name}" not in only:
                continue
            if config is ours and split_name == "grouped":
                run_result, results["cli_train"] = cached(
                    cache_path(config, split, "cli"), fresh,
                    lambda: cli_run(config, files.root, dataset, split, budget, seed, out / CLI_RUNS), log)
                log(f"{results['cli_train']['command']}: {results['cli_train']['seconds']:.0f} s")
            else:
                run_result = cached(cache_path(config, split, "fit"), fresh,
                                    lambda: accuracy_run(config, dataset, split, budget, seed), log)
            log(f"{config.name} on the {split_name} split: val RMSE {run_result['val_rmse']:.3f} px "
                f"in {run_result['train_seconds']:.0f} s of training")
            results["accuracy"].append(run_result)
            write_results(results, out)
        reference_run, our_run = find_run(results, REFERENCE, "grouped"), find_run(results, OURS, "grouped")
        if split_name == "grouped" and reference_run and our_run:
            results["time_to_accuracy"] = time_to_accuracy(reference_run, our_run)
            write_results(results, out)
            draw_time_to_accuracy(results, out / f"{_stem(results)}-time-to-accuracy.png")

    results["hardware"]["load_average_end"] = _load_average()
    results["complete"] = only == frozenset(PARTS)
    results["finished_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    write_results(results, out)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny CI run: every measurement, meaningless numbers")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA if DEFAULT_DATA.is_dir() else None,
                        help=f"Kaggle-layout data folder (default: {DEFAULT_DATA} if present, else fkd's demo data)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"results folder (default: {DEFAULT_OUT})")
    parser.add_argument("--seed", type=int, default=42, help="training seed (default: 42, as `fkd train`)")
    parser.add_argument("--fresh", action="store_true",
                        help="re-measure every accuracy run instead of reusing those saved in <out>/cache")
    parser.add_argument("--only", action="append", choices=PARTS, metavar="PART",
                        help=("measure only this part (repeatable): " + ", ".join(PARTS) + "; the runs land in "
                              "<out>/cache, where a later full invocation reuses them"))
    args = parser.parse_args(argv)
    budget = QUICK if args.quick else FULL
    started = time.perf_counter()

    def log(message: str) -> None:
        print(f"[{time.perf_counter() - started:7.0f} s] {message}", flush=True)

    results = run(args.data, args.out, budget, args.seed, args.fresh, log,
                  frozenset(args.only or PARTS))
    stem = _stem(results)
    log(f"wrote {args.out / (stem + '.json')} and {args.out / (stem + '.md')}")
    print("\n".join(f"{t['name']}: {_number(t['value'])} (limit {t['limit']}): met={t['met']}"
                    for t in results["targets"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
