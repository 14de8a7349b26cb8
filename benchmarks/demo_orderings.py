"""Do the study's models line up on fkd's demo faces as they do on real faces?

On real faces (faces15, the study split) the mean face scores about 8.5 px, k-NN
(k = 5) about 6.0, and the study's networks, trained with its optimizer, pass
k-NN; the two-layer net does not leave the mean face; the tuned five-convolution
network beats the baseline; fkd's ``best`` is lowest of all. The demo faces
(:mod:`fkd.demo`) exist so the notebooks can be run without data, and they teach
the wrong lesson if they invert that. This script writes a demo set into a
temporary folder, trains each model with :func:`fkd.experiment.run_experiment`
for the epochs a profile gives it (read from :mod:`fkd.profiles`, so a re-plan of
the profile is followed), and prints RMSE, the ratio to the mean face, seconds and
training images per second, then whether each ordering holds, with the two scores it compared.

Usage::

    python benchmarks/demo_orderings.py [--profile standard] [--seeds 42 43] [--data-seed 0]
                                        [--n-train 3000] [--n-test 800] [--models knn nn2 ...]
                                        [--epochs-scale 1.0] [--json out.json]

Several ``--seeds`` train every model once per seed (the data stay the same) and
give each seed's verdict: an ordering is only worth quoting when it holds on every
seed. The orderings themselves are :func:`fkd.orderings.check_orderings`'s, the
same the reports are checked against. Exit status 1 when any ordering fails.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from fkd import machine
from fkd.configs import get_config
from fkd.data import Dataset, load_training
from fkd.demo import DEFAULT_TEST, DEFAULT_TRAIN, write_demo_data
from fkd.evaluate import rmse
from fkd.experiment import default_split, run_experiment
from fkd.orderings import Ordering, check_orderings
from fkd.profiles import get_profile
from fkd.results import load_runs
from fkd.splits import make_split

MODELS = ("knn", "nn2", "cnn_baseline", "cnn_flip", "modelh_12", "best")


@dataclass(frozen=True)
class Row:
    """One trained model: its score, against the mean face of its split, and its cost."""

    model: str
    split: str
    seed: int
    epochs: int
    rmse: float
    ratio: float
    seconds: float
    images_per_second: float
    last_epochs: tuple[float, ...]
    """Validation RMSE after each of the last five epochs: how far the final score could have swung."""


def mean_face_rmse(dataset: Dataset, split: str) -> float:
    """The RMSE of answering every validation face with the training faces' mean keypoints (as notebooks do)."""
    chosen = make_split(split, dataset)
    truth = dataset.keypoints[chosen.val]
    mean = np.nanmean(dataset.keypoints[chosen.train], axis=0)
    return rmse(truth, np.broadcast_to(mean, truth.shape))


def measure(
    dataset: Dataset, runs_dir: Path, *, models: Sequence[str] = MODELS, seeds: Sequence[int] = (42,),
    profile: str = "standard", epochs_scale: float = 1.0, progress: bool = False,
) -> list[Row]:
    """Train each model (k-NN once, networks once per seed) for the profile's epochs times ``epochs_scale``."""
    plan = get_profile(profile)
    baseline = {split: mean_face_rmse(dataset, split) for split in ("study", "grouped")}
    rows = []
    for name in models:
        config = get_config(name)
        epochs = max(1, round(plan.epochs_for(config) * epochs_scale))
        for seed in seeds:
            run = run_experiment(config, dataset, seed=seed, epochs=epochs, max_train_rows=plan.max_train_rows,
                                 runs_dir=runs_dir, progress=progress)
            split = default_split(config)
            tail = tuple(round(value, 2) for value in run.history.get("val_rmse", [])[-5:]) if config.kind != "knn" else ()
            rows.append(Row(name, split, seed, epochs if config.kind != "knn" else 0, run.val_rmse,
                            run.val_rmse / baseline[split], run.seconds, run.images_per_second, tail))
            print(f"  {name} seed {seed}: {run.val_rmse:.2f} px in {run.seconds:.0f} s", file=sys.stderr, flush=True)
    return rows


def orderings(runs_dir: Path, baseline: dict[str, float], seeds: Sequence[int]) -> list[tuple[int, Ordering]]:
    """Each seed's verdict on the study's orderings, as :func:`fkd.orderings.check_orderings` (their one owner) gives it."""
    runs = load_runs(runs_dir)
    return [(seed, found) for seed in seeds for found in check_orderings(runs, baseline, seed)]


def table(rows: Sequence[Row], baseline: dict[str, float]) -> str:
    """A markdown table of the runs, the mean faces first."""
    lines = ["| Model | Split | Seed | Epochs | RMSE (px) | x mean face | Train (s) | Images/s | Last epochs (px) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for split, value in baseline.items():
        lines.append(f"| mean face | {split} | – | – | {value:.2f} | 1.00 | – | – | – |")
    for row in rows:
        epochs = row.epochs or "–"
        tail = " ".join(f"{value:.2f}" for value in row.last_epochs) or "–"
        lines.append(f"| {row.model} | {row.split} | {row.seed} | {epochs} | {row.rmse:.2f} | {row.ratio:.2f} "
                     f"| {row.seconds:.0f} | {row.images_per_second:.0f} | {tail} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="standard")
    parser.add_argument("--seeds", type=int, nargs="+", default=[42], help="training seeds")
    parser.add_argument("--data-seed", type=int, default=0, help="the demo set's seed")
    parser.add_argument("--n-train", type=int, default=DEFAULT_TRAIN)
    parser.add_argument("--n-test", type=int, default=DEFAULT_TEST)
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--epochs-scale", type=float, default=1.0, help="multiply the profile's epochs")
    parser.add_argument("--json", type=Path, help="also write the rows and checks here")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="fkd-demo-orderings-") as folder:
        started = time.perf_counter()
        data = write_demo_data(Path(folder) / "data", n_train=args.n_train, n_test=args.n_test, seed=args.data_seed)
        written = time.perf_counter() - started
        dataset = load_training(data, cache=False)
        baseline = {split: mean_face_rmse(dataset, split) for split in ("study", "grouped")}
        rows = measure(dataset, Path(folder) / "runs", models=args.models, seeds=args.seeds,
                       profile=args.profile, epochs_scale=args.epochs_scale)
        checks = orderings(Path(folder) / "runs", baseline, args.seeds)
    print(f"demo set: {args.n_train} + {args.n_test} faces, seed {args.data_seed}, written in {written:.1f} s; "
          f"profile {args.profile} (epochs x {args.epochs_scale}); training seeds {args.seeds}; {machine.describe()}")
    print(table(rows, baseline))
    verdict = {True: "holds", False: "FAILS", None: "not run"}
    for seed, check in checks:
        print(f"seed {seed}: {verdict[check.holds]}: {check.claim} ({check.detail})")
    if args.json:
        args.json.write_text(json.dumps({"rows": [asdict(row) for row in rows], "mean_face": baseline,
                                         "checks": [dict(seed=seed, **asdict(check)) for seed, check in checks],
                                         "written_seconds": written, "machine": machine.describe()}, indent=1))
    return 0 if all(check.holds is not False for _, check in checks) else 1


if __name__ == "__main__":
    raise SystemExit(main())
