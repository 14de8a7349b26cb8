"""Splits: the study's random split, and a grouped split that keeps look-alikes together."""

from __future__ import annotations

import numpy as np

from fkd.splits import grouped_split, near_duplicate_groups, study_split


def _people(n_people: int = 12, frames: int = 5, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Distinct random 'people', each planted several times with a little noise and a brightness change."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, size=(n_people, 96, 96)).astype(np.float32)
    person = np.repeat(np.arange(n_people), frames)
    noisy = base[person] * rng.uniform(0.8, 1.1, size=(len(person), 1, 1)) + rng.normal(0, 8, (len(person), 96, 96))
    order = rng.permutation(len(person))  # frames of one person are not adjacent rows
    return np.clip(noisy, 0, 255).astype(np.uint8)[order], person[order]


def test_planted_duplicates_share_a_group_and_strangers_do_not():
    images, person = _people()
    groups = near_duplicate_groups(images)
    for p in np.unique(person):
        assert len(np.unique(groups[person == p])) == 1
    assert len(np.unique(groups)) == len(np.unique(person))


def test_grouped_split_never_puts_one_person_on_both_sides():
    images, person = _people(n_people=20)
    split = grouped_split(images, test_size=0.2, seed=3)
    assert set(person[split.train]).isdisjoint(person[split.val])
    assert len(split.train) + len(split.val) == len(images)
    assert 0.2 <= len(split.val) / len(images) <= 0.35


def test_grouped_split_is_seeded():
    images, _ = _people()
    a, b, c = (grouped_split(images, seed=s) for s in (1, 1, 2))
    np.testing.assert_array_equal(a.val, b.val)
    assert not np.array_equal(a.val, c.val)


def test_study_split_drops_incomplete_rows_and_is_the_studys_80_20():
    keypoints = np.ones((100, 30), dtype=np.float32)
    keypoints[::10, 5] = np.nan
    split = study_split(keypoints)
    used = np.concatenate([split.train, split.val])
    assert len(used) == 90 and not np.isin(np.arange(0, 100, 10), used).any()
    assert len(split.val) == 18
    np.testing.assert_array_equal(split.val, study_split(keypoints).val)
