"""The one object a notebook needs: :class:`Study` holds the data, profile, seed and runs folder.

Every notebook opens with the same five knobs (``data_dir``, ``profile``,
``seed``, ``runs_dir``, ``progress``) and then trains and tabulates models. Rather
than repeat an eight-argument ``run_experiment(...)`` call and build the same
study-beside-ours table in every notebook, they say::

    study = Study(data_dir, profile, seed, runs_dir, progress)
    study.banner()
    runs = study.train(["knn", "nn2", "cnn_baseline"])
    study.table(runs)

:meth:`Study.train` applies the profile (its epoch cap and row limit) the same way
everywhere, so a model two notebooks ask for is trained once and reused.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fkd.configs import ModelConfig, get_config
from fkd.data import Dataset, DataFiles, load_training
from fkd.display import Banner, Table, demo_banner, smoke_banner
from fkd.evaluate import rmse
from fkd.experiment import RunResult, run_experiment
from fkd.original import reported_text
from fkd.profiles import Profile, get_profile
from fkd.sources import resolve_data
from fkd.splits import Split, make_split

LEARNED_RATIO = 0.9
"""A network whose validation RMSE is above this fraction of the mean face's has not learned yet."""


@dataclass
class Study:
    """The data, profile, seed and runs folder one notebook works with."""

    data_dir: str | Path | None = None
    profile: str = "smoke"
    seed: int = 42
    runs_dir: str | Path = "../runs"
    progress: bool = False
    plan: Profile = field(init=False)
    files: DataFiles = field(init=False)

    def __post_init__(self) -> None:
        self.plan = get_profile(self.profile)
        self.files = resolve_data(self.data_dir)

    @functools.cached_property
    def dataset(self) -> Dataset:
        return load_training(self.files)

    def banner(self) -> Banner:
        """Where the data come from; loud for the synthetic demo faces."""
        return demo_banner(self.files)

    def profile_banner(self) -> Banner | None:
        """A loud warning under the smoke profile, whose numbers are meaningless; nothing otherwise."""
        return smoke_banner(self.plan)

    def split(self, name: str = "study") -> Split:
        return make_split(name, self.dataset)

    def config(self, model: str | ModelConfig) -> ModelConfig:
        return get_config(model) if isinstance(model, str) else model

    def epochs(self, model: str | ModelConfig) -> int:
        """The epochs this profile trains ``model`` for."""
        return self.plan.epochs_for(self.config(model))

    def run(self, model: str | ModelConfig, split: str = "study") -> RunResult:
        """Train ``model`` (or reuse its cached run) under this notebook's profile, seed and runs folder."""
        config = self.config(model)
        return run_experiment(config, self.dataset, split=split, seed=self.seed, epochs=self.epochs(config),
                              max_train_rows=self.plan.max_train_rows, runs_dir=self.runs_dir,
                              progress=self.progress)

    def train(self, models: Iterable[str | ModelConfig], split: str = "study") -> dict[str, RunResult]:
        """:meth:`run` for each model, by name."""
        return {self.config(model).name: self.run(model, split) for model in models}

    def mean_face_rmse(self, split: str = "study") -> float:
        """The RMSE of always answering with the training faces' mean keypoints: the bar to clear."""
        chosen = self.split(split)
        mean = np.nanmean(self.dataset.keypoints[chosen.train], axis=0)
        truth = self.dataset.keypoints[chosen.val]
        return rmse(truth, np.broadcast_to(mean, truth.shape))

    def table(self, runs: Mapping[str, RunResult], *, seconds: bool = True) -> Table:
        """Our validation RMSE beside the study's, one row per run, with a check that each run learned.

        "x mean face" divides the RMSE by the mean face's on the same split: near 1,
        the network still answers every face with the average one -- it stopped
        before it learned (too few epochs for this recipe).
        """
        mean = {split: self.mean_face_rmse(split) for split in {run.split.name for run in runs.values()}}
        rows = []
        for name, run in runs.items():
            ratio = run.val_rmse / mean[run.split.name]
            learned = run.config.kind == "knn" or ratio < LEARNED_RATIO
            rows.append([name, run.split.name, run.epochs if run.config.kind != "knn" else "–",
                         run.record.get("n_learned"), run.val_rmse, round(ratio, 2),
                         "yes" if learned else "NO: still the mean face", reported_text(name),
                         *([run.seconds] if seconds else [])])
        headers = ["Model", "Split", "Epochs", "Rows learned", "Val RMSE (px)", "x mean face", "Learned",
                   "Study (px)", *(["Train (s)"] if seconds else [])]
        return Table(headers, rows, note=(
            "x mean face: RMSE divided by that of always predicting the mean face on the same split. "
            "Study: the original study's figure on Kaggle's faces (fkd.original), for context."))
