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
from fkd.display import Notices, Table, demo_banner, smoke_banner
from fkd.evaluate import rmse
from fkd.experiment import RunResult, default_split, run_experiment
from fkd.orderings import LEARNED_RATIO
from fkd.original import reported_text
from fkd.profiles import DEFAULT_PROFILE, Profile, get_profile
from fkd.sources import resolve_data
from fkd.splits import Split, make_split



@dataclass(frozen=True)
class Spread:
    """The seed noise of one config: its scores over the seeds whose runs learned."""

    model: str
    seeds: int
    """How many seeds were trained."""
    scores: list[float]
    """Validation RMSE (px) of each seed's run that left the mean face."""

    @property
    def value(self) -> float | None:
        """max - min of the learned runs' scores; None with fewer than two such runs."""
        return max(self.scores) - min(self.scores) if len(self.scores) >= 2 else None

    def describe(self) -> str:
        if self.value is None:
            return (f"{len(self.scores)} of {self.model}'s {self.seeds} seeds learned, too few to measure its "
                    "seed spread")
        stuck = self.seeds - len(self.scores)
        return (f"{self.model}: {self.value:.3f} px over {len(self.scores)} seeds"
                + (f"; {stuck} more did not learn" if stuck else ""))


@dataclass
class Study:
    """The data, profile, seed and runs folder one notebook works with."""

    data_dir: str | Path | None = None
    profile: str = DEFAULT_PROFILE
    seed: int = 42
    runs_dir: str | Path = "../runs"
    progress: bool = False
    plan: Profile = field(init=False)
    files: DataFiles = field(init=False)

    def __post_init__(self) -> None:
        self.plan = get_profile(self.profile)
        self.files = resolve_data(self.data_dir, download=True)

    @functools.cached_property
    def dataset(self) -> Dataset:
        return load_training(self.files)

    def banner(self) -> Notices:
        """Where the data come from (loud for the synthetic demo faces), and a loud warning under
        the smoke profile, whose numbers are meaningless."""
        return Notices(demo_banner(self.files), smoke_banner(self.plan))

    def split(self, name: str = "study") -> Split:
        return make_split(name, self.dataset)

    def config(self, model: str | ModelConfig) -> ModelConfig:
        return get_config(model) if isinstance(model, str) else model

    def epochs(self, model: str | ModelConfig) -> int:
        """The epochs this profile trains ``model`` for."""
        return self.plan.epochs_for(self.config(model))

    def run(self, model: str | ModelConfig, split: str | None = None, seed: int | None = None) -> RunResult:
        """Train ``model`` (or reuse its cached run) under this notebook's profile, seed and runs folder.

        ``split`` defaults to the model's own (:func:`fkd.experiment.default_split`: the study's split for
        recipes that drop incomplete rows, the grouped split for those that learn from every label).
        ``seed`` trains with another seed than the notebook's (to see how much a score moves).
        """
        config = self.config(model)
        seed = self.seed if seed is None else seed
        return run_experiment(config, self.dataset, split=split or default_split(config), seed=seed,
                              epochs=self.epochs(config), max_train_rows=self.plan.max_train_rows,
                              runs_dir=self.runs_dir, progress=self.progress)

    def train(self, models: Iterable[str | ModelConfig], split: str | None = None) -> dict[str, RunResult]:
        """:meth:`run` for each model, by name."""
        return {self.config(model).name: self.run(model, split) for model in models}

    def learned(self, run: RunResult) -> bool:
        """Whether ``run`` left the mean face: its RMSE is below :data:`LEARNED_RATIO` of the mean face's
        on its split (k-NN always answers with real faces' keypoints, so it counts as learned)."""
        return run.config.kind == "knn" or run.val_rmse < LEARNED_RATIO * self.mean_face_rmse(run.split.name)

    def noise(self, model: str, seeds: int | None = None) -> dict[str, RunResult]:
        """``model`` trained with ``seeds`` seeds (this notebook's seed, then the next ones), by label.

        ``seeds`` defaults to the profile's count for ``model`` (:attr:`fkd.profiles.Profile.noise`), or 3.
        Runs are cached like every other, so a notebook that asks again retrains nothing.
        """
        count = seeds or self.plan.seeds_for(model) or 3
        return {f"{model}, seed {s}": self.run(model, seed=s) for s in range(self.seed, self.seed + count)}

    def seed_spread(self, model: str) -> Spread:
        """How far ``model``'s score moves from seed to seed: max - min over the seeds of :meth:`noise`
        whose runs learned. Runs that stayed at the mean face are left out (and counted), since their
        scores say nothing about the noise of a network that learns."""
        runs = list(self.noise(model).values())
        learned = [run.val_rmse for run in runs if self.learned(run)]
        return Spread(model, len(runs), learned)

    def verdict(self, plain: RunResult, changed: RunResult, change: str = "the change",
                spread_of: str | None = None) -> str:
        """One sentence on whether ``changed`` beat ``plain``; it gives no verdict when it cannot.

        No verdict when either run did not leave the mean face (:meth:`learned`), or when the gap is
        inside the seed spread (:meth:`seed_spread`) of ``spread_of`` -- by default ``changed``'s own
        config; name a config of the same family and budget whose noise the profile measures to avoid
        training more seeds -- or when the two were scored on different splits. Otherwise it names the
        better run and the margin.
        """
        head = (f"{changed.config.name} against {plain.config.name} ({changed.epochs} and {plain.epochs} epochs): "
                f"{changed.val_rmse - plain.val_rmse:+.3f} px")
        if plain.split.name != changed.split.name:
            return f"{head}; no verdict: they were scored on different splits (different faces)."
        stuck = [run.config.name for run in (plain, changed) if not self.learned(run)]
        if stuck:
            return (f"{head}; no verdict: {' and '.join(stuck)} did not leave the mean face, so the gap says "
                    "nothing about " + change + ".")
        spread = self.seed_spread(spread_of or changed.config.name)
        if spread.value is None:
            return f"{head}; no verdict: {spread.describe()}."
        gap = abs(changed.val_rmse - plain.val_rmse)
        if gap <= spread.value:
            return f"{head}; no verdict: the gap is inside the seed spread ({spread.describe()})."
        better = changed if changed.val_rmse < plain.val_rmse else plain
        return (f"{head}; {better.config.name} is better by more than the seed spread ({spread.describe()}), "
                f"so {change} {'helped' if better is changed else 'hurt'} at this budget.")

    @staticmethod
    def strongest(runs: Mapping[str, RunResult]) -> RunResult:
        """The run with the lowest validation RMSE; only runs scored on the same split may be compared."""
        if len({run.split.name for run in runs.values()}) != 1:
            raise ValueError("compare like with like: these runs were scored on different splits")
        return min(runs.values(), key=lambda run: run.val_rmse)

    @staticmethod
    def worst(run: RunResult, n: int = 8) -> Any:
        """The ``n`` validation faces ``run`` got most wrong, worst first: their ``rows`` and ``errors`` (px)."""
        from types import SimpleNamespace

        from fkd.evaluate import per_face_rmse, worst_faces

        rows = worst_faces(run.val_keypoints, run.val_predictions, n=n)
        return SimpleNamespace(rows=rows, errors=per_face_rmse(run.val_keypoints, run.val_predictions)[rows])

    def mean_face_rmse(self, split: str = "study") -> float:
        """The RMSE of always answering with the training faces' mean keypoints: the bar to clear."""
        chosen = self.split(split)
        mean = np.nanmean(self.dataset.keypoints[chosen.train], axis=0)
        truth = self.dataset.keypoints[chosen.val]
        return rmse(truth, np.broadcast_to(mean, truth.shape))

    def leak_comparison(self, model: str = "knn") -> Table:
        """``model`` trained without, then with, frames of the validation people; both scored on the same faces.

        The difference is what the leak alone is worth: the validation faces, and so
        their difficulty, are the same in both rows (:func:`fkd.splits.leak_split`). The table's
        ``rmse`` holds the two scores unrounded: ``{"without": ..., "with_leak": ...}`` (px).
        """
        from fkd import train as training
        from fkd.splits import leak_split

        parts, config = leak_split(self.dataset, seed=self.seed), self.config(model)
        rows = []
        for label, train_rows in (("without leaked frames", parts.train),
                                  ("with leaked frames", np.concatenate([parts.train, parts.leaked]))):
            fitted = training.train(config, self.dataset.images[train_rows], self.dataset.keypoints[train_rows],
                                    seed=self.seed, epochs=self.epochs(config), progress=self.progress)
            predicted = training.predict(fitted.model, config, self.dataset.images[parts.val])
            rows.append([f"{model}, {label}", len(train_rows), len(parts.val),
                         rmse(self.dataset.keypoints[parts.val], predicted)])
        table = Table(["Training", "Training faces", "Validation faces", "Val RMSE (px)"], rows,
                      note="Both rows are scored on the same validation faces; only the leaked frames differ.")
        table.rmse = {"without": rows[0][3], "with_leak": rows[1][3]}  # unrounded, for exercise 01-leak
        return table

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
                         run.record.get("n_learned"), run.val_rmse, f"{ratio:.2f}", "yes" if learned else "NO",
                         reported_text(name), *([run.seconds] if seconds else [])])
        headers = ["Model", "Split", "Epochs", "Rows learned", "Val RMSE (px)", "x mean face", "Learned?",
                   "Study (px)", *(["Train (s)"] if seconds else [])]
        return Table(headers, rows, note=(
            f"x mean face: RMSE divided by that of always predicting the mean face on the same split; above "
            f"{LEARNED_RATIO}, a network has not learned yet (NO: it still answers every face with about the "
            "average one). Study: the original study's figure on Kaggle's faces (fkd.original), for context."))


BOOTSTRAP_TAG = "bootstrap"
"""The tag of every notebook's first code cell; :mod:`fkd.report` leaves it out of rendered reports."""

BOOTSTRAP_TEMPLATE = '''\
# Opened on its own (Colab, Binder, a bare Jupyter)? This installs fkd first; where fkd is
# already importable it does nothing and prints nothing. FKD_INSTALL_SOURCE overrides where from.
import importlib.util, os, subprocess, sys
if importlib.util.find_spec("fkd") is None:
    source = os.environ.get("FKD_INSTALL_SOURCE", "{default}")
    if not source:
        raise SystemExit("fkd is not installed, and this notebook does not know where to get it: run "
                         "`pip install PATH-OR-URL-OF-FKD` (or set FKD_INSTALL_SOURCE), then run this cell again")
    if subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", source]).returncode:
        raise SystemExit(f"pip could not install fkd from {source} (its message is above); install it by hand "
                         "with `pip install PATH-OR-URL-OF-FKD`, then run this cell again")'''
"""The first code cell of every notebook; ``{default}`` is ``git+`` pyproject.toml's ``[project.urls] Repository``.

While that address is a placeholder (:data:`PLACEHOLDER`), ``{default}`` is empty: a notebook opened without
fkd stops at once with one line saying how to install it, rather than a pip traceback from a repository that
does not exist."""

PLACEHOLDER = "REPLACE-WITH-OWNER"
"""The owner in pyproject.toml's repository address until the repository is public."""


def bootstrap_source(url: str) -> str:
    """The bootstrap cell's code for the project at ``url`` (written by ``tools/sync_notebooks.py``)."""
    return BOOTSTRAP_TEMPLATE.replace("{default}", "" if PLACEHOLDER in url else f"git+{url}")


def repository_url(pyproject_text: str) -> str:
    """``[project.urls] Repository`` from pyproject.toml's text: the one place the address is kept."""
    import re

    found = re.search(r'^Repository\s*=\s*"([^"]+)"', pyproject_text, flags=re.MULTILINE)
    if found is None:
        raise ValueError("pyproject.toml has no [project.urls] Repository = \"...\" line")
    return found.group(1)


def timing(notebook: str, study: Study | None = None) -> Table:
    """How long ``notebook`` takes under each profile: measured by the committed benchmark
    (``fkd.benchmark.published()``) and, when ``study`` is given, by the last report on its data."""
    import json

    from fkd.benchmark import published
    from fkd.report import timings_path

    rows = []
    measured = published()
    if measured:
        machine = f"{measured['hardware']['logical_cores']}-core {measured['hardware']['cpu_model']}"
        for profile, report in (measured.get("report") or {}).items():
            if notebook in report["notebooks"]:
                rows.append([profile, f"{report['notebooks'][notebook] / 60:.1f}",
                             f"benchmark, {measured['data']['source']}, {machine}, {report['measured_at'][:10]}"])
    if study is not None:
        path = timings_path(Path(study.runs_dir), study.profile, study.dataset.fingerprint)
        if path.is_file():
            last = json.loads(path.read_text())
            if notebook in last["notebooks"]:
                rows.append([study.profile, f"{last['notebooks'][notebook] / 60:.1f}",
                             f"your last report on these data, {last['recorded_at'][:10]} (cached models make reruns faster)"])
    if not rows:
        rows.append(["–", None, "not measured yet: run `nox -s benchmark`"])
    return Table(["Profile", "Minutes", "Measured by"], rows)


def knn_sweep_table(runs: Mapping[int, RunResult]) -> Table:
    """Our k-NN sweep beside the study's: its printed MSE for each k, converted to pixels, and ours."""
    from fkd.original import KNN_SWEEP_MSE, mse_to_pixels

    rows = []
    for k in sorted(set(runs) | set(KNN_SWEEP_MSE)):
        mse = KNN_SWEEP_MSE.get(k)
        rows.append([k, f"{mse:.4f}" if mse is not None else "–",
                     f"{mse_to_pixels(mse):.2f}" if mse is not None else "–",
                     runs[k].val_rmse if k in runs else None])
    return Table(["k", "Study MSE (normalised)", "Study RMSE (px) = sqrt(MSE) x 48", "Ours (px)"], rows,
                 note="The study printed MSEs of its normalised targets; sqrt(MSE) x 48 turns one into pixels.")


def deviations_table() -> Table:
    """How fkd's reproduction trains differently from the study (:data:`fkd.original.DEVIATIONS`)."""
    from fkd.original import DEVIATIONS

    return Table(["What", "The study", "fkd", "What it changes"],
                 [[d.topic, d.study, d.fkd, d.effect] for d in DEVIATIONS])


def study_figures_table(records: list[dict[str, Any]], seed: int) -> Table:
    """Every figure the study reported (its k-NN sweep is notebook 02's table), beside ours where this profile
    trained the same model on the study's split with ``seed``; the study's contradictions in the note column."""
    from fkd.original import REPORTED
    from fkd.results import run_names

    rows = []
    for name, figure in REPORTED.items():
        if name.startswith("knn_k"):
            continue
        ours = [r for r in records if name in run_names(r) and r["split"] == "study" and r["seed"] == seed]
        rows.append([name, figure.label, f"{figure.rmse:.2f}", f"{figure.other:.2f}" if figure.other else "–",
                     ours[0]["val_rmse"] if ours else "not trained here", figure.note or "–"])
    return Table(["Model", "The study's name", "Study (px)", "Its other figure", "Ours (px)", "Note"], rows,
                 note="The study's figures were measured on Kaggle's faces, one run each; ours on these data, "
                      "at this profile's epochs (fkd.original.REPORTED).")


def grid_table(study: Study, names: Iterable[str]) -> Table:
    """The tuning grid as this profile trains it: what each point changes, its epochs here and the study's."""
    rows = [[name, study.config(name).description, study.config(name).epochs, study.epochs(name),
             reported_text(name)] for name in names]
    return Table(["Config", "What changes", "Study's epochs", "Epochs here", "Study (px)"], rows)


TRIALS = "measured/best_trials.csv"
"""The committed record of every trial behind ``best``: one row per trial, with its config as JSON."""


def trials() -> "pd.DataFrame":
    """Every trial behind ``best``, as committed with fkd: config, budget, machine and scores."""
    import io
    from importlib import resources

    import pandas as pd

    return pd.read_csv(io.StringIO(resources.files("fkd").joinpath(TRIALS).read_text()))


def trials_table() -> Table:
    """The trials behind ``best`` as a table: what changed, the budget, the scores with and without flip TTA."""
    frame = trials()
    rows = [[row.trial, row.change, row.epochs, row.train_seconds, row.train_cpu_seconds, row.val_rmse,
             row.val_rmse_tta, row.status] for row in frame.itertuples()]
    machines = ", ".join(sorted(set(frame["cpu_model"].dropna())))
    return Table(["Trial", "What changed", "Epochs", "Train (s)", "Train CPU (s)", "Val RMSE (px)", "with TTA (px)",
                  "Status"], rows, note=f"faces15, grouped split, one run each, on {machines} (2 cores).")


def selection_bias_table(runs: Mapping[str, RunResult], seed: int = 0, halvings: int = 1000) -> Table:
    """:func:`fkd.evaluate.selection_bias` over runs scored on the same validation faces: the choice among
    them against the fixed-model null, each averaged over ``halvings`` random halvings."""
    from fkd.evaluate import selection_bias

    truths = {run.split.name for run in runs.values()}
    if len(truths) != 1:
        raise ValueError("selection bias compares runs scored on one split's validation faces")
    first = next(iter(runs.values()))
    found = selection_bias(first.val_keypoints, {name: run.val_predictions for name, run in runs.items()}, seed,
                           halvings)
    winner, wins = next(iter(found.chosen.items()))

    def middle(low_high: tuple[float, float]) -> str:
        return f"{low_high[0]:+.3f} to {low_high[1]:+.3f}"

    return Table(
        ["Procedure", "RMSE on the half it was chosen on (px)", "RMSE on the other half (px)", "Optimism (px)",
         "One halving's optimism, middle 90% (px)"],
        [[f"choose the best of {len(runs)} models", found.reported, found.held_out, found.optimism,
          middle(found.optimism_range)],
         [f"no choice: always {found.null_model}", found.null_reported, found.null_held_out, found.null_optimism,
          middle(found.null_range)],
         ["what the choice adds (the difference)", "–", "–", found.excess, middle(found.excess_range)]],
        note=(f"Means over {found.halvings} random halvings of the {found.faces} validation faces. The null row "
              f"applies the same halvings to one fixed model ({found.null_model}, the best on all these faces), "
              f"for which nothing was chosen. The choice picked {winner} in {wins} of the {found.halvings} "
              f"halvings{'' if len(found.chosen) == 1 else f', and {len(found.chosen) - 1} other models otherwise'}."))


def layers_table(*models: Any) -> Table:
    """Keras models side by side, layer by layer: each layer's kind, output shape and weights, and the totals.

    For a network written out by hand beside the one fkd builds from its config (notebook 02).
    """
    depth = max(len(model.layers) for model in models)
    rows = []
    for i in range(depth):
        row: list[Any] = [i + 1]
        for model in models:
            layer = model.layers[i] if i < len(model.layers) else None
            row += ([type(layer).__name__, str(tuple(layer.output.shape)[1:]), layer.count_params()] if layer
                    else ["–", "–", None])
        rows.append(row)
    rows.append(["all", *(cell for model in models for cell in ("", "", model.count_params()))])
    headers = ["Layer", *(f"{model.name}: {column}" for model in models for column in ("kind", "output", "weights"))]
    return Table(headers, rows, note="Output shapes leave out the batch; weights include the biases.")


def brightness_bug_table(image: np.ndarray) -> Table:
    """Pixel ranges the study's brightness run trained and was validated on, against fkd's brightness."""
    from fkd.original import legacy_brightness_shift

    scaled = image.astype(np.float64) / 255
    rows = [["the study's validation faces", scaled.min(), scaled.max()]]
    for factor in (0.5, 1.5):
        bugged = legacy_brightness_shift(scaled, factor)
        rows.append([f"the study's training faces, brightness x {factor}", bugged.min(), bugged.max()])
        fixed = np.clip(scaled * factor, 0, 1)
        rows.append([f"fkd's training faces, brightness x {factor}", fixed.min(), fixed.max()])
    return Table(["What the network saw", "Lowest pixel", "Highest pixel"], rows,
                 note="One face; the network of the study trained on one scale and was scored on another.")


def ffill_examples(dataset: Dataset, n: int = 4) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n`` four-keypoint faces spread through the file: their images, the targets ``ffill`` gives them
    (copied from the rows above), and their own labels."""
    from fkd.train import apply_missing_policy

    rows, filled = apply_missing_policy(dataset.keypoints, "ffill")
    incomplete = np.flatnonzero(~dataset.complete[rows] & ~np.isnan(dataset.keypoints[rows]).all(axis=1))
    chosen = incomplete[np.linspace(0, len(incomplete) - 1, min(n, len(incomplete))).astype(int)]
    return dataset.images[rows[chosen]], filled[chosen], dataset.keypoints[rows[chosen]]


def reload(record: dict[str, Any], study: Study) -> RunResult:
    """A recorded run's model, reloaded from the run cache with the record's exact settings (nothing retrains)."""
    return run_experiment(ModelConfig.from_dict(record["config"]), study.dataset, split=record["split"],
                          seed=record["seed"], epochs=record["epochs"], max_train_rows=record["max_train_rows"],
                          runs_dir=study.runs_dir, progress=study.progress)


def strongest_record(records: list[dict[str, Any]], split: str | None = None) -> dict[str, Any]:
    """The recorded run with the lowest validation RMSE (on ``split`` only, when given)."""
    chosen = [record for record in records if split is None or record["split"] == split]
    return min(chosen, key=lambda record: record["val_rmse"])


def strongest_on_new_faces(records: list[dict[str, Any]]) -> dict[str, Any]:
    """The run to trust on faces of new people (a photo): the strongest on the grouped split, whose validation
    people were never trained on; without grouped runs, the strongest on the first split that has runs.
    The choice is made within one split, since scores on different splits were measured on different faces."""
    from fkd.results import SPLIT_ORDER

    splits = {record["split"] for record in records}
    order = ["grouped", *(split for split in SPLIT_ORDER if split != "grouped")]
    return strongest_record(records, next(split for split in order if split in splits))


def strongest_by_split(records: list[dict[str, Any]]) -> Table:
    """The lowest validation RMSE on each split: only runs on one split were scored on the same faces."""
    from fkd.results import SPLIT_ORDER, run_names

    rows = []
    for split in SPLIT_ORDER:
        count = sum(record["split"] == split for record in records)
        if count:
            best = strongest_record(records, split)
            rows.append([split, ", ".join(run_names(best)), best["val_rmse"], count])
    return Table(["Split", "Strongest run", "Val RMSE (px)", "Runs on this split"], rows)


def photo_keypoints(picture: str | Path | np.ndarray, run: RunResult) -> Any:
    """:func:`fkd.photo.annotate_photo` with a trained run's model: every face found, its keypoints predicted."""
    from fkd.photo import annotate_photo
    from fkd.train import predict

    return annotate_photo(picture, lambda crops: predict(run.model, run.config, crops))
