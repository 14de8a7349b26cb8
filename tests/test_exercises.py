"""Each exercise's checker: a right answer is accepted, a wrong one is refused with a reason."""

from __future__ import annotations

import numpy as np
import pytest

from fkd.exercises import EXERCISES, check
from fkd.keypoints import KEYPOINT_NAMES


@pytest.fixture
def keypoints() -> np.ndarray:
    points = np.full((10, 30), 40.0)
    points[5:, 4:] = np.nan  # half the faces carry only the first two keypoints
    points[0, 28:30] = np.nan  # and one more misses the bottom lip: the least labelled keypoint
    return points


PER_KEYPOINT = {name: 1.0 + 0.1 * i for i, name in enumerate(KEYPOINT_NAMES)}

CASES = [
    ("01-least-labelled", dict(keypoints=None), "mouth_center_bottom_lip", "nose_tip"),
    ("01-dropna-keeps", dict(keypoints=None), 0.4, 0.5),
    ("02-best-k", dict(sweep={1: 3.0, 5: 2.2, 9: 2.4}), 5, 9),
    ("02-gain-over-mean-face", dict(cnn_rmse=2.5, mean_rmse=3.2), 0.7, 0.0),
    ("03-mirrored-x", dict(x=30.0), 66.0, 65.0),
    ("03-mirrored-label", dict(), "right_eye_center", "left_eye_center"),
    ("04-hardest-keypoint", dict(per_keypoint=PER_KEYPOINT), ("mouth_center_bottom_lip", 1.4),
     ("mouth_center_bottom_lip", 2.4)),
    ("04-study-noise", dict(), 0.01, 0.1),
    ("05-best-policy", dict(scores={"dropna": 3.0, "ffill": 3.2, "masked": 2.5}), "masked", "dropna"),
    ("05-rows-learned", dict(rows={"dropna": 900, "ffill": 2000, "masked": 2500}), 1600, 1100),
    ("06-hardest-keypoint", dict(per_keypoint=PER_KEYPOINT), ("mouth_center_bottom_lip", 1.4),
     ("left_eye_center", 1.4)),
    ("06-faces-found", dict(found=2), 2, 1),
]


def _context(context: dict, keypoints: np.ndarray) -> dict:
    return {k: keypoints if v is None else v for k, v in context.items()}


def test_every_exercise_has_a_right_and_a_wrong_case():
    assert {case[0] for case in CASES} == set(EXERCISES)


@pytest.mark.parametrize("key, context, right, wrong", CASES, ids=[case[0] for case in CASES])
def test_a_right_answer_is_accepted_and_a_wrong_one_refused_with_a_reason(key, context, right, wrong, keypoints):
    context = _context(context, keypoints)
    accepted = check(key, right, **context)
    refused = check(key, wrong, **context)
    assert accepted.correct is True and "Right" in accepted._repr_markdown_()
    assert refused.correct is False and "Not yet" in refused._repr_markdown_() and len(refused.message) > 10


@pytest.mark.parametrize("key, context, right, wrong", CASES, ids=[case[0] for case in CASES])
def test_no_answer_yet_shows_the_question_and_a_hint_not_the_solution(key, context, right, wrong, keypoints):
    feedback = check(key, None, **_context(context, keypoints))
    assert feedback.correct is None and "Hint:" in feedback.message and str(right) not in feedback.message


def test_a_name_that_is_no_keypoint_is_explained():
    feedback = check("03-mirrored-label", "left_eyeball")
    assert feedback.correct is False and "KEYPOINT_NAMES" in feedback.message
