"""Every checker, run with a right answer, a wrong one and the typical mistakes: verdicts, diagnoses, no leaks.

Right answers come from the exercise cells of the notebooks (``metadata.classroom``; their solution
regions, run as the notebooks run them); wrong answers and typical mistakes are written here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from types import SimpleNamespace

import nbformat
import numpy as np
import pytest

from fkd.classroom import solution_lines
from fkd.evaluate import rmse
from fkd.exercises import (
    EXERCISES, NO_ANSWER, NOT_GRADED, NOT_IMPLEMENTED, NOT_YET, OUTCOMES, RECORDED, RIGHT, Bands, Exercises,
    Feedback, Implement, Prediction, Why, digest, mirror_back_errors,
)
from fkd.keypoints import FLIP_PAIRS, IMAGE_SIZE, KEYPOINT_NAMES, mirror_pixels
from tests.helpers import REPO

NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9]*.ipynb"))
NOTEBOOK_NAMES = {"np": np, "FLIP_PAIRS": FLIP_PAIRS, "IMAGE_SIZE": IMAGE_SIZE, "KEYPOINT_NAMES": KEYPOINT_NAMES}
"""What the exercise cells find in their notebook's namespace (the setup cells' imports)."""


def _instructor_cells() -> list[nbformat.NotebookNode]:
    return [cell for path in NOTEBOOKS for cell in nbformat.read(path, as_version=4).cells
            if cell.cell_type == "code" and "classroom" in cell.metadata]


def _solutions() -> tuple[dict[str, Callable], dict[str, str], set[str]]:
    """The instructor cells' functions by exercise, their answers by exercise, and every solution line."""
    functions, answers, lines = {}, {}, set()
    for cell in _instructor_cells():
        region = solution_lines(cell.source)
        if not region:
            continue
        key = cell.metadata["classroom"]["exercise"]
        lines |= {line.strip() for line in region if len(line.strip()) >= 12}
        namespace = dict(NOTEBOOK_NAMES)
        if cell.source.lstrip().startswith("def "):
            exec(cell.source, namespace)  # the markers are comments: the instructor cell runs as it is
            functions[key] = namespace[EXERCISES[key].function]
        else:
            exec("\n".join(region), namespace)
            answers[key] = namespace["answer"]
    return functions, answers, lines


RIGHT_FUNCTIONS, RIGHT_ANSWERS, SOLUTION_LINES = _solutions()
IMPLEMENT = [key for key, exercise in EXERCISES.items() if isinstance(exercise, Implement)]
WHY = [key for key, exercise in EXERCISES.items() if isinstance(exercise, Why)]
PREDICT = [key for key, exercise in EXERCISES.items() if isinstance(exercise, Prediction)]


def _right(key: str) -> Callable:
    return RIGHT_FUNCTIONS[key]


# --- Typical mistakes, by exercise: (the student's function, a phrase its feedback must contain) ---------

def _rows_one_by_one(groups, test_size=0.2, seed=0):
    rows = np.random.default_rng(seed).permutation(len(groups))
    cut = int(len(groups) * test_size)
    return rows[cut:], rows[:cut]


def _split_ignoring_seed(groups, test_size=0.2, seed=0):
    return _right("01-grouped-split")(groups, test_size, 0)


def _split_from_global_state(groups, test_size=0.2, seed=0):
    return _right("01-grouped-split")(groups, test_size, np.random.randint(1 << 30))


def _split_of_fixed_size(groups, test_size=0.2, seed=0):
    return _right("01-grouped-split")(groups, 0.2, seed)


def _split_with_bincount(groups, test_size=0.2, seed=0):
    np.bincount(groups)
    return _right("01-grouped-split")(groups, test_size, seed)


def _split_as_masks(groups, test_size=0.2, seed=0):
    train, val = _right("01-grouped-split")(groups, test_size, seed)
    return np.isin(np.arange(len(groups)), train), np.isin(np.arange(len(groups)), val)


def _everything_in_training(groups, test_size=0.2, seed=0):
    return np.arange(len(groups)), np.array([], dtype=int)


def _knn(order: Callable[[np.ndarray], np.ndarray], combine: Callable[..., np.ndarray] = np.mean,
         distance: str = "l2", cast: bool = True) -> Callable:
    """A k-NN that measures, orders and combines neighbours in the given (possibly wrong) ways."""

    def knn_predict(train_images, train_keypoints, images, k):
        train, faces = train_images.reshape(len(train_images), -1), images.reshape(len(images), -1)
        if cast:
            train, faces = train.astype(np.float64), faces.astype(np.float64)
        difference = (faces[:, None, :] - train[None, :, :]).astype(np.float64)
        distances = np.abs(difference).sum(2) if distance == "l1" else (difference**2).sum(2)
        nearest = order(distances)[:, :k]
        return combine(train_keypoints[nearest], axis=1)

    return knn_predict


def _knn_one_too_many(train_images, train_keypoints, images, k):
    return _knn(np.argsort)(train_images, train_keypoints, images, k + 1)


def _knn_weighted(train_images, train_keypoints, images, k):
    difference = images.reshape(len(images), 1, -1).astype(float) - train_images.reshape(1, len(train_images), -1)
    distances = np.sqrt((difference**2).sum(2))
    nearest = np.argsort(distances, 1)[:, :k]
    weights = 1 / np.take_along_axis(distances, nearest, 1)
    return (train_keypoints[nearest] * weights[..., None]).sum(1) / weights.sum(1)[:, None]


def _knn_sklearn(train_images, train_keypoints, images, k):
    from sklearn.neighbors import KNeighborsRegressor

    model = KNeighborsRegressor(k).fit(train_images.reshape(len(train_images), -1), train_keypoints)
    return model.predict(images.reshape(len(images), -1))


def _rmsprop(velocity_rule: Callable, step_rule: Callable, sign: float = -1.0, in_place: bool = False) -> Callable:
    def rmsprop_step(weight, gradient, velocity, keras, lr=0.001, rho=0.9, epsilon=1e-7):
        new_velocity = velocity_rule(velocity, gradient, rho)
        step = step_rule(lr, gradient, velocity, new_velocity, epsilon, keras)
        if in_place:
            weight += sign * step
            return weight, new_velocity
        return weight + sign * step, new_velocity

    return rmsprop_step


def _averaged(v, g, rho):
    return rho * v + (1 - rho) * g**2


def _by_version(lr, g, v_old, v, eps, keras):
    return lr * g / (np.sqrt(v) + eps) if keras == 2 else lr * g / np.sqrt(v + eps)


def _mirror_then(change: Callable[[np.ndarray, np.ndarray], tuple]) -> Callable:
    def mirror(images, keypoints):
        return change(*_right("03-mirror")(images, keypoints))

    return mirror


def _pairs_swapped(points: np.ndarray, pairs, columns=(0, 1)) -> np.ndarray:
    points = np.array(points, dtype=float)
    for left, right in pairs:
        l, r = 2 * KEYPOINT_NAMES.index(left), 2 * KEYPOINT_NAMES.index(right)
        for axis in columns:
            points[:, [l + axis, r + axis]] = points[:, [r + axis, l + axis]]
    return points


def _mirror_x(keypoints) -> np.ndarray:
    points = np.array(keypoints, dtype=float)
    points[:, 0::2] = IMAGE_SIZE - points[:, 0::2]
    return points


def _mirror_in_place(images, keypoints):
    keypoints[:, 0::2] = IMAGE_SIZE - keypoints[:, 0::2]
    return images[:, :, ::-1], _pairs_swapped(keypoints, FLIP_PAIRS)


def _mirror_from_fkd(images, keypoints):
    return images[:, :, ::-1], mirror_pixels(keypoints)


def _optimism(baseline: str = "chosen", choose=np.argmin, sign: float = 1.0, scale=lambda noise: noise,
              own_rng: bool = False, average: bool = True) -> Callable:
    def winner_optimism(true_rmse, noise, trials, rng):
        rng = np.random.default_rng() if own_rng else rng
        measured = true_rmse + rng.normal(0, scale(noise), size=(trials, len(true_rmse)))
        chosen = choose(measured, axis=1)
        truth = true_rmse[chosen] if baseline == "chosen" else true_rmse.min()
        optimism = sign * (truth - measured[np.arange(trials), chosen])
        return float(np.mean(optimism)) if average else optimism

    return winner_optimism


def _loss(formula: Callable[[np.ndarray, np.ndarray], object]) -> Callable:
    def masked_mse(y_true, y_pred):
        with np.errstate(all="ignore"):
            return formula(y_true, y_pred)

    return masked_mse


def _score(formula: Callable[[np.ndarray, np.ndarray], object]) -> Callable:
    def rmse_px(true, pred):
        with np.errstate(all="ignore"):
            return formula(true, pred)

    return rmse_px


def _rmse_from_fkd(true, pred):
    return rmse(true * 48 + 48, pred * 48 + 48)


def _nan_mean_squares(y, p):
    return float(np.nanmean((p - y) ** 2))


MISTAKES: dict[str, list[tuple[Callable, str]]] = {
    "01-grouped-split": [
        (_rows_one_by_one, "has rows on both sides"),
        (_split_ignoring_seed, "every seed gave the same split"),
        (_split_from_global_state, "same seed gave different splits"),
        (_split_of_fixed_size, "test_size should set the size"),
        (_split_with_bincount, "raised TypeError"),
        (_split_as_masks, "row numbers"),
    ],
    "02-knn": [
        (_knn(np.argsort, cast=False), "uint8 arithmetic wraps around"),
        (_knn(lambda d: np.argsort(-d, axis=1)), "farthest faces"),
        (_knn(lambda d: np.argsort(d, axis=1)[:, 1:]), "skipped the nearest face"),
        (_knn(np.argsort, combine=np.sum), "did not divide by k"),
        (_knn(np.argsort, distance="l1"), "sums absolute differences"),
        (_knn(lambda d: np.argsort(d, axis=1)[:, :1]), "single neighbour"),
        (_knn_one_too_many, "one too many"),
        (_knn_weighted, "weighted the neighbours"),
        (_knn_sklearn, "sklearn.neighbors.KNeighborsRegressor"),
    ],
    "02-rmsprop": [
        (_rmsprop(_averaged, _by_version, sign=+1.0), "sign error"),
        (_rmsprop(_averaged, lambda lr, g, vo, v, e, keras: _by_version(lr, g, vo, v, e, 5 - keras)), "swapped"),
        (_rmsprop(_averaged, lambda lr, g, vo, v, e, keras: _by_version(lr, g, vo, v, e, 2)), "same step"),
        (_rmsprop(_averaged, lambda lr, g, vo, v, e, keras: lr * g / (np.sqrt(vo) + e)), "before it was updated"),
        (_rmsprop(lambda v, g, rho: rho * v + (1 - rho) * g, _by_version), "not its square"),
        (_rmsprop(lambda v, g, rho: (1 - rho) * v + rho * g**2, _by_version), "rho and 1 - rho"),
        (_rmsprop(_averaged, lambda lr, g, vo, v, e, keras: g / (np.sqrt(v) + e)), "learning rate is missing"),
        (_rmsprop(_averaged, lambda lr, g, vo, v, e, keras: lr * g / (v + e)), "square root"),
        (_rmsprop(_averaged, _by_version, in_place=True), "changed the weights"),
    ],
    "03-mirror": [
        (lambda images, keypoints: (images[:, :, ::-1], _mirror_x(keypoints)), "must trade places"),
        (_mirror_then(lambda images, points: (images, points - np.tile([1, 0], 15))), "95 - x"),
        (_mirror_in_place, "changed the keypoints"),
        (_mirror_then(lambda images, points: (images[:, :, ::-1][:, ::-1, :], points)), "upside down"),
        (lambda images, keypoints: (images[:, :, ::-1], _pairs_swapped(_mirror_x(keypoints), FLIP_PAIRS, (0,))),
         "but not their y"),
        (lambda images, keypoints: _right("03-mirror")(images, np.nan_to_num(keypoints)), "missing stays missing"),
        (_mirror_from_fkd, "fkd.keypoints.mirror_pixels"),
        (lambda images, keypoints: (images[:, :, ::-1], _pairs_swapped(_mirror_x(keypoints), FLIP_PAIRS[:-1])),
         "mouth_left_corner and mouth_right_corner"),
        (_mirror_then(lambda images, points: (images, np.where(np.arange(30) % 2, IMAGE_SIZE - points, points))),
         "mirrored y as well"),
        (_mirror_then(lambda images, points: (images, np.round(points).astype(int))), "integers"),
        (lambda images, keypoints: _right("03-mirror")(images, keypoints)[1], "return two things"),
    ],
    "04-optimism": [
        (_optimism(sign=-1.0), "negative"),
        (_optimism(choose=np.argmax), "negative"),
        (_optimism(scale=np.sqrt), "not its variance"),
        (_optimism(baseline="best"), "best true RMSE"),
        (_optimism(own_rng=True), "same rng seed gave different results"),
        (_optimism(average=False), "one number"),
    ],
    "05-masked-mse": [
        (_loss(lambda y, p: float(np.nansum((p - y) ** 2) / y.size)), "divided by every coordinate"),
        (_loss(lambda y, p: float(np.mean((p - y) ** 2))), "NaN"),
        (_loss(lambda y, p: float(np.nansum((p - y) ** 2))), "did not divide"),
        (_loss(lambda y, p: float(np.nanmean(np.nanmean((p - y) ** 2, axis=1)))), "averaged each face first"),
        (_loss(lambda y, p: float(np.mean((p - np.nan_to_num(y)) ** 2))), "treated as 0"),
        (_loss(_nan_mean_squares), "without any label"),
        (_loss(lambda y, p: np.nanmean((p - y) ** 2, axis=1)), "one number"),
        (_loss(lambda y, p: float(np.sqrt(np.nanmean((p - y) ** 2)))), "square root"),
    ],
    "06-rmse-px": [
        (_score(lambda t, p: float(np.sqrt(np.nanmean((p - t) ** 2)))), "still in normalised units"),
        (_score(lambda t, p: float(np.sqrt(np.nanmean((p - t) ** 2)) * 96)), "not 96"),
        (_score(lambda t, p: float(np.sqrt(np.nanmean((p - t) ** 2) * 48))), "under the root"),
        (_score(lambda t, p: float(np.nanmean((p - t) ** 2) * 48**2)), "forgot the square root"),
        (_score(lambda t, p: float(np.mean(np.sqrt(np.nanmean((p - t) ** 2, axis=1))) * 48)),
         "averaged each face's RMSE"),
        (_score(lambda t, p: float(np.sqrt(np.mean((p - t) ** 2)) * 48)), "NaN"),
        (_rmse_from_fkd, "fkd.evaluate.rmse"),
    ],
}

WRONG: dict[str, Callable] = {
    "01-grouped-split": _everything_in_training,
    "02-knn": lambda train_images, train_keypoints, images, k: np.zeros((len(images), 30)),
    "02-rmsprop": lambda weight, gradient, velocity, keras, **options: (weight.copy(), velocity.copy()),
    "03-mirror": lambda images, keypoints: (images.copy(), keypoints.copy()),
    "04-optimism": lambda true_rmse, noise, trials, rng: 0.0,
    "05-masked-mse": lambda y_true, y_pred: 0.0,
    "06-rmse-px": lambda true, pred: 0.0,
}
"""A plainly wrong answer to each implement-it exercise (it runs, it returns the right kind of thing)."""

OUTCOMES_BY_KEY: dict[str, dict] = {
    "01-leak": dict(without=7.0, with_leak=6.0),
    "02-keras3-units": dict(keras2=[0.95, 0.9], keras3=[0.4, 0.02]),
    "03-mirror-back": dict(errors={"direct": 2.0, "mirrored_back": 2.1, "mirrored_back_unswapped": 15.0}),
    "04-seed-spread": dict(spread=SimpleNamespace(value=0.08)),
    "05-best-policy": dict(scores={"dropna": 3.0, "ffill": 3.4, "masked": 2.5}, spread=0.05),
}
"""For each prediction, an outcome that bears out the instructor's answer (real runs on real faces do)."""


@pytest.fixture
def exercises(tmp_path) -> Exercises:
    return Exercises("standard", tmp_path)


def _stub(*args, **kwargs):
    raise NotImplementedError()


def _feedbacks_of_wrong_answers(exercises: Exercises) -> list[tuple[str, Feedback]]:
    """Every feedback a student can get without the solution: wrong answers, mistakes, stubs, no answer."""
    found = []
    for key in IMPLEMENT:
        for function in (WRONG[key], _stub, None, 42, *(mistake for mistake, _ in MISTAKES[key])):
            found.append((key, exercises.check(key, function)))
    for key in WHY:
        exercise = EXERCISES[key]
        found += [(key, exercises.check(key, letter)) for letter in exercise.choices if letter != RIGHT_ANSWERS[key]]
        found += [(key, exercises.check(key, "z"))]
    for key in PREDICT:
        wrong = next(choice for choice in EXERCISES[key].choices if choice != RIGHT_ANSWERS[key])
        found += [(key, exercises.predict(key, wrong)), (key, exercises.predict(key, None))]
    return found


# --- Every exercise has a right answer, a wrong one and typical mistakes -------------------------------


def test_every_exercise_has_an_instructor_answer_and_every_implement_it_its_mistakes():
    assert set(RIGHT_FUNCTIONS) == set(IMPLEMENT) == set(MISTAKES) == set(WRONG)
    assert set(RIGHT_ANSWERS) == set(WHY) | set(PREDICT)
    assert set(PREDICT) == set(OUTCOMES_BY_KEY)
    assert {key[:2] for key in EXERCISES} == {"01", "02", "03", "04", "05", "06"}
    for number in ("01", "02", "03", "04", "05", "06"):
        kinds = [EXERCISES[key].kind for key in EXERCISES if key.startswith(number)]
        assert 3 <= len(kinds) <= 5 and "implement" in kinds, number


@pytest.mark.parametrize("key", IMPLEMENT)
def test_the_instructor_solution_passes_on_fresh_inputs_every_time(key, exercises):
    for _ in range(3):
        feedback = exercises.check(key, _right(key))
        assert feedback.status == RIGHT and feedback.correct is True, feedback


@pytest.mark.parametrize("key", IMPLEMENT)
def test_a_wrong_function_is_refused_with_a_reason(key, exercises):
    feedback = exercises.check(key, WRONG[key])
    assert feedback.status == NOT_YET and feedback.correct is False and len(feedback.message) > 30


@pytest.mark.parametrize("key, mistake, phrase",
                         [(key, mistake, phrase) for key, cases in MISTAKES.items() for mistake, phrase in cases],
                         ids=[f"{key}: {phrase}" for key, cases in MISTAKES.items() for _, phrase in cases])
def test_a_typical_mistake_is_named(key, mistake, phrase, exercises):
    feedback = exercises.check(key, mistake)
    assert feedback.status == NOT_YET and phrase in feedback.message, feedback


@pytest.mark.parametrize("key", IMPLEMENT)
def test_the_students_stub_gets_not_implemented_yet_not_a_crash(key, exercises):
    feedback = exercises.check(key, _stub)
    assert feedback.status == NOT_IMPLEMENTED and feedback.correct is None
    assert "Not implemented yet" in feedback._repr_markdown_()


@pytest.mark.parametrize("key", IMPLEMENT)
def test_no_function_yet_and_a_result_instead_of_a_function_are_explained(key, exercises):
    assert exercises.check(key, None).status == NO_ANSWER
    given = exercises.check(key, np.zeros(3))
    assert given.status == NOT_YET and "the function itself" in given.message


@pytest.mark.parametrize("key", WHY)
def test_why_accepts_its_one_right_letter_and_explains_each_wrong_one(key, exercises):
    exercise = EXERCISES[key]
    assert [letter for letter in exercise.choices if digest(key, letter) == exercise.right] == [RIGHT_ANSWERS[key]]
    right = exercises.check(key, f"({RIGHT_ANSWERS[key].upper()})")
    assert right.status == RIGHT and right.message == exercise.choices[RIGHT_ANSWERS[key]].why
    for letter, choice in exercise.choices.items():
        if letter != RIGHT_ANSWERS[key]:
            wrong = exercises.check(key, letter)
            assert wrong.status == NOT_YET and choice.why in wrong.message
    assert "answer with a letter" in exercises.check(key, "maybe").message
    asked = exercises.check(key, None)
    assert asked.status == NO_ANSWER and all(choice.text in asked.message for choice in exercise.choices.values())


@pytest.mark.parametrize("key", PREDICT)
def test_a_prediction_made_before_the_run_is_judged_by_it(key, tmp_path):
    right, wrong = RIGHT_ANSWERS[key], next(c for c in EXERCISES[key].choices if c != RIGHT_ANSWERS[key])
    for folder, choice, status in (("right", right, RIGHT), ("wrong", wrong, NOT_YET)):
        exercises = Exercises("standard", tmp_path / folder)
        assert exercises.predict(key, choice).status == RECORDED
        revealed = exercises.reveal(key, **OUTCOMES_BY_KEY[key])
        assert revealed.status == status and "Measured:" in revealed.message, revealed


# --- Feedback never gives the solution away ---------------------------------------------------------


def test_no_feedback_to_a_wrong_answer_contains_a_line_of_a_solution(exercises):
    for key, feedback in _feedbacks_of_wrong_answers(exercises):
        leaked = [line for line in SOLUTION_LINES if line in feedback.message]
        assert not leaked, (key, leaked, feedback)


def test_no_feedback_to_a_wrong_choice_names_the_right_one(exercises):
    for key, feedback in _feedbacks_of_wrong_answers(exercises):
        if key in WHY or (key in PREDICT and feedback.status == RECORDED):
            right = RIGHT_ANSWERS[key]
            text = getattr(EXERCISES[key].choices[right], "text", EXERCISES[key].choices[right])
            assert text not in feedback.message, feedback
            assert not re.search(rf"\(\s*{re.escape(right)}\s*\)|'{re.escape(right)}'", feedback.message), feedback


def test_no_solution_is_importable_from_the_package():
    import fkd.exercises as module

    for key in IMPLEMENT:
        assert not hasattr(module, EXERCISES[key].function), key
    source = (REPO / "fkd" / "exercises.py").read_text()
    assert not [line for line in SOLUTION_LINES if line in source]
    for key in WHY:  # the right letter is kept as a digest only
        assert all(choice.text not in EXERCISES[key].right for choice in EXERCISES[key].choices.values())


# --- Checks draw fresh inputs, and see through borrowed code -------------------------------------------


def test_each_check_draws_new_inputs_unless_given_a_seed(exercises):
    seen = []

    def spy(y_true, y_pred):
        seen.append(y_true.copy())
        return _right("05-masked-mse")(y_true, y_pred)

    for seed in (None, None, 3, 3):
        exercises.check("05-masked-mse", spy, seed=seed)
    random_batches = [batch for batch in seen if batch.shape[0] >= 3]  # the hand-made cases are 2 faces
    assert len(random_batches) == 8
    assert not np.array_equal(random_batches[0], random_batches[2], equal_nan=True)
    assert np.array_equal(random_batches[4], random_batches[6], equal_nan=True)


def test_a_students_own_helper_named_like_a_library_function_is_not_taken_for_it(exercises):
    namespace = {"np": np}
    exec("def rmse(a, b):\n    return float(np.sqrt(np.nanmean((a - b) ** 2)))\n"
         "def rmse_px(true, pred):\n    return rmse(true, pred) * 48\n", namespace)
    assert exercises.check("06-rmse-px", namespace["rmse_px"]).status == RIGHT


def test_float32_arithmetic_is_not_held_against_a_right_answer(exercises):
    def mirror(images, keypoints):
        mirrored_images, points = _right("03-mirror")(images, keypoints)
        return mirrored_images, points.astype(np.float32)

    def masked_mse(y_true, y_pred):
        return _right("05-masked-mse")(y_true.astype(np.float32), y_pred.astype(np.float32))

    assert exercises.check("03-mirror", mirror).status == RIGHT
    assert exercises.check("05-masked-mse", masked_mse).status == RIGHT


# --- Predictions: on record before the result, judged in bands, not on meaningless runs -------------------


def test_a_prediction_is_kept_in_the_runs_folder_and_may_change_until_the_result_is_shown(tmp_path):
    exercises = Exercises("standard", tmp_path)
    exercises.predict("03-mirror-back", "a")
    exercises.predict("03-mirror-back", "c")
    assert json.loads((tmp_path / "answers.json").read_text())["03-mirror-back"]["prediction"] == "c"
    assert exercises.reveal("03-mirror-back", **OUTCOMES_BY_KEY["03-mirror-back"]).status == RIGHT


def test_a_prediction_changed_after_the_result_leaves_the_first_on_record(tmp_path):
    exercises = Exercises("standard", tmp_path)
    exercises.predict("03-mirror-back", "a")
    assert exercises.reveal("03-mirror-back", **OUTCOMES_BY_KEY["03-mirror-back"]).status == NOT_YET
    changed = exercises.predict("03-mirror-back", "c")
    assert changed.status == RECORDED and "stays on record" in changed.message
    assert exercises.reveal("03-mirror-back", **OUTCOMES_BY_KEY["03-mirror-back"]).status == NOT_YET
    entry = json.loads((tmp_path / "answers.json").read_text())["03-mirror-back"]
    assert (entry["prediction"], entry["after_reveal"]) == ("a", "c")


def test_a_prediction_made_only_after_the_result_is_not_graded(tmp_path):
    exercises = Exercises("standard", tmp_path)
    shown = exercises.reveal("03-mirror-back", **OUTCOMES_BY_KEY["03-mirror-back"])
    assert shown.status == NO_ANSWER and "Measured:" in shown.message
    assert "no prediction was on record" in exercises.predict("03-mirror-back", "c").message
    assert exercises.reveal("03-mirror-back", **OUTCOMES_BY_KEY["03-mirror-back"]).status == NO_ANSWER


def test_a_prediction_must_be_one_of_the_choices(exercises):
    assert exercises.predict("05-best-policy", "mean").status == NOT_YET
    assert exercises.predict("05-best-policy", None).status == NO_ANSWER


@pytest.mark.parametrize("key", [key for key in PREDICT if EXERCISES[key].on_runs])
def test_predictions_on_runs_are_not_graded_under_the_smoke_profile_and_say_why(key, tmp_path):
    exercises = Exercises("smoke", tmp_path)
    exercises.predict(key, RIGHT_ANSWERS[key])
    refused = exercises.reveal(key, **OUTCOMES_BY_KEY[key])
    assert refused.status == NOT_GRADED and "meaningless" in refused.message and "standard" in refused.message


def test_a_prediction_on_the_data_alone_is_graded_under_smoke_but_never_on_demo_faces(tmp_path):
    smoke = Exercises("smoke", tmp_path / "smoke")
    smoke.predict("01-leak", "a")
    assert smoke.reveal("01-leak", **OUTCOMES_BY_KEY["01-leak"]).status == RIGHT
    demo = Exercises("standard", tmp_path / "demo", demo=True)
    demo.predict("01-leak", "a")
    refused = demo.reveal("01-leak", **OUTCOMES_BY_KEY["01-leak"])
    assert refused.status == NOT_GRADED and "demo faces" in refused.message


def test_a_measurement_near_a_threshold_bears_out_both_neighbours():
    bands = Bands(("low", "middle", "high"), ((0.02, 0.005), (0.2, 0.05)))
    assert bands.borne_out(0.01) == {"low"}
    assert bands.borne_out(0.022) == {"low", "middle"}
    assert bands.borne_out(0.1) == {"middle"}
    assert bands.borne_out(0.24) == {"middle", "high"}


def test_a_seed_spread_at_a_band_edge_accepts_either_neighbouring_prediction(tmp_path):
    for choice in ("a", "b"):
        exercises = Exercises("standard", tmp_path / choice)
        exercises.predict("04-seed-spread", choice)
        revealed = exercises.reveal("04-seed-spread", spread=0.021)
        assert revealed.status == RIGHT and "another seed" in revealed.message


def test_a_policy_within_the_seed_spread_of_the_best_ties_with_it(tmp_path):
    scores = {"dropna": 2.53, "ffill": 3.4, "masked": 2.5}
    for choice, status in (("dropna", RIGHT), ("masked", RIGHT), ("ffill", NOT_YET)):
        exercises = Exercises("standard", tmp_path / choice)
        exercises.predict("05-best-policy", choice)
        assert exercises.reveal("05-best-policy", scores=scores, spread=0.05).status == status


def test_a_run_that_cannot_decide_grades_nothing(exercises):
    exercises.predict("04-seed-spread", "b")
    undecided = exercises.reveal("04-seed-spread", spread=SimpleNamespace(value=None))
    assert undecided.status == NOT_GRADED and "left the mean face" in undecided.message


# --- The mirror-back experiment and the notebook-facing object -----------------------------------------


def test_mirror_back_errors_tell_a_swapped_answer_from_an_unswapped_one():
    rng = np.random.default_rng(0)
    truth = np.tile(np.array([67.0, 38.0, 31.0, 37.0] + [48.0] * 26), (5, 1)) + rng.normal(0, 1, (5, 30))
    errors = mirror_back_errors(truth, truth, on_mirrored=mirror_pixels(truth))
    assert errors["direct"] == 0 and errors["mirrored_back"] < 1e-4
    assert errors["mirrored_back_unswapped"] > 5


def test_exercises_of_a_study_take_its_profile_runs_folder_and_data(tmp_path):
    study = SimpleNamespace(profile="smoke", runs_dir=tmp_path, files=SimpleNamespace(demo=True))
    exercises = Exercises.of(study)
    assert (exercises.profile, exercises.demo, exercises.answers.path) == ("smoke", True, tmp_path / "answers.json")


def test_a_key_of_the_wrong_kind_or_no_key_at_all_is_a_loud_authoring_error(exercises):
    with pytest.raises(ValueError, match="exercises.predict"):
        exercises.check("03-mirror-back", "c")
    with pytest.raises(ValueError, match="exercises.check"):
        exercises.predict("03-mirror", "c")
    with pytest.raises(KeyError, match="03-mirror"):
        exercises.check("03-mirrored-x", 66)


# --- Outcomes kept for the instructor's tables ------------------------------------------------------------


def test_a_revealed_outcome_is_kept_with_its_data_profile_machine_and_date(tmp_path):
    study = SimpleNamespace(profile="standard", runs_dir=tmp_path,
                            files=SimpleNamespace(demo=False, training=tmp_path / "somewhere" / "faces15" / "training.zip"),
                            dataset=SimpleNamespace(fingerprint="abc123"))
    exercises = Exercises.of(study)
    exercises.predict("03-mirror-back", "c")
    exercises.reveal("03-mirror-back", **OUTCOMES_BY_KEY["03-mirror-back"])
    (group,) = json.loads((tmp_path / OUTCOMES).read_text()).values()
    assert (group["data"], group["profile"], group["data_fingerprint"], group["demo"], group["faces"]) == (
        "faces15", "standard", "abc123", False, None)
    outcome = group["outcomes"]["03-mirror-back"]
    assert outcome["borne_out"] == ["c"] and outcome["graded"] and "Measured" not in outcome["summary"]
    assert outcome["cpu_model"] and outcome["measured_at"] and str(tmp_path) not in json.dumps(group)


def test_an_outcome_that_is_not_graded_is_still_shown_and_kept_as_not_graded(tmp_path):
    exercises = Exercises("smoke", tmp_path)
    exercises.predict("04-seed-spread", "b")
    shown = exercises.reveal("04-seed-spread", spread=0.3)
    assert shown.status == NOT_GRADED and "meaningless" in shown.message and "0.300 px" in shown.message
    assert "bears out" not in shown.message  # no band is claimed from a meaningless run
    (group,) = json.loads((tmp_path / OUTCOMES).read_text()).values()
    assert group["outcomes"]["04-seed-spread"]["graded"] is False
    assert json.loads((tmp_path / "answers.json").read_text())["04-seed-spread"].keys() == {"prediction", "recorded"}


def test_a_run_that_cannot_decide_is_kept_as_such(tmp_path):
    exercises = Exercises("standard", tmp_path)
    exercises.reveal("04-seed-spread", spread=SimpleNamespace(value=None))
    (group,) = json.loads((tmp_path / OUTCOMES).read_text()).values()
    kept = group["outcomes"]["04-seed-spread"]
    assert kept["summary"].startswith("this run cannot decide") and kept["borne_out"] == [] and not kept["graded"]


def test_the_data_is_named_by_its_folder_or_as_the_demo_faces_never_by_a_path(tmp_path):
    from fkd.exercises import DEMO_DATA, data_name

    assert data_name(SimpleNamespace(demo=True, training=tmp_path / "x.csv")) == DEMO_DATA
    assert data_name(SimpleNamespace(demo=False, training=tmp_path / "kaggle" / "training.zip")) == "kaggle"
    assert data_name(None) == "unknown" and data_name(None, demo=True) == DEMO_DATA
