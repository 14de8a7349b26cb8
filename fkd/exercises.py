"""Exercises that check themselves: each notebook ends with questions a student answers in code.

A notebook cell reads::

    answer = None  # your answer, e.g. "nose_tip"
    check("01-least-labelled", answer, keypoints=dataset.keypoints)

and :func:`check` shows whether the answer is right -- and, when it is not, why the
usual wrong answers are wrong. Solutions are computed here from the student's own
data and runs (never typed), so they hold on Kaggle's faces, faces15 and the demo
faces alike, and they stay out of the notebook a student reads.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from fkd.keypoints import IMAGE_SIZE, KEYPOINT_NAMES


@dataclass(frozen=True)
class Feedback:
    """The verdict on one answer, shown as a coloured line in Jupyter, HTML and the PDF."""

    exercise: str
    correct: bool | None
    """None: no answer given yet."""
    message: str

    def __repr__(self) -> str:
        mark = {True: "RIGHT", False: "NOT YET", None: "NO ANSWER YET"}[self.correct]
        return f"[{self.exercise}] {mark}: {self.message}"

    def _repr_markdown_(self) -> str:
        mark = {True: "**Right.**", False: "**Not yet.**", None: "*No answer yet.*"}[self.correct]
        return f"{mark} {self.message}"


@dataclass(frozen=True)
class Exercise:
    """One question: how to compute its solution from the student's context, and how to judge an answer."""

    key: str
    question: str
    solve: Callable[..., Any]
    """``solve(**context)`` -> the solution for this student's data and runs."""
    judge: Callable[[Any, Any], tuple[bool, str]]
    """``judge(answer, solution)`` -> (right?, what to say)."""
    hint: str


def _name(answer: Any, solution: str, explain: Callable[[str], str]) -> tuple[bool, str]:
    given = str(answer).strip().lower().replace(" ", "_")
    if given == solution:
        return True, explain(solution)
    if given not in KEYPOINT_NAMES:
        return False, f"{answer!r} is not a keypoint name; use one of fkd.keypoints.KEYPOINT_NAMES."
    return False, explain(given)


def _number(answer: Any, solution: float, tolerance: float, unit: str, why: str) -> tuple[bool, str]:
    try:
        value = float(answer)
    except (TypeError, ValueError):
        return False, f"give a number, not {answer!r}."
    if math.isclose(value, solution, abs_tol=tolerance):
        return True, f"{solution:.3g}{unit}. {why}"
    return False, f"{value:.3g}{unit} is off by more than {tolerance:g}{unit}. {why.split('.')[0]}."


def _labelled_counts(keypoints: np.ndarray) -> np.ndarray:
    return (~np.isnan(np.asarray(keypoints)[:, 0::2])).sum(axis=0)


def _least_labelled(keypoints: np.ndarray) -> str:
    return KEYPOINT_NAMES[int(np.argmin(_labelled_counts(keypoints)))]


def _judge_least_labelled(keypoints: np.ndarray) -> Callable[[Any, Any], tuple[bool, str]]:
    counts = dict(zip(KEYPOINT_NAMES, _labelled_counts(keypoints).tolist()))

    def judge(answer: Any, solution: str) -> tuple[bool, str]:
        return _name(answer, solution, lambda name: (
            f"{name} is labelled on {counts[name]} faces; the least labelled, {solution}, on {counts[solution]}. "
            "Only the full labelling batch marks eyebrow ends, eye corners and mouth corners."))
    return judge


def _complete_fraction(keypoints: np.ndarray) -> float:
    return float((~np.isnan(np.asarray(keypoints)).any(axis=1)).mean())


def _mirrored_x(x: float) -> float:
    return IMAGE_SIZE - x


def _hardest(per_keypoint: dict[str, float]) -> tuple[str, float]:
    scores = {k: v for k, v in per_keypoint.items() if v is not None and np.isfinite(v)}
    hardest = max(scores, key=scores.get)
    return hardest, scores[hardest] - min(scores.values())


def _judge_hardest(per_keypoint: dict[str, float]) -> Callable[[Any, Any], tuple[bool, str]]:
    def judge(answer: Any, solution: tuple[str, float]) -> tuple[bool, str]:
        name, gap = solution
        if not isinstance(answer, (tuple, list)) or len(answer) != 2:
            return False, "answer with a pair: (keypoint name, how many pixels worse than the easiest)."
        right_name, says = _name(answer[0], name, lambda given: (
            f"{given}: {per_keypoint.get(given, float('nan')):.2f} px; the hardest is {name}."))
        right_gap, about_gap = _number(answer[1], gap, 0.05, " px",
                                       "The gap is the hardest keypoint's RMSE minus the easiest one's.")
        return right_name and right_gap, f"{says} {about_gap}"
    return judge


def _best_k(sweep: dict[int, float]) -> int:
    return int(min(sweep, key=sweep.get))


def _lowest(scores: dict[str, float]) -> str:
    return min(scores, key=scores.get)


EXERCISES: dict[str, Callable[..., Exercise]] = {
    "01-least-labelled": lambda keypoints: Exercise(
        "01-least-labelled", "Which keypoint is labelled on the fewest faces?",
        lambda: _least_labelled(keypoints), _judge_least_labelled(keypoints),
        "count the non-NaN x columns of `keypoints` (np.isnan), one per keypoint."),
    "01-dropna-keeps": lambda keypoints: Exercise(
        "01-dropna-keeps", "What fraction of the faces does the study's dropna keep?",
        lambda: _complete_fraction(keypoints),
        lambda answer, solution: _number(answer, solution, 0.01, "",
                                         "dropna keeps only the faces with all 15 keypoints."),
        "`dataset.complete` marks the faces with every keypoint; take its mean."),
    "02-best-k": lambda sweep: Exercise(
        "02-best-k", "Which k gave the lowest validation RMSE in your sweep?",
        lambda: _best_k(sweep),
        lambda answer, solution: (answer == solution, (
            f"k = {solution} scored {sweep[solution]:.3f} px" + ("" if answer == solution else
            f"; k = {answer} scored {sweep.get(answer, float('nan')):.3f} px"))),
        "`knn_runs` maps each k to its run; compare their `val_rmse`."),
    "02-gain-over-mean-face": lambda cnn_rmse, mean_rmse: Exercise(
        "02-gain-over-mean-face", "By how many pixels does cnn_baseline beat the mean face?",
        lambda: mean_rmse - cnn_rmse,
        lambda answer, solution: _number(answer, solution, 0.05, " px",
                                         "A gain near 0 means the network still answers with the average face."),
        "subtract the CNN's validation RMSE from the mean face's."),
    "03-mirrored-x": lambda x: Exercise(
        "03-mirrored-x", f"A keypoint sits at x = {x} px. Where is it on the mirrored face?",
        lambda: _mirrored_x(x),
        lambda answer, solution: _number(answer, solution, 1e-6, " px", (
            "pixel c covers [c, c + 1), so the image spans [0, 96] and mirroring maps x to 96 - x "
            "(95 - x would put pixel centres at integers: half a pixel off on every mirrored label).")),
        "the mirror exchanges column c and column 95 - c; where do their edges go?"),
    "03-mirrored-label": lambda: Exercise(
        "03-mirrored-label", "After mirroring, which label does the old left_eye_center take?",
        lambda: "right_eye_center",
        lambda answer, solution: _name(answer, solution, lambda name: (
            "the subject's left eye now sits where a right eye belongs, so it is relabelled right_eye_center"
            if name == solution else f"{name} would teach the network that left and right are the same.")),
        "see fkd.keypoints.FLIP_PAIRS."),
    "04-hardest-keypoint": lambda per_keypoint: Exercise(
        "04-hardest-keypoint", "Which keypoint is hardest for your best grid model, and by how many pixels?",
        lambda: _hardest(per_keypoint), _judge_hardest(per_keypoint),
        "`run.per_keypoint` maps each keypoint to its RMSE."),
    "04-study-noise": lambda: Exercise(
        "04-study-noise", "modelh_6 and modelh_9 are the same config. How far apart are the study's two figures?",
        lambda: 0.01,
        lambda answer, solution: _number(answer, solution, 0.001, " px",
                                         "1.44 and 1.43: differences this small are noise, not findings."),
        "look them up in fkd.original.REPORTED."),
    "05-best-policy": lambda scores: Exercise(
        "05-best-policy", "Which missing-label policy scored best on the grouped split in your run?",
        lambda: _lowest(scores),
        lambda answer, solution: (answer == solution, f"{solution} scored {scores[solution]:.3f} px" + (
            "" if answer == solution else f"; {answer} scored {scores.get(answer, float('nan')):.3f} px")),
        "`missing_runs` maps each policy to its run."),
    "05-rows-learned": lambda rows: Exercise(
        "05-rows-learned", "How many training rows does masked learn from that dropna throws away?",
        lambda: rows["masked"] - rows["dropna"],
        lambda answer, solution: (answer == solution, f"{rows['masked']} - {rows['dropna']} = {solution}."),
        "compare the rows each policy learned from (`run.record['n_learned']`)."),
    "06-hardest-keypoint": lambda per_keypoint: Exercise(
        "06-hardest-keypoint", "Which keypoint is hardest for the tuned CNN, and by how many pixels?",
        lambda: _hardest(per_keypoint), _judge_hardest(per_keypoint),
        "`chosen[tuned].per_keypoint` maps each keypoint to its RMSE."),
    "06-faces-found": lambda found: Exercise(
        "06-faces-found", "How many faces did the detector find in the photo?",
        lambda: found,
        lambda answer, solution: (answer == solution, f"it found {solution}."),
        "`found.boxes` has one box per face."),
}
"""Every exercise, by key; each is built from the context its notebook passes to :func:`check`."""


def check(key: str, answer: Any, **context: Any) -> Feedback:
    """Judge ``answer`` to exercise ``key`` against the solution computed from ``context``."""
    exercise = EXERCISES[key](**context)
    if answer is None:
        return Feedback(key, None, f"{exercise.question} Hint: {exercise.hint}")
    right, message = exercise.judge(answer, exercise.solve())
    return Feedback(key, bool(right), message)
