"""Result bookkeeping: one JSON record per run, the model cache, and the RMSE table.

Layout of a runs folder::

    runs/results/<model>-<key>.json   what was run, on what data, and how it scored
    runs/models/<model>-<key>.keras   the trained network (native Keras format)

``key`` hashes everything that determines a trained model (config, data
fingerprint, split, seed, epochs, row limit), so asking for the same run again
finds the model instead of retraining it. Every file is written to a temporary
name and renamed, so an interrupted run never leaves a half-written record or model.
"""

from __future__ import annotations

import hashlib
import json
import platform
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from tabulate import tabulate

from fkd.configs import ModelConfig
from fkd.data import atomic_write_text
from fkd.profiles import Profile

STUDY_REPORTED_RMSE: dict[str, float] = {
    "knn": 2.45, "nn2": 3.14, "cnn_baseline": 2.09, "cnn_flip": 1.60,
    "modelh_1": 1.99, "modelh_2": 2.47, "modelh_3": 1.73, "modelh_4": 1.66, "modelh_5": 1.63,
    "modelh_6": 1.44, "modelh_66": 1.45, "modelh_6_1": 1.45, "modelh_8": 1.58, "modelh_9": 1.43,
    "modelh_10": 1.43, "modelh_11": 1.38, "modelh_11_1": 1.40, "modelh_12": 1.38,
}
"""RMSE (px) the study reported on its own validation split of Kaggle's data, for comparison."""

_VERSIONED = ("fkd", "numpy", "pandas", "scikit-learn", "tensorflow", "keras")


@dataclass(frozen=True)
class RunKey:
    """Everything that determines a trained model; its hash names the cached files."""

    config: ModelConfig
    fingerprint: str
    split: str
    seed: int
    epochs: int
    max_train_rows: int | None

    @property
    def digest(self) -> str:
        payload = json.dumps(
            {"config": self.config.to_dict(), "fingerprint": self.fingerprint, "split": self.split,
             "seed": self.seed, "epochs": self.epochs, "max_train_rows": self.max_train_rows},
            sort_keys=True,
        )
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    @property
    def stem(self) -> str:
        return f"{self.config.name}-{self.digest}"


def model_path(runs_dir: str | Path, key: RunKey) -> Path:
    return Path(runs_dir) / "models" / f"{key.stem}.keras"


def record_path(runs_dir: str | Path, key: RunKey) -> Path:
    return Path(runs_dir) / "results" / f"{key.stem}.json"


def versions() -> dict[str, str]:
    """Versions of Python and the libraries that shape a result (read without importing them)."""
    found = {"python": platform.python_version(), "platform": platform.platform()}
    for name in _VERSIONED:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def write_record(runs_dir: str | Path, key: RunKey, record: dict[str, Any]) -> Path:
    """Store a run's record atomically; the key's fields and versions are added to it."""
    full = {
        "model": key.config.name,
        "key": key.digest,
        "config": key.config.to_dict(),
        "data_fingerprint": key.fingerprint,
        "split": key.split,
        "seed": key.seed,
        "epochs": key.epochs,
        "max_train_rows": key.max_train_rows,
        "versions": versions(),
        "recorded_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        **record,
    }
    path = record_path(runs_dir, key)
    atomic_write_text(path, json.dumps(full, indent=1, sort_keys=True, default=float))
    return path


def read_record(runs_dir: str | Path, key: RunKey) -> dict[str, Any] | None:
    path = record_path(runs_dir, key)
    return json.loads(path.read_text()) if path.is_file() else None


def load_runs(runs_dir: str | Path, fingerprint: str | None = None) -> list[dict[str, Any]]:
    """All recorded runs, oldest first; only those on data ``fingerprint`` when given."""
    folder = Path(runs_dir) / "results"
    runs = []
    for path in sorted(folder.glob("*.json")):
        try:
            run = json.loads(path.read_text())
        except json.JSONDecodeError:
            continue  # a foreign or damaged file is not a result; records themselves are atomic
        if fingerprint is None or run.get("data_fingerprint") == fingerprint:
            runs.append(run)
    return sorted(runs, key=lambda run: (run.get("recorded_at", ""), run["model"]))


def runs_for_profile(runs_dir: str | Path, fingerprint: str, profile: Profile) -> list[dict[str, Any]]:
    """The recorded runs a report with ``profile`` on data ``fingerprint`` makes.

    A runs folder may hold runs of other data and other profiles; those are left
    out of the final table so each report shows its own numbers.
    """
    return [
        run for run in load_runs(runs_dir, fingerprint)
        if run["max_train_rows"] == profile.max_train_rows
        and run["epochs"] == profile.epochs_for(ModelConfig.from_dict(run["config"]))
    ]


def latest_run(runs_dir: str | Path, model: str, fingerprint: str) -> dict[str, Any] | None:
    """The most recent recorded run of ``model`` on data ``fingerprint``, if any."""
    matching = [run for run in load_runs(runs_dir, fingerprint) if run["model"] == model]
    return matching[-1] if matching else None


TABLE_HEADERS = (
    "Model", "Split", "Missing labels", "Epochs", "Train rows", "Val RMSE (px)",
    "Study (Kaggle, px)", "Train time (s)",
)


def rmse_table(runs: list[dict[str, Any]], fmt: str = "plain") -> str:
    """The final table: one row per run, best validation RMSE first.

    ``fmt`` is any tabulate format: "plain" for text and PDF, "github" for markdown,
    "html" for HTML. The study's own figure sits beside ours where it exists; it was
    measured on Kaggle's data with a random split, so it is context, not a target.
    """
    rows = [
        (
            run["model"], run["split"], run["config"]["missing"],
            run["epochs"] if run["config"].get("kind") != "knn" else "-", run.get("n_train", ""),
            round(run["val_rmse"], 3), STUDY_REPORTED_RMSE.get(run["model"], ""),
            round(run.get("seconds", float("nan")), 1),
        )
        for run in sorted(runs, key=lambda run: run["val_rmse"])
    ]
    return tabulate(rows, headers=TABLE_HEADERS, tablefmt=fmt)


def load_benchmark(path: str | Path, fingerprint: str) -> tuple[dict[str, Any] | None, str]:
    """A benchmark's results if they were measured on these data, else None and why not.

    ``benchmarks/run.py`` writes ``benchmark.json``; a report shows it only when the
    data fingerprint matches, so a benchmark of other data never passes for this one's.
    """
    path = Path(path)
    if not path.is_file():
        return None, f"no benchmark results at {path}: run `nox -s benchmark` (about 2 hours on 2 CPU cores)"
    results = json.loads(path.read_text())
    if results["data"]["fingerprint"] != fingerprint:
        return None, f"{path} was measured on other data (fingerprint {results['data']['fingerprint']})"
    return results, "ok"


def benchmark_markdown(results: dict[str, Any]) -> str:
    """The headline tables of a benchmark as markdown: its targets, then its accuracy runs."""

    def number(value: float | None) -> str:  # fractions and pixels to 3 decimals, seconds whole
        return "–" if value is None else f"{value:.3f}" if abs(value) < 100 else f"{value:.0f}"

    targets = [(t["description"], number(t["value"]), number(t["limit"]),
                {True: "yes", False: "no"}.get(t["met"], "not measured")) for t in results["targets"]]
    runs = [(r["model"], r["split"], r["missing"], r["epochs"], number(r["val_rmse"]),
             number(r["val_rmse_complete_rows"]), number(r["train_seconds"])) for r in results["accuracy"]]
    state = "complete" if results["complete"] else "INCOMPLETE"
    return "\n\n".join([
        f"Benchmark ({results['mode']}, {state}) started {results['started_at']}.",
        tabulate(targets, headers=["Target", "Measured", "Limit", "Met"], tablefmt="github", disable_numparse=True),
        tabulate(runs, headers=["Model", "Split", "Labels", "Epochs", "Val RMSE (px)", "Complete rows (px)",
                                "Train (s)"], tablefmt="github", disable_numparse=True),
    ])


def accuracy_curves(
    results: dict[str, Any], split: str = "grouped"
) -> tuple[dict[str, tuple[list[float], list[float]]], tuple[str, float] | None]:
    """Per-epoch (seconds, val RMSE) of each benchmark run on ``split``, and the reference's final RMSE.

    Ready for :func:`fkd.plots.accuracy_over_time`; the target line is the study
    recipe's final RMSE, the level time-to-accuracy is measured at.
    """
    runs = [r for r in results["accuracy"] if r["split"] == split]
    curves = {r["model"]: (r["epoch_end_seconds"], r["val_rmse_history"]) for r in runs}
    reference = next((r for r in runs if r["model"] == results.get("reference")), None)
    target = (f"{reference['model']} final", reference["val_rmse_history"][-1]) if reference else None
    return curves, target
