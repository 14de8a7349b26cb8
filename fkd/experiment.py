"""One experiment = one config trained on one split of one dataset, scored and recorded.

This is the single entry point the CLI, the notebooks and the benchmark share, so
that "train modelh_12 on the study split" means the same thing everywhere and is
trained only once: a run whose key (see :class:`fkd.results.RunKey`) has been
recorded reuses its saved model.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fkd.configs import ModelConfig, get_config
from fkd.data import Dataset
from fkd.evaluate import per_keypoint_rmse, rmse
from fkd.results import RunKey, add_name, model_path, read_record, write_record
from fkd.splits import Split, make_split

DEFAULT_RUNS_DIR = Path("runs")


@dataclass
class RunResult:
    """What a notebook needs to show a run: scores, history, and the validation faces."""

    config: ModelConfig
    split: Split
    seed: int
    epochs: int
    val_rmse: float
    per_keypoint: dict[str, float]
    history: dict[str, list[float]]
    seconds: float
    images_per_second: float
    cached: bool
    model: Any
    val_images: np.ndarray
    val_keypoints: np.ndarray
    val_predictions: np.ndarray
    record: dict[str, Any]


def default_split(config: ModelConfig) -> str:
    """The study's split for recipes that drop incomplete rows; the grouped split for ours.

    The study split keeps complete rows only, so a recipe that learns from every
    label needs a split that keeps the others -- and then it might as well be honest.
    """
    return "study" if config.missing == "dropna" else "grouped"


def training_rows(split: Split, max_train_rows: int | None, seed: int) -> np.ndarray:
    """The split's training rows, or a seeded subsample of ``max_train_rows`` of them."""
    if max_train_rows is None or len(split.train) <= max_train_rows:
        return split.train
    chosen = np.random.default_rng(seed).choice(split.train, max_train_rows, replace=False)
    return np.sort(chosen)


def run_experiment(
    config: ModelConfig | str,
    dataset: Dataset,
    *,
    split: str | None = None,
    seed: int = 42,
    epochs: int | None = None,
    max_train_rows: int | None = None,
    runs_dir: str | Path | None = None,
    progress: bool = True,
) -> RunResult:
    """Train (or reuse) ``config`` on ``split`` of ``dataset``, score it on the validation rows, record it.

    ``split`` defaults to :func:`default_split`. ``epochs`` overrides the config's own (profiles cap it); ``seed`` seeds the
    network and the subsample, while the split itself keeps the study's
    ``random_state=42`` so every model is scored on the same faces.
    """
    from fkd import train as training  # TensorFlow loads only when something is trained

    config = get_config(config) if isinstance(config, str) else config
    split = split or default_split(config)
    runs_dir = Path(runs_dir) if runs_dir is not None else DEFAULT_RUNS_DIR
    epochs = config.epochs if epochs is None else epochs
    if epochs < 1 or (max_train_rows is not None and max_train_rows < 1) or seed < 0:
        raise ValueError(f"{config.name}: epochs and max_train_rows must be at least 1 and seed at least 0 "
                         f"(got epochs={epochs}, max_train_rows={max_train_rows}, seed={seed})")
    the_split = make_split(split, dataset)
    rows = training_rows(the_split, max_train_rows, seed)
    key = RunKey(config, dataset.fingerprint, split, seed, epochs, max_train_rows)
    saved = model_path(runs_dir, key)
    previous = read_record(runs_dir, key)
    val_images, val_keypoints = dataset.images[the_split.val], dataset.keypoints[the_split.val]

    if previous is not None and (config.kind == "knn" or saved.is_file()):
        # k-NN is refitted (it takes a second and needs no file); networks are loaded.
        if config.kind == "knn":
            model = training.train(config, dataset.images[rows], dataset.keypoints[rows], seed=seed).model
        else:
            model = training.load_model(saved)
        history, seconds, speed = previous["history"], previous["seconds"], previous["images_per_second"]
        cached = True
    else:
        trained = training.train(
            config, dataset.images[rows], dataset.keypoints[rows], val_images, val_keypoints,
            seed=seed, epochs=epochs, progress=progress,
        )
        model, history = trained.model, trained.history
        seconds, speed = trained.seconds, trained.images_per_second
        cached = False

    predictions = training.predict(model, config, val_images)
    score = rmse(val_keypoints, predictions)
    record = {
        "description": config.description,
        "data_source": dataset.source,
        "n_train": int(len(rows)),
        "n_learned": int(len(training.apply_missing_policy(dataset.keypoints[rows], config.missing)[0])),
        "n_val": int(len(the_split.val)),
        "val_rmse": score,
        "per_keypoint_rmse": per_keypoint_rmse(val_keypoints, predictions),
        "history": history,
        "seconds": seconds,
        "images_per_second": speed,
        "model_file": saved.name if config.kind != "knn" else None,
    }
    new_record = previous is None or abs(previous["val_rmse"] - score) > 1e-9
    new_model = not cached and config.kind != "knn"
    try:  # the model is saved just before its record, and removed if the record is not written
        if new_model:
            training.save_model(model, saved)
        if new_record:
            write_record(runs_dir, key, record)
        else:
            add_name(runs_dir, key, config.name)
    except BaseException:
        if new_model and new_record:
            saved.unlink(missing_ok=True)  # a model without its record would be an orphan no run can find
        raise
    return RunResult(
        config=config, split=the_split, seed=seed, epochs=epochs, val_rmse=score,
        per_keypoint=record["per_keypoint_rmse"], history=history, seconds=seconds,
        images_per_second=speed, cached=cached, model=model, val_images=val_images,
        val_keypoints=val_keypoints, val_predictions=predictions, record=read_record(runs_dir, key) or record,
    )
