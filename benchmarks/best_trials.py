"""Run one trial of a recipe for ``best`` and append it, as one row, to ``fkd/measured/best_trials.csv``.

A trial is a config trained on the grouped split of the data (seed 42 unless told)
and scored on its validation faces, with and without flip test-time augmentation.
Trials are data (:data:`TRIALS`): each names its parent (another trial or a
registered config), says in one line what it changes, and gives the config fields
that change. Usage::

    python benchmarks/best_trials.py --data ../shared/data/faces15 --trial v2a
    python benchmarks/best_trials.py --list

The row (the columns notebook 04 reads through ``fkd.notebook.trials()``) is
appended atomically when the trial ends: completed, or stopped by SIGTERM or
Ctrl-C, when its status says so and its RMSE is the last per-epoch validation score
(no TTA), if an epoch finished. Nothing is appended before that, so a stop loses
nothing and a crash adds no half row. One line per epoch goes to stdout, and the
run's full record (history, per-keypoint RMSE, the estimated mirror axis, load
average, versions) to ``<out>/<trial>.json``.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import io
import os
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from filelock import FileLock

from fkd import machine
from fkd.atomic import write_json, write_text
from fkd.configs import REGISTRY, ModelConfig

REPO = Path(__file__).resolve().parents[1]
TRIALS_CSV = REPO / "fkd" / "measured" / "best_trials.csv"
DEFAULT_OUT = REPO / "benchmarks" / "results" / "trials"
LOCK = Path(tempfile.gettempdir()) / "fkd-best-trials.csv.lock"
"""Held while a row is appended, so two trials ending together both land."""

WING = "Wing loss (w 10 px, epsilon 2 px) instead of MSE"
TRIALS: dict[str, tuple[str, str, dict[str, Any]]] = {
    # name: (parent, what changes in one line, the config fields it changes)
    "ref20": ("best", "20 epochs (a short reference)", {"epochs": 20}),
    "ref60": ("best", "60 epochs", {"epochs": 60}),
    "s2dflip_mse20": ("ref20", "space-to-depth stem; labels mirrored about the axis estimated from the training "
                      "faces", {"stem": "space_to_depth", "mirror_axis": "estimated"}),
    "s2dflip_wing20": ("s2dflip_mse20", WING, {"loss": "wing"}),
    "s2dflip_l1_20": ("s2dflip_mse20", "L1 loss instead of MSE", {"loss": "l1"}),
    "s2dflip_smoothl1_20": ("s2dflip_mse20", "smooth-L1 loss (beta 1 px) instead of MSE", {"loss": "smooth_l1"}),
    "stride2_20": ("ref20", "stride-2 first convolution instead of its max-pool", {"stem": "stride2"}),
    "perimage20": ("ref20", "each image standardised (zero mean, unit variance) inside the network",
                   {"input_norm": "per_image"}),
    "v2a": ("best", "space-to-depth stem; labels mirrored about the estimated axis; EMA of the weights (0.999 "
            "per step)", {"stem": "space_to_depth", "mirror_axis": "estimated", "ema": 0.999}),
    "v2a_wing": ("v2a", WING, {"loss": "wing"}),
    "v2a_snapshots": ("v2a", "4 cosine cycles of 50 epochs (restarts); the model averages the 4 cycle-end networks "
                      "(snapshot ensemble)", {"cycles": 4, "snapshot_ensemble": True}),
    "v2a_selftrain": ("v2a", "2 cosine cycles of 100 epochs; after the first, the network's answers fill the "
                      "training faces' missing keypoints as pseudo-labels weighing 0.5", {"cycles": 2,
                                                                                          "pseudo_label_weight": 0.5}),
    "v2a_280": ("v2a", "280 epochs: about best_v1's CPU budget (v2a costs about 0.7 of its CPU per epoch)",
                {"epochs": 280}),
    "v2a_snap280": ("v2a_snapshots", "4 cosine cycles of 70 epochs: the snapshot ensemble at about best_v1's CPU "
                    "budget", {"epochs": 280}),
    "ref200": ("best", "none: `best` as registered, 200 epochs (best_v1, the recipe this round is held to), "
               "re-measured here with CPU seconds", {}),
}


def trial_config(name: str) -> ModelConfig:
    """The config a trial trains: its parent's (a trial or a registered config) with its changes, named after it."""
    if name in REGISTRY:
        return REGISTRY[name]
    if name not in TRIALS:
        raise KeyError(f"unknown trial {name!r}; choose one of: {', '.join(TRIALS)}")
    parent, _, changes = TRIALS[name]
    return trial_config(parent).replace(name=name, **changes)


def listing() -> str:
    """One line per trial: its name, parent, epochs and change."""
    return "\n".join(f"{name:20s} <- {parent:15s} {trial_config(name).epochs:4d} epochs  {change}"
                     for name, (parent, change, _) in TRIALS.items())


# --- the row ---------------------------------------------------------------------------------


def row_text(header: list[str], row: dict[str, Any]) -> str:
    """``row`` as one CSV line in ``header``'s column order (the file's own quoting: minimal)."""
    if set(row) != set(header):
        raise ValueError(f"a trial row has the columns {sorted(row)}, the file {header}")
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerow([row[column] for column in header])
    return text.getvalue()


def append_row(path: Path, row: dict[str, Any]) -> None:
    """Append ``row`` to the CSV at ``path`` atomically: every earlier byte is kept, the new file renamed in."""
    with FileLock(LOCK):
        text = path.read_text()
        header = next(csv.reader(io.StringIO(text)))
        write_text(path, text + ("" if text.endswith("\n") else "\n") + row_text(header, row))


def make_row(name: str, config: ModelConfig, seed: int, wall: float, cpu: float, rmse: float | None,
             rmse_tta: float | None, status: str) -> dict[str, Any]:
    parent, change, _ = TRIALS[name]
    return {
        "trial": name, "parent": parent, "change": change, "config_json": config.to_json(),
        "epochs": config.epochs, "seed": seed, "cpu_model": machine.cpu_model(),
        "train_seconds": round(wall), "train_cpu_seconds": round(cpu),
        "val_rmse": "" if rmse is None else round(rmse, 3),
        "val_rmse_tta": "" if rmse_tta is None else round(rmse_tta, 3),
        "status": status, "date": datetime.date.today().isoformat(),
    }


def axis_note(history: dict[str, list[float]]) -> str:
    """The status's note of the estimated mirror axis, when the trial estimated one."""
    axis = history.get("mirror_axis")
    return f" (mirror axis {axis[0]:.2f} px, estimated from the training faces)" if axis else ""


# --- running -----------------------------------------------------------------------------------


class Stopped(Exception):
    """The trial was asked to stop (SIGTERM)."""


def stop_on_sigterm() -> None:
    """Turn SIGTERM into :class:`Stopped`, raised in the main thread between two training steps."""
    def handler(signum, frame):
        raise Stopped(signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, handler)


def run_trial(name: str, data: Path | None, seed: int, csv_path: Path, out: Path) -> int:
    """Train trial ``name``, append its row, write its record; 0 when complete, 1 when stopped."""
    from fkd.console import import_tensorflow

    import_tensorflow()  # its start-up lines stay out of the log
    import keras

    from fkd.data import load_training
    from fkd.evaluate import per_keypoint_rmse
    from fkd.evaluate import rmse as score
    from fkd.results import versions
    from fkd.sources import resolve_data
    from fkd.splits import make_split
    from fkd.train import predict, train

    config = trial_config(name)
    dataset = load_training(resolve_data(data))
    split = make_split("grouped", dataset)
    images, keypoints = dataset.images[split.train], dataset.keypoints[split.train]
    val_images, val_keypoints = dataset.images[split.val], dataset.keypoints[split.val]
    started, cpu_started = time.perf_counter(), time.process_time()

    class Log(keras.callbacks.Callback):
        """One line per epoch; keeps the last validation RMSE for a stopped trial's row."""
        val_rmse: float | None = None
        epochs = 0

        def on_epoch_end(self, epoch, logs=None):
            self.epochs, self.val_rmse = self.epochs + 1, float((logs or {}).get("val_rmse", float("nan")))
            print(f"{name} epoch {self.epochs}/{config.epochs} val_rmse {self.val_rmse:.3f} "
                  f"wall {time.perf_counter() - started:.0f} s cpu {time.process_time() - cpu_started:.0f} s",
                  flush=True)

    log = Log()
    print(f"{name}: {config.epochs} epochs on {split.describe()} of {dataset.source}, seed {seed}, "
          f"{machine.describe()}", flush=True)
    load_start = os.getloadavg()
    try:
        result = train(config, images, keypoints, val_images, val_keypoints, seed=seed, progress=False,
                       callbacks=[log])
    except (Stopped, KeyboardInterrupt) as stop:
        why = str(stop) or "interrupted"
        so_far = f"; val RMSE {log.val_rmse:.3f} px at that epoch, no TTA" if log.val_rmse is not None else ""
        status = f"stopped: {why} after {log.epochs} of {config.epochs} epochs{so_far}"
        append_row(csv_path, make_row(name, config, seed, time.perf_counter() - started,
                                      time.process_time() - cpu_started, log.val_rmse, None, status))
        print(f"{name}: {status}; row appended to {csv_path}", flush=True)
        return 1
    plain = predict(result.model, config.replace(tta_flip=False), val_images)
    mirrored = predict(result.model, config.replace(tta_flip=True), val_images)
    rmse, rmse_tta = score(val_keypoints, plain), score(val_keypoints, mirrored)
    status = "complete" + axis_note(result.history)
    row = make_row(name, config, seed, result.history["seconds"][-1], result.history["cpu_seconds"][-1], rmse,
                   rmse_tta, status)
    append_row(csv_path, row)
    write_json(out / f"{name}.json", {
        "row": row, "config": config.to_dict(), "history": result.history, "split": split.describe(),
        "data": dataset.source, "per_keypoint_rmse": per_keypoint_rmse(val_keypoints, plain),
        "per_keypoint_rmse_tta": per_keypoint_rmse(val_keypoints, mirrored), "machine": machine.describe(),
        "load_average": {"start": list(load_start), "end": list(os.getloadavg())}, "versions": versions(),
    })
    print(f"{name}: val RMSE {rmse:.3f} px, with flip TTA {rmse_tta:.3f} px, {row['train_cpu_seconds']} CPU s; "
          f"{status}; row appended to {csv_path}", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, help="Kaggle-layout data folder (e.g. ../shared/data/faces15)")
    parser.add_argument("--trial", choices=list(TRIALS), metavar="NAME", help="the trial to run (see --list)")
    parser.add_argument("--list", action="store_true", help="show the trials and exit")
    parser.add_argument("--seed", type=int, default=42, help="training seed (default: 42)")
    parser.add_argument("--csv", type=Path, default=TRIALS_CSV, help="the trials file to append to")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder for each trial's full record")
    args = parser.parse_args(argv)
    if args.list:
        print(listing())
        return 0
    if args.trial is None:
        parser.error("give --trial NAME (or --list)")
    stop_on_sigterm()
    return run_trial(args.trial, args.data, args.seed, args.csv, args.out)


if __name__ == "__main__":
    sys.exit(main())
