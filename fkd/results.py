"""Result bookkeeping: one JSON record per run, the model cache, and the RMSE table.

Layout of a runs folder::

    runs/results/<key>.json   what was run, on what data, and how it scored
    runs/models/<key>.keras   the trained network (native Keras format)

``key`` hashes everything that determines what is trained -- the config's
training fields (not its name or description), the data fingerprint, the split,
the seed, the epochs and the row limit -- so asking for the same training again,
under any name, finds the model instead of retraining it. The record lists every
name the run answers to (``knn`` and ``knn_k5`` are one k-NN; ``modelh_6`` and
``modelh_9`` one network). Every file is written atomically (:mod:`fkd.atomic`).
"""

from __future__ import annotations

import hashlib
import json
import math
import platform
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from fkd.atomic import to_json, write_json
from fkd.configs import ModelConfig
from fkd.display import Table
from fkd.original import reported_text
from fkd.profiles import Profile

_VERSIONED = ("fkd", "numpy", "pandas", "scikit-learn", "tensorflow", "keras")
_NOT_TRAINING = ("name", "description")
"""Config fields that label a model without changing what is trained."""


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
        trained = {k: v for k, v in self.config.to_dict().items() if k not in _NOT_TRAINING}
        payload = to_json(
            {"config": trained, "fingerprint": self.fingerprint, "split": self.split, "seed": self.seed,
             "epochs": self.epochs, "max_train_rows": self.max_train_rows},
            indent=None,
        )
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


def model_path(runs_dir: str | Path, key: RunKey) -> Path:
    return Path(runs_dir) / "models" / f"{key.digest}.keras"


def record_path(runs_dir: str | Path, key: RunKey) -> Path:
    return Path(runs_dir) / "results" / f"{key.digest}.json"


def versions() -> dict[str, str]:
    """Versions of Python and the libraries that shape a result (read without importing them)."""
    found = {"python": platform.python_version(), "platform": platform.platform()}
    for name in _VERSIONED:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def trained(run: dict[str, Any]) -> bool:
    """Whether a record describes a model that really trained and scored (never an empty run)."""
    score = run.get("val_rmse")
    return run.get("epochs", 0) >= 1 and isinstance(score, (int, float)) and math.isfinite(score)


def write_record(runs_dir: str | Path, key: RunKey, record: dict[str, Any]) -> Path:
    """Store a run's record atomically; the key's fields, every name it answers to and versions are added.

    Refuses a record of a run that did not train (no epochs, no finite score), so
    such a run can never be found later as the latest one.
    """
    names = run_names(read_record(runs_dir, key) or {})
    full = {
        "model": key.config.name,
        "names": names + [key.config.name] * (key.config.name not in names),
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
    if not trained(full):
        raise ValueError(f"refusing to record {key.config.name!r}: it did not train (epochs {key.epochs}, "
                         f"score {record.get('val_rmse')!r})")
    return write_json(record_path(runs_dir, key), full)


def read_record(runs_dir: str | Path, key: RunKey) -> dict[str, Any] | None:
    path = record_path(runs_dir, key)
    return json.loads(path.read_text()) if path.is_file() else None


def add_name(runs_dir: str | Path, key: RunKey, name: str) -> None:
    """Note that a recorded run also answers to ``name`` (the same training asked for by another name)."""
    record = read_record(runs_dir, key)
    if record is not None and name not in run_names(record):
        write_json(record_path(runs_dir, key), {**record, "names": [*run_names(record), name]})


def run_names(run: dict[str, Any]) -> list[str]:
    """Every name a recorded run answers to, the one it was first trained under first."""
    return list(run.get("names") or ([run["model"]] if "model" in run else []))


def load_runs(runs_dir: str | Path, fingerprint: str | None = None) -> list[dict[str, Any]]:
    """All recorded runs that trained, oldest first; only those on data ``fingerprint`` when given."""
    folder = Path(runs_dir) / "results"
    runs = []
    for path in sorted(folder.glob("*.json")):
        try:
            run = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError):
            continue  # a foreign or damaged file is not a result; records themselves are atomic
        if not isinstance(run, dict) or "model" not in run or not trained(run):
            continue
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
    """The most recent recorded run of ``model`` (by any of its names) on data ``fingerprint``, if any."""
    matching = [run for run in load_runs(runs_dir, fingerprint) if model in run_names(run)]
    return matching[-1] if matching else None


SPLIT_ORDER = ("study", "grouped", "random")
TABLE_HEADERS = ("Model", "Split", "Labels", "Seed", "Epochs", "Rows learned", "Val RMSE (px)", "Study (px)",
                 "Train (s)")


def rmse_table(runs: list[dict[str, Any]]) -> Table:
    """The final table: one row per training, grouped by split, best validation RMSE first.

    Only runs on the same split were scored on the same faces, so each split's
    runs stay together. "Study" is the figure the original study printed for
    any of the run's names (:mod:`fkd.original`), measured on Kaggle's faces with
    a random split: context, not a target. "Rows learned" counts the training rows
    left after the missing-label policy.
    """
    if not runs:
        raise ValueError("no runs to tabulate: run the training notebooks (02 to 05) first")

    def order(run: dict[str, Any]) -> tuple[int, float]:
        split = run["split"]
        return (SPLIT_ORDER.index(split) if split in SPLIT_ORDER else len(SPLIT_ORDER), run["val_rmse"])

    rows = [
        (", ".join(run_names(run)), run["split"], run["config"]["missing"], run["seed"],
         run["epochs"] if run["config"].get("kind") != "knn" else "–",
         run.get("n_learned", run.get("n_train")), round(run["val_rmse"], 3),
         reported_text(*run_names(run)), run.get("seconds"))
        for run in sorted(runs, key=order)
    ]
    return Table(TABLE_HEADERS, rows, note=(
        "Runs are grouped by split: only runs on the same split were scored on the same validation faces. "
        "Study: the original study's figure on Kaggle's faces, for context."))


HEADLINE = (
    ("knn", "k-nearest neighbours, k = 5"),
    ("nn2", "two-layer net"),
    ("cnn_baseline", "CNN baseline"),
    ("cnn_flip", "CNN + flips"),
    ("modelh_12", "tuned five-convolution CNN"),
    ("best", "fkd's own model"),
)
"""The rows of the study's closing table, and ours: what the report leads with."""


def headline_table(runs: list[dict[str, Any]], seed: int) -> Table:
    """The study's closing table beside ours: for each of its models, our run of it with the report's ``seed``
    on each split.

    One run per cell, the report's own seed -- not the lowest of several seeds, which would flatter us the way
    choosing a winner on its validation faces does. Empty cells mean this report did not train that model on
    that split.
    """
    def ours(name: str, split: str) -> float | None:
        scores = [run["val_rmse"] for run in runs
                  if name in run_names(run) and run["split"] == split and run["seed"] == seed]
        return round(scores[0], 3) if scores else None

    rows = [(name, what, reported_text(name), ours(name, "study"), ours(name, "grouped"))
            for name, what in HEADLINE]
    return Table(("Model", "What it is", "Study (px)", "Ours, study split (px)", "Ours, grouped split (px)"), rows,
                 note="The study split scores complete faces of people also seen in training; "
                      "the grouped split scores unseen people, every label.")
