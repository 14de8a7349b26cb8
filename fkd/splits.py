"""Train/validation splits: the study's random split and an honest grouped one.

Kaggle's faces (and faces15) hold several frames of the same person. A random row
split puts frames of one person on both sides, so validation measures recall of
people already seen, not detection on new faces: it flatters every model.
:func:`grouped_split` keeps look-alike images on one side.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from fkd.data import Dataset

SplitName = Literal["study", "random", "grouped"]
SPLITS: tuple[str, ...] = ("study", "random", "grouped")

GROUP_THUMBNAIL = 12
"""Images are compared as GROUP_THUMBNAIL x GROUP_THUMBNAIL block means (blur out noise and jitter)."""
GROUP_DISTANCE = 0.9
"""Average-linkage distance (between unit-norm, zero-mean thumbnails) below which images are grouped.

Chosen on faces15, whose test people never appear in training: with this threshold
the validation RMSE of k-NN (k=5) on the grouped split is 7.0 px, close to its
7.2 px on the test faces, while a random split reports 6.0 px.
"""


@dataclass(frozen=True)
class Split:
    """Row indices of the training and validation parts of a :class:`~fkd.data.Dataset`."""

    name: str
    train: np.ndarray
    val: np.ndarray

    def describe(self) -> str:
        return f"{self.name} split: {len(self.train)} training rows, {len(self.val)} validation rows"


def study_split(keypoints: np.ndarray, test_size: float = 0.2, random_state: int = 42) -> Split:
    """The study's split: drop every row with a missing keypoint, then a random 80/20 split."""
    from sklearn.model_selection import train_test_split  # scikit-learn loads in ~1 s; only when splitting

    complete = np.flatnonzero(~np.isnan(keypoints).any(axis=1))
    train, val = train_test_split(complete, test_size=test_size, random_state=random_state)
    return Split("study", np.sort(train), np.sort(val))


def random_split(n_rows: int, test_size: float = 0.2, random_state: int = 42) -> Split:
    """A random 80/20 split of every row (missing labels kept)."""
    from sklearn.model_selection import train_test_split

    train, val = train_test_split(np.arange(n_rows), test_size=test_size, random_state=random_state)
    return Split("random", np.sort(train), np.sort(val))


def _thumbnails(images: np.ndarray) -> np.ndarray:
    n, size = len(images), images.shape[1]
    block = size // GROUP_THUMBNAIL
    x = images.astype(np.float32).reshape(n, GROUP_THUMBNAIL, block, GROUP_THUMBNAIL, block).mean(axis=(2, 4))
    x = x.reshape(n, -1)
    x -= x.mean(axis=1, keepdims=True)
    x /= np.linalg.norm(x, axis=1, keepdims=True) + 1e-6
    return x


def near_duplicate_groups(images: np.ndarray, distance: float = GROUP_DISTANCE) -> np.ndarray:
    """A group id per image; images that look alike share one.

    How groups are found: each image is shrunk to 12 x 12 block means, centred and
    scaled to unit length (so brightness and contrast do not matter), then
    average-linkage agglomerative clustering joins images while the mean distance
    between two clusters stays below ``distance``. Average linkage, unlike
    single-link "connected components", does not chain unrelated faces together
    through a series of small steps.
    """
    from sklearn.cluster import AgglomerativeClustering

    if len(images) < 2:
        return np.zeros(len(images), dtype=np.int64)
    clustering = AgglomerativeClustering(n_clusters=None, distance_threshold=distance, linkage="average")
    return clustering.fit_predict(_thumbnails(images)).astype(np.int64)


def grouped_split(
    images: np.ndarray, test_size: float = 0.2, seed: int = 42, groups: np.ndarray | None = None
) -> Split:
    """Split so that no group of near-duplicates (see :func:`near_duplicate_groups`) straddles.

    Whole groups, in a seeded random order, go to validation until it holds at least
    ``test_size`` of the rows.
    """
    if groups is None:
        groups = near_duplicate_groups(images)
    order = np.random.default_rng(seed).permutation(np.unique(groups))
    sizes = np.bincount(groups)[order]
    n_val_groups = int(np.searchsorted(np.cumsum(sizes), test_size * len(groups))) + 1
    in_val = np.isin(groups, order[:n_val_groups])
    return Split("grouped", np.flatnonzero(~in_val), np.flatnonzero(in_val))


_GROUPS: dict[str, np.ndarray] = {}


def dataset_groups(dataset: Dataset) -> np.ndarray:
    """:func:`near_duplicate_groups` of a dataset, computed once per data fingerprint and process."""
    if dataset.fingerprint not in _GROUPS or len(_GROUPS[dataset.fingerprint]) != len(dataset):
        _GROUPS[dataset.fingerprint] = near_duplicate_groups(dataset.images)
    return _GROUPS[dataset.fingerprint]


def make_split(name: str, dataset: Dataset, random_state: int = 42) -> Split:
    """The split called ``name`` ("study", "random" or "grouped") of ``dataset``.

    ``random_state`` is fixed at the study's 42 by default and kept apart from the
    training seed, so that changing the seed changes the model, not the data it sees.
    """
    if name == "study":
        return study_split(dataset.keypoints, random_state=random_state)
    if name == "random":
        return random_split(len(dataset), random_state=random_state)
    if name == "grouped":
        return grouped_split(dataset.images, seed=random_state, groups=dataset_groups(dataset))
    raise ValueError(f"unknown split {name!r}; choose one of: {', '.join(SPLITS)}")


@dataclass(frozen=True)
class LeakSplit:
    """Two training sets that differ only by leaked frames, scored on the same validation faces.

    ``leaked``: half the frames of each validation group with more than one frame;
    ``val``: the other frames of the validation groups. Training on ``train`` then on
    ``train + leaked`` and scoring both on ``val`` measures what the leak alone is
    worth, with the difficulty of the validation faces held fixed.
    """

    train: np.ndarray
    leaked: np.ndarray
    val: np.ndarray


def leak_split(dataset: Dataset, seed: int = 42) -> LeakSplit:
    """The grouped split's training rows, and its validation groups cut in two: leaked frames and scored ones."""
    split, groups = make_split("grouped", dataset), dataset_groups(dataset)
    rng = np.random.default_rng(seed)
    leaked, kept = [], []
    for group in np.unique(groups[split.val]):
        frames = rng.permutation(split.val[groups[split.val] == group])
        half = len(frames) // 2
        leaked += frames[:half].tolist()
        kept += frames[half:].tolist()
    return LeakSplit(split.train, np.sort(np.array(leaked, dtype=np.int64)), np.sort(np.array(kept, dtype=np.int64)))


def leaked_twins(images: np.ndarray, split: Split, groups: np.ndarray, n: int = 4) -> np.ndarray:
    """Up to ``n`` pairs (validation row, its most similar training row of the same group): the leak, shown.

    Rows of an n x 2 array; validation faces whose group has no training member are skipped.
    """
    thumbnails = _thumbnails(images)
    pairs = []
    for row in split.val:
        twins = split.train[groups[split.train] == groups[row]]
        if len(twins):
            distances = np.linalg.norm(thumbnails[twins] - thumbnails[row], axis=1)
            pairs.append((row, twins[np.argmin(distances)]))
        if len(pairs) == n:
            break
    return np.array(pairs, dtype=np.int64).reshape(-1, 2)
