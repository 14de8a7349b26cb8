"""Benchmark fkd on one machine: its model against the study's, its speed, its report and its loader.

One command measures, each as a *part* that can also be run alone (``--only``):

* ``MODEL:SPLIT`` -- accuracy: ``modelh_12`` (the study's best recipe), ``best``
  (fkd's) and ``best_v1`` (fkd's previous recipe, the training budget ``best`` is
  held to) on the grouped and random splits, trained and scored by
  :func:`fkd.experiment.run_experiment` into ``<out>/runs`` -- the same cache and
  record format as every notebook and command. ``best:grouped`` is trained by
  ``fkd train`` in its own process, as a user runs it, and timed;
* ``throughput`` -- images/second of the fkd input pipeline, of a bare ``fit`` on
  in-memory arrays and of the study's loop (one ``model.fit`` call per batch);
* ``report:smoke`` and ``report:standard`` -- ``fkd report`` from scratch (a new
  runs folder) on the data: seconds per notebook;
* ``load`` -- parsing ``training.zip`` the first time, loading it again from the
  parse cache, and the parser's peak memory.

Usage::

    python benchmarks/run.py [--quick] [--data DIR] [--out benchmarks/results] [--only PART] [--fresh] [--publish]

Results go to ``<out>/benchmark.json`` and ``<out>/benchmark.md``
(``benchmark-quick.*`` with ``--quick``), rewritten atomically after every part.
A later invocation keeps the parts an earlier one measured on the same data with
the same budget and seed (marked *reused*) and measures the rest; ``--fresh``
re-measures everything. ``--publish`` copies the results into
``fkd/measured/benchmark.json`` and regenerates the README's table from it; given
alone (no ``--only``, no ``--fresh``) it publishes what ``<out>`` holds and measures
nothing.
The file format, the targets and the rendering live in :mod:`fkd.benchmark`.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
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

from fkd import benchmark as bench
from fkd import machine
from fkd.atomic import plain, write_json, write_text, atomic_path
from fkd.configs import REGISTRY, ModelConfig, get_config
from fkd.console import import_tensorflow
from fkd.data import Dataset, load_training
from fkd.evaluate import rmse
from fkd.experiment import RunResult, run_experiment
from fkd.keypoints import mirror_normalised, normalise
from fkd.results import RunKey, model_path, record_path, versions
from fkd.sources import resolve_data
from fkd.splits import Split, make_split

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "faces15"
DEFAULT_OUT = REPO / "benchmarks" / "results"
SPLITS = ("grouped", "random")
"""Grouped first: the targets are measured on it, so an interrupted run still has them."""
RECIPES = tuple(name for name in (bench.REFERENCE, bench.OURS, bench.PREVIOUS) if name in REGISTRY)


@dataclass(frozen=True)
class Budget:
    """How much each measurement does."""

    name: str
    epochs: int | None
    """Epochs of every accuracy run; None trains each config for its own epochs."""
    max_train_rows: int | None
    throughput_rows: int
    """Complete rows fed to each images/second measurement."""
    throughput_epochs: int
    """Epochs per images/second measurement; the first (graph tracing) is not timed."""
    throughput_repeats: int
    """Each images/second is the best of this many runs: other work on the CPU only ever slows one down."""
    study_loop_batches: int


FULL = Budget("full", None, None, throughput_rows=512, throughput_epochs=4, throughput_repeats=2, study_loop_batches=40)
QUICK = Budget("quick", 2, 96, throughput_rows=64, throughput_epochs=2, throughput_repeats=1, study_loop_batches=4)

ACCURACY_PARTS = tuple(f"{model}:{split}" for split in SPLITS for model in RECIPES
                       if not (model == bench.PREVIOUS and split == "random"))
REPORT_PARTS = ("report:smoke", "report:standard")
PARTS = ("throughput", "load", *ACCURACY_PARTS, *REPORT_PARTS)
"""What ``--only`` can pick."""
DEFAULT_PARTS = {"full": PARTS, "quick": ("throughput", "load", *ACCURACY_PARTS)}
"""A plain invocation's parts: the quick (CI) run leaves the report timings to ``--only``."""


# --- Accuracy ------------------------------------------------------------------------


def _load_average() -> list[float] | None:
    """The 1/5/15-minute load: above the core count, other work shared the CPU and slowed us."""
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except OSError:
        return None


def accuracy_summary(result: RunResult, trained_by: str) -> dict[str, Any]:
    """One accuracy run as the benchmark JSON records it, from :func:`run_experiment`'s result."""
    from fkd import train as training

    complete = ~np.isnan(result.val_keypoints).any(axis=1)
    start = time.perf_counter()
    training.predict(result.model, result.config, result.val_images)  # warm: the first call traced
    inference = (time.perf_counter() - start) / len(result.val_images) * 1000
    history, record = result.history, result.record
    return {
        "model": result.config.name, "split": result.split.name, "missing": result.config.missing,
        "trained_by": trained_by, "train_rows": record["n_learned"], "val_rows": len(result.val_images),
        "epochs": result.epochs, "val_rmse": result.val_rmse,
        "val_rmse_complete_rows": (rmse(result.val_keypoints[complete], result.val_predictions[complete])
                                   if complete.any() else None),
        "per_keypoint_rmse": result.per_keypoint, "inference_ms_per_image": inference,
        "train_seconds": result.seconds, "train_cpu_seconds": history["cpu_seconds"][-1],
        "images_per_second": result.images_per_second, "val_rmse_history": history["val_rmse"],
        "epoch_end_seconds": history["seconds"], "epoch_end_cpu_seconds": history["cpu_seconds"],
        "measured_at": record["recorded_at"], "reused": result.cached, "load_average_after": _load_average(),
    }


def forget_run(runs_dir: Path, key: RunKey) -> None:
    """Delete a cached run, so that the next request trains it again (``--fresh``, and before timing)."""
    record_path(runs_dir, key).unlink(missing_ok=True)
    model_path(runs_dir, key).unlink(missing_ok=True)


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cli_train(config: ModelConfig, data_dir: Path, budget: Budget, seed: int, runs_dir: Path) -> dict[str, Any]:
    """``fkd train --model NAME`` in a fresh process, as a user runs it: its wall and CPU time and last line.

    The caller has made sure nothing cached can shorten it.
    """
    options: tuple[str, ...] = ("--epochs", str(budget.epochs)) if budget.epochs else ()
    if budget.max_train_rows:
        options += ("--max-train-rows", str(budget.max_train_rows))
    command = [sys.executable, "-m", "fkd", "train", "--data", str(data_dir), "--model", config.name,
               "--seed", str(seed), *options, "--runs-dir", str(runs_dir)]
    start, children_before = time.perf_counter(), _children_cpu_seconds()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    seconds, cpu_seconds = time.perf_counter() - start, _children_cpu_seconds() - children_before
    if done.returncode != 0:
        raise RuntimeError(f"`{' '.join(command)}` failed ({done.returncode}):\n{done.stderr[-2000:]}")
    shown = ["fkd", *command[3:-1], "<out>/runs"]
    return {"command": " ".join(shown), "seconds": seconds, "cpu_seconds": cpu_seconds,
            "output": done.stdout.strip().splitlines()[-1]}


# --- Throughput ------------------------------------------------------------------------


def steady_speed(wall: list[float], cpu: list[float], images_per_epoch: int) -> tuple[float, float]:
    """Images per wall second and per CPU second after the first epoch, which pays for tracing the graphs."""
    images = images_per_epoch * (len(wall) - 1)
    return images / (wall[-1] - wall[0]), images / (cpu[-1] - cpu[0])


def throughput_rows(dataset: Dataset, split: Split, n: int) -> np.ndarray:
    """The first ``n`` complete training rows: every missing-label policy keeps all of them."""
    complete = split.train[~np.isnan(dataset.keypoints[split.train]).any(axis=1)]
    return complete[:n]


def pipeline_speed(config: ModelConfig, images: np.ndarray, keypoints: np.ndarray, budget: Budget,
                   seed: int) -> tuple[float, float]:
    """Steady (images/s, images/CPU-s) of ``fkd.train.train``: tf.data, augmentation, no validation."""
    from fkd import train as training

    trained = training.train(config, images, keypoints, seed=seed, epochs=budget.throughput_epochs, progress=False)
    return steady_speed(trained.history["seconds"], trained.history["cpu_seconds"], len(images))


def bare_fit_speed(config: ModelConfig, images: np.ndarray, keypoints: np.ndarray, budget: Budget,
                   seed: int) -> tuple[float, float]:
    """Steady (images/s, images/CPU-s) of ``model.fit`` on in-memory arrays: no pipeline, no augmentation."""
    import keras

    from fkd.train import EpochClock, compile_model

    keras.utils.set_random_seed(seed)
    x, y = images[..., None].astype(np.float32) / 255.0, normalise(keypoints)
    model = compile_model(config, -(-len(x) // config.batch_size), budget.throughput_epochs)
    clock = EpochClock()
    model.fit(x, y, batch_size=config.batch_size, epochs=budget.throughput_epochs, shuffle=True, verbose=0,
              callbacks=[clock])
    return steady_speed(clock.seconds, clock.cpu_seconds, len(x))


def study_loop_speed(config: ModelConfig, images: np.ndarray, keypoints: np.ndarray, batches: int,
                     seed: int) -> tuple[float, float]:
    """The study's training loop: draw 32 faces, mirror half with numpy, call ``model.fit`` on them.

    Three untimed batches first, so graph tracing is not counted against it.
    """
    import keras

    from fkd.train import compile_model

    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    x, y = images[..., None].astype(np.float32) / 255.0, normalise(keypoints)
    batch_size, warmup = 32, 3
    model = compile_model(config, -(-len(x) // batch_size), config.epochs)
    for b in range(warmup + batches):
        if b == warmup:
            start, cpu_start = time.perf_counter(), time.process_time()
        chosen = rng.choice(len(x), batch_size, replace=False)
        xb, yb = x[chosen].copy(), y[chosen].copy()
        flip = rng.random(batch_size) < 0.5
        xb[flip] = xb[flip][:, :, ::-1]
        yb[flip] = mirror_normalised(yb[flip])
        model.fit(xb, yb, batch_size=batch_size, epochs=1, verbose=0)
    images_done = batches * batch_size
    return images_done / (time.perf_counter() - start), images_done / (time.process_time() - cpu_start)


def _speed_record(config: ModelConfig, method: str, batch_size: int, speeds: list[tuple[float, float]],
                  log: Callable[[str], None]) -> dict[str, Any]:
    """The best of several (wall, CPU) speed samples: other load only ever slows a run down."""
    wall, cpu = max(s[0] for s in speeds), max(s[1] for s in speeds)
    log(f"{config.name} {method}: {wall:.0f} images/s, {cpu:.0f} images/CPU-s")
    return {"model": config.name, "method": method, "batch_size": batch_size, "images_per_second": wall,
            "images_per_cpu_second": cpu, "samples": [list(s) for s in speeds]}


def measure_throughput(dataset: Dataset, split: Split, budget: Budget, seed: int,
                       log: Callable[[str], None]) -> list[dict[str, Any]]:
    """Images/second of the fkd pipeline and a bare fit for the study's and fkd's recipes, and of the study's loop."""
    reference, ours = get_config(bench.REFERENCE), get_config(bench.OURS)
    rows = throughput_rows(dataset, split, budget.throughput_rows)
    images, keypoints = dataset.images[rows], dataset.keypoints[rows]
    measured = []
    for config in (reference, ours):
        samples: dict[str, list[tuple[float, float]]] = {"bare_fit": [], "fkd_pipeline": []}
        for _ in range(budget.throughput_repeats):  # interleaved, so a burst of other load hits both
            samples["bare_fit"].append(bare_fit_speed(config, images, keypoints, budget, seed))
            samples["fkd_pipeline"].append(pipeline_speed(config, images, keypoints, budget, seed))
        measured += [_speed_record(config, method, config.batch_size, speeds, log) for method, speeds in samples.items()]
    speeds = [study_loop_speed(reference, images, keypoints, budget.study_loop_batches, seed)]
    return [*measured, _speed_record(reference, "study_loop", 32, speeds, log)]


# --- Report and loading ------------------------------------------------------------------


def report_times(profile: str, data_dir: Path, fingerprint: str, work: Path, seed: int) -> dict[str, Any]:
    """``fkd report --profile PROFILE`` from scratch (empty runs folder): seconds per notebook and in all."""
    from fkd.report import timings_path

    shutil.rmtree(work, ignore_errors=True)
    command = [sys.executable, "-m", "fkd", "report", "--profile", profile, "--data", str(data_dir),
               "--out", str(work / "reports"), "-p", "runs_dir", str(work / "runs"), "-p", "seed", str(seed)]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"`{' '.join(command)}` failed ({done.returncode}):\n{done.stderr[-3000:]}")
    timings = json.loads(timings_path(work / "runs", profile, fingerprint).read_text())
    return {"profile": profile, "seconds": seconds, "notebooks": timings["notebooks"],
            "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


_LOAD_SCRIPT = """
import json, resource, sys, time
from fkd.data import load_training


def peak_kib():
    # VmHWM is this program's own high-water mark; ru_maxrss keeps the parent's from fork, so
    # under a benchmark process larger than the load it never moved (a ratio of 0 was published).
    try:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


before = peak_kib()
start = time.perf_counter()
dataset = load_training(sys.argv[1])
seconds = time.perf_counter() - start
peak = peak_kib()
print(json.dumps({"seconds": seconds, "extra_kib": peak - before, "rows": len(dataset)}))
"""


def load_times(data_dir: Path) -> dict[str, Any]:
    """Loading ``training.zip`` in a fresh process with an empty parse cache, then again from the cache."""
    import zipfile

    training = resolve_data(data_dir).training
    csv_bytes = (sum(i.file_size for i in zipfile.ZipFile(training).infolist())
                 if training.suffix == ".zip" else training.stat().st_size)
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "FKD_CACHE_DIR": cache}
        runs = [json.loads(subprocess.run([sys.executable, "-c", _LOAD_SCRIPT, str(data_dir)], env=env,
                                          capture_output=True, text=True, check=True).stdout)
                for _ in range(2)]
    return {"file": str(training), "csv_bytes": csv_bytes, "first_seconds": runs[0]["seconds"],
            "cached_seconds": runs[1]["seconds"], "peak_memory_ratio": runs[0]["extra_kib"] * 1024 / csv_bytes,
            "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


# --- Machine and results ------------------------------------------------------------------


def hardware() -> dict[str, Any]:
    return {"cpu_model": machine.cpu_model(), "logical_cores": os.cpu_count(), "usable_cores": machine.usable_cores(),
            "load_average_start": _load_average()}


def draw_time_to_accuracy(results: dict[str, Any], path: Path) -> None:
    """Validation RMSE against training seconds on the grouped split, the reference's final RMSE dashed."""
    from fkd.plots import accuracy_over_time

    curves, target = bench.accuracy_curves(results)
    figure = accuracy_over_time(curves, target=target)
    figure.suptitle(f"time to accuracy, grouped split ({results['mode']} run)")
    with atomic_path(path, suffix=".png") as temporary:
        figure.savefig(temporary, dpi=120)


def write_results(results: dict[str, Any], out: Path) -> None:
    """Derive the comparisons and targets, then rewrite the JSON and Markdown atomically."""
    reference, ours = bench.find_run(results, bench.REFERENCE, "grouped"), bench.find_run(results, bench.OURS, "grouped")
    results["time_to_accuracy"] = bench.time_to_accuracy(reference, ours) if reference and ours else None
    results["split_gap"] = bench.split_gap(results)
    results["targets"] = bench.evaluate_targets(results)
    write_json(out / f"{bench.stem(results)}.json", results)
    write_text(out / f"{bench.stem(results)}.md", bench.markdown(results))
    if results["time_to_accuracy"]:
        draw_time_to_accuracy(results, out / f"{bench.stem(results)}-time-to-accuracy.png")


READMES = (REPO / "README.md", REPO / "benchmarks" / "README.md")
"""The documents whose benchmark tables are generated (between ``fkd.benchmark.README_START`` and ``_END``)."""


def publish(results: dict[str, Any]) -> None:
    """Commit-ready copies: ``fkd/measured/benchmark.json`` and the READMEs' generated tables."""
    results = bench.public_copy(results)
    write_json(REPO / "fkd" / bench.PUBLISHED, results)
    for readme in READMES:
        text = readme.read_text()
        start, end = text.index(bench.README_START), text.index(bench.README_END) + len(bench.README_END)
        write_text(readme, text[:start] + bench.readme_block(results) + text[end:])


def previous_results(path: Path, fingerprint: str, budget: Budget, seed: int) -> dict[str, Any] | None:
    """An earlier invocation's results on the same data, budget and seed, whose parts can be kept."""
    if not path.is_file():
        return None
    earlier = json.loads(path.read_text())
    same = (earlier.get("data", {}).get("fingerprint") == fingerprint and earlier.get("mode") == budget.name
            and earlier.get("seed") == seed)
    return earlier if same else None


def run(data: Path | None, out: Path, budget: Budget, seed: int, fresh: bool, log: Callable[[str], None],
        only: tuple[str, ...] | None = None) -> dict[str, Any]:
    files = resolve_data(data)
    dataset = load_training(files)
    runs_dir = out / "runs"
    wanted = only or DEFAULT_PARTS[budget.name]
    results: dict[str, Any] = {
        "mode": budget.name, "complete": False, "command": " ".join(sys.argv),
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "finished_at": None, "seed": seed,
        "data": {"path": str(files.root), "source": dataset.source, "fingerprint": dataset.fingerprint,
                 "demo": files.demo, "rows": len(dataset), "complete_rows": int(dataset.complete.sum())},
        "hardware": hardware(), "versions": versions(), "reference": bench.REFERENCE, "ours": bench.OURS,
        "configs": {name: get_config(name).to_dict() for name in RECIPES},
        "budget": budget.__dict__, "accuracy": [], "throughput": [], "cli_train": None, "report": {}, "load": None,
    }
    earlier = None if fresh else previous_results(out / f"{bench.stem(results)}.json", dataset.fingerprint, budget, seed)
    if earlier:  # keep what an earlier invocation measured; what is measured now replaces it
        for key in ("accuracy", "throughput", "cli_train", "report", "load"):
            results[key] = earlier.get(key) or results[key]
        for run_ in results["accuracy"]:
            run_["reused"] = True
    done = {*(f"{r['model']}:{r['split']}" for r in results["accuracy"]),
            *(f"report:{p}" for p in results["report"]), *(["throughput"] if results["throughput"] else []),
            *(["load"] if results["load"] else [])}
    todo = [part for part in PARTS if part in wanted and (part not in done or only is not None)]
    write_results(results, out)

    for part in todo:
        log(f"measuring {part}")
        if part == "throughput":
            results["throughput"] = measure_throughput(dataset, make_split("grouped", dataset), budget, seed, log)
        elif part == "load":
            results["load"] = load_times(files.root)
            log(f"load: first {results['load']['first_seconds']:.2f} s, cached {results['load']['cached_seconds']:.3f} s")
        elif part.startswith("report:"):
            profile = part.split(":", 1)[1]
            results["report"][profile] = report_times(profile, files.root, dataset.fingerprint, out / f"report-{profile}",
                                                      seed)
            log(f"fkd report --profile {profile}: {results['report'][profile]['seconds']:.0f} s")
        else:
            model, split = part.split(":")
            config = get_config(model)
            epochs = budget.epochs or config.epochs
            key = RunKey(config, dataset.fingerprint, split, seed, epochs, budget.max_train_rows)
            by_cli = model == bench.OURS and split == "grouped"
            if fresh or by_cli:
                forget_run(runs_dir, key)  # nothing cached may shorten a timing
            if by_cli:
                results["cli_train"] = cli_train(config, files.root, budget, seed, runs_dir)
                log(f"{results['cli_train']['command']}: {results['cli_train']['seconds']:.0f} s")
            result = run_experiment(config, dataset, split=split, seed=seed, epochs=epochs,
                                    max_train_rows=budget.max_train_rows, runs_dir=runs_dir, progress=False)
            summary = accuracy_summary(result, "fkd train (CLI)" if by_cli else "run_experiment")
            summary["reused"] = result.cached and not by_cli
            results["accuracy"] = [r for r in results["accuracy"] if (r["model"], r["split"]) != (model, split)]
            results["accuracy"].append(summary)
            log(f"{model} on the {split} split: val RMSE {summary['val_rmse']:.3f} px, "
                f"{summary['train_seconds']:.0f} s ({summary['train_cpu_seconds']:.0f} CPU s) of training")
        write_results(results, out)

    results["accuracy"].sort(key=lambda r: (SPLITS.index(r["split"]), RECIPES.index(r["model"])))
    results["hardware"]["load_average_end"] = _load_average()
    measured = {*(f"{r['model']}:{r['split']}" for r in results["accuracy"]), *(f"report:{p}" for p in results["report"]),
                *(["throughput"] if results["throughput"] else []), *(["load"] if results["load"] else [])}
    results["complete"] = set(DEFAULT_PARTS[budget.name]) <= measured
    results["finished_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    write_results(results, out)
    return plain(results)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny CI run: every measurement, meaningless numbers")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA if DEFAULT_DATA.is_dir() else None,
                        help=f"Kaggle-layout data folder (default: {DEFAULT_DATA} if present, else fkd's demo data)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"results folder (default: {DEFAULT_OUT})")
    parser.add_argument("--seed", type=int, default=42, help="training seed (default: 42, as `fkd train`)")
    parser.add_argument("--fresh", action="store_true", help="re-measure every part instead of keeping earlier ones")
    parser.add_argument("--only", action="append", choices=PARTS, metavar="PART",
                        help="measure only this part, even if measured before (repeatable): " + ", ".join(PARTS))
    parser.add_argument("--publish", action="store_true",
                        help="copy the results into fkd/measured/benchmark.json and regenerate the README table; "
                             "alone, it publishes what <out> holds and measures nothing")
    args = parser.parse_args(argv)
    budget = QUICK if args.quick else FULL
    started = time.perf_counter()

    def log(message: str) -> None:
        print(f"[{time.perf_counter() - started:7.0f} s] {message}", flush=True)

    if args.publish and not (args.only or args.fresh):
        path = args.out / "benchmark.json"
        if not path.is_file():
            parser.error(f"nothing to publish: {path} does not exist (measure first: python benchmarks/run.py)")
        publish(json.loads(path.read_text()))
        log(f"published {path} to fkd/{bench.PUBLISHED} and the READMEs")
        return 0
    import_tensorflow()  # before anything imports it, so its start-up lines stay off the console
    results = run(args.data, args.out, budget, args.seed, args.fresh, log, tuple(args.only) if args.only else None)
    log(f"wrote {args.out / (bench.stem(results) + '.json')} and {args.out / (bench.stem(results) + '.md')}")
    print("\n".join(f"{t['name']}: {t['value']} (limit {t['limit']}): met={t['met']}" for t in results["targets"]))
    if args.publish:
        publish(results)
        log(f"published to fkd/{bench.PUBLISHED} and README.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
