"""Exercises that need understanding: code a student writes, predictions made before a run, "why" questions.

Three kinds, all called from a notebook through one object made in its setup cell::

    exercises = Exercises.of(study)          # knows the profile, the data and where predictions are kept

    exercises.check("03-mirror", mirror)     # implement it: the student's function, tested here
    exercises.check("03-why-swap", answer)   # why: a letter; each wrong one is answered with its own reason
    exercises.predict("03-mirror-back", answer)      # predict then run: the prediction is recorded ...
    exercises.reveal("03-mirror-back", errors=errors)  # ... and judged, after the experiment ran

What this module holds, and what it does not:

* **Implement it.** Each checker draws *fresh* inputs at check time (random shapes and values, and
  hand-placed cases whose right answer can be worked out on paper), then tests the student's function
  against properties and independent checks (mirroring twice gives the face back; the hand-placed
  left eye lands where the right eye was, reflected). A problem is reported as what is wrong -- a
  wrong shape, a sign error, a left/right pair not swapped, ``95 - x`` for ``96 - x``, a group on
  both sides -- never as the answer. No reference solution lives here: the reference solutions are
  the solution regions of the notebooks' exercise cells (``notebooks/``, the instructor's copies; students
  get copies without them, see :mod:`fkd.classroom`).
* **Why.** Each choice carries its own explanation. The right letter is stored as a digest, so
  reading the list of choices does not give it away at a glance.
* **Predict then run.** The prediction goes to ``answers.json`` in the runs folder before the
  experiment runs; :meth:`Exercises.reveal` then says who was right. Outcomes are judged in bands
  wide enough to hold across seeds (a measurement near a band's edge accepts both neighbours), and
  not at all under the smoke profile or on the synthetic demo faces, whose numbers mean nothing (the
  measurement is still shown, marked as not graded). Every outcome is also kept in ``outcomes.json`` in
  the runs folder, with the data, profile, CPU and date, for the instructor's expected-results tables
  (:func:`fkd.classroom.record_measurements`).
"""

from __future__ import annotations

import datetime
import hashlib
import json
import math
import sys
import types
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fkd.keypoints import FLIP_PAIRS, IMAGE_SIZE, KEYPOINT_NAMES
from fkd.profiles import DEFAULT_PROFILE

# --- What a student sees ------------------------------------------------------------------------

RIGHT, NOT_YET, NO_ANSWER, NOT_IMPLEMENTED, RECORDED, NOT_GRADED = (
    "right", "not yet", "no answer yet", "not implemented yet", "recorded", "not graded")

_MARKS = {RIGHT: "**Right.**", NOT_YET: "**Not yet.**", NO_ANSWER: "*No answer yet.*",
          NOT_IMPLEMENTED: "**Not implemented yet.**", RECORDED: "**Recorded.**", NOT_GRADED: "**Not graded.**"}


@dataclass(frozen=True)
class Feedback:
    """The verdict on one answer, shown as one line in Jupyter, the HTML report and the PDF."""

    exercise: str
    status: str
    """One of right, not yet, no answer yet, not implemented yet, recorded, not graded."""
    message: str

    @property
    def correct(self) -> bool | None:
        """True when right, False when not yet, None when there is nothing to judge (yet)."""
        return {RIGHT: True, NOT_YET: False}.get(self.status)

    def __repr__(self) -> str:
        return f"[{self.exercise}] {self.status.upper()}: {self.message}"

    def _repr_markdown_(self) -> str:
        return f"{_MARKS[self.status]} {self.message}"


# --- Predictions on record ----------------------------------------------------------------------


class Answers:
    """Predictions, kept in a small JSON file so that they are made -- and stay -- before the result.

    A prediction may change until its result is revealed. After that the first one stays on
    record and a later one is kept beside it, so running the notebook again with a wiser answer
    does not rewrite history.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def _read(self) -> dict[str, dict[str, Any]]:
        return json.loads(self.path.read_text()) if self.path.is_file() else {}

    def _write(self, entries: dict[str, dict[str, Any]]) -> None:
        from fkd.atomic import write_json

        write_json(self.path, entries)

    def get(self, key: str) -> dict[str, Any] | None:
        return self._read().get(key)

    def record(self, key: str, choice: str) -> dict[str, Any]:
        """Record ``choice`` for ``key``; once the result was shown, keep what was on record and note the new one."""
        entries = self._read()
        entry = entries.get(key, {})
        if "revealed" not in entry:
            entry = {"prediction": choice, "recorded": _now()}
        elif choice != entry.get("prediction"):
            entry["after_reveal"] = choice
        entries[key] = entry
        self._write(entries)
        return entry

    def revealed(self, key: str) -> None:
        """Note that ``key``'s result has been shown (with or without a prediction before it)."""
        entries = self._read()
        if "revealed" not in entries.get(key, {}):
            entries.setdefault(key, {})["revealed"] = _now()
            self._write(entries)


def _now() -> str:
    return datetime.datetime.now().astimezone().isoformat(timespec="seconds")


# --- The three kinds ----------------------------------------------------------------------------


class NotYet(Exception):
    """What is wrong with a student's function, in words that do not give the solution away."""


@dataclass(frozen=True)
class Implement:
    """Implement it: ``probe(function, rng)`` raises :class:`NotYet` at the first problem it finds."""

    key: str
    function: str
    """The name the student's function has in the notebook."""
    probe: Callable[[Callable[..., Any], np.random.Generator], None]
    passed: str
    """Said when every check passes: what the checks covered."""
    borrowed: tuple[tuple[str, str], ...] = ()
    """(module, name) of library code that would do the exercise for the student."""
    kind: str = "implement"


@dataclass(frozen=True)
class Choice:
    text: str
    why: str
    """Shown when this choice is picked: why it holds, or why not."""


@dataclass(frozen=True)
class Why:
    """A "why" question with lettered choices; ``right`` is the digest of the right letter (:func:`digest`)."""

    key: str
    question: str
    choices: dict[str, Choice]
    right: str
    kind: str = "why"


@dataclass(frozen=True)
class Prediction:
    """Predict then run: ``judge(**measured)`` -> (the choices the outcome bears out, what was measured)."""

    key: str
    question: str
    choices: dict[str, str]
    judge: Callable[..., tuple[frozenset[str], str]]
    meaning: dict[str, str]
    """For each choice, what it means when the outcome bears it out."""
    on_runs: bool = True
    """Whether the outcome comes from trained runs (then smoke-profile and demo-face outcomes are not graded)."""
    kind: str = "predict"


def digest(key: str, letter: str) -> str:
    """What :class:`Why` stores instead of the right letter."""
    return hashlib.sha256(f"fkd-exercise:{key}:{letter}".encode()).hexdigest()[:16]


# --- Helpers shared by the implement-it checkers --------------------------------------------------


def _call(function: Callable[..., Any], *args: Any, on: str) -> Any:
    """``function(*args)``; its exception becomes a :class:`NotYet` naming the inputs (NotImplementedError passes)."""
    try:
        return function(*args)
    except NotImplementedError:
        raise
    except Exception as error:  # the student's code may raise anything; say what and where
        raise NotYet(f"your function raised {type(error).__name__}: {error} (called on {on}).") from None


def _unchanged(given: Sequence[tuple[str, np.ndarray, np.ndarray]]) -> None:
    """Refuse a function that wrote into the arrays it was given: the caller's data would change under it."""
    for name, before, after in given:
        if not _same(before, after):
            raise NotYet(f"your function changed the {name} it was given; work on a copy and return new arrays "
                         "(the caller's data must not change under it).")


def _same(before: np.ndarray, after: Any) -> bool:
    after = np.asarray(after)
    numeric = np.issubdtype(before.dtype, np.number) and np.issubdtype(after.dtype, np.number)
    return bool(np.array_equal(before, after, equal_nan=numeric))


def _array(value: Any, what: str, shape: tuple[int, ...]) -> np.ndarray:
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise NotYet(f"{what} should be an array of numbers; your function returned {type(value).__name__}.") from None
    if array.shape != shape:
        raise NotYet(f"{what} has shape {array.shape}; for these inputs it should have shape {shape}.")
    return array


def _number(value: Any, what: str) -> float:
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise NotYet(f"{what} should be one number; your function returned {type(value).__name__}.") from None
    if array.size != 1:
        raise NotYet(f"{what} should be one number; your function returned {array.size} values "
                     f"(shape {array.shape}).")
    return float(array.reshape(()))


def _pair(value: Any, what: str) -> tuple[Any, Any]:
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise NotYet(f"return two things, {what}; your function returned {type(value).__name__}"
                     + (f" of length {len(value)}" if isinstance(value, (tuple, list)) else "") + ".")
    return value[0], value[1]


def _close(a: Any, b: Any, rtol: float = 1e-5, atol: float = 1e-6) -> bool:
    """Equal up to float32 rounding (a student may compute in float32); NaN equals NaN."""
    return bool(np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=True))


def _names_used(code: types.CodeType) -> set[str]:
    names = set(code.co_names)
    for constant in code.co_consts:
        if isinstance(constant, types.CodeType):
            names |= _names_used(constant)
    return names


def _borrowed(function: Callable[..., Any], borrowed: tuple[tuple[str, str], ...]) -> str | None:
    """The library function the student's code calls to do the exercise, if any (``module.name``).

    Found when the function uses the name and reaches the library's object: imported by that name,
    imported inside the function, or through the library's module (``fkd.keypoints.mirror_pixels``).
    """
    code = getattr(function, "__code__", None)
    if code is None:
        return None
    used, known = _names_used(code), getattr(function, "__globals__", {})
    for module, name in borrowed:
        if name not in used:
            continue
        if module in used:  # `from module import name` inside the function
            return f"{module}.{name}"
        library = sys.modules.get(module)
        if library is None:
            continue  # never imported, so never called
        through_module = any(isinstance(value, types.ModuleType)
                             and (value is library or module.startswith(value.__name__ + "."))
                             for value in known.values())
        if known.get(name) is getattr(library, name, None) or through_module:
            return f"{module}.{name}"
    return None


# --- 01: a grouped split --------------------------------------------------------------------------


def _split_of(function: Callable[..., Any], groups: np.ndarray, test_size: float, seed: int,
              on: str) -> tuple[np.ndarray, np.ndarray]:
    given = groups.copy()
    train, val = _pair(_call(function, groups, test_size, seed, on=on), "the training rows and the validation rows")
    _unchanged([("groups", given, groups)])
    parts = []
    for name, part in (("training rows", train), ("validation rows", val)):
        part = np.asarray(part).ravel()
        if part.size and not np.issubdtype(part.dtype, np.integer):
            raise NotYet(f"the {name} should be row numbers (integers); yours are {part.dtype}. A boolean mask? "
                         "Return the row numbers where it is true.")
        parts.append(part.astype(np.int64))
    train, val = parts
    n = len(groups)
    outside = np.concatenate([train, val])
    outside = outside[(outside < 0) | (outside >= n)]
    if outside.size:
        raise NotYet(f"row {outside[0]} is not a row of the {n} given ({on}).")
    both = np.intersect1d(train, val)
    if both.size:
        raise NotYet(f"row {both[0]} is in both parts ({on}): each row belongs to exactly one side.")
    for name, part in (("training rows", train), ("validation rows", val)):
        if len(np.unique(part)) != len(part):
            raise NotYet(f"the {name} list a row twice ({on}).")
    missing = np.setdiff1d(np.arange(n), np.concatenate([train, val]))
    if missing.size:
        raise NotYet(f"{missing.size} of the {n} rows are in neither part ({on}); every row must land on one side.")
    straddling = np.intersect1d(groups[train], groups[val])
    if straddling.size:
        group = straddling[0].item()  # a plain int or str, printed as the student wrote it
        raise NotYet(f"group {group!r} has rows on both sides ({np.sum(groups[train] == group)} in training, "
                     f"{np.sum(groups[val] == group)} in validation; {on}): its validation frames have twins in "
                     "training -- exactly the leak a grouped split exists to prevent.")
    return train, val


def _random_groups(rng: np.random.Generator, n_groups: int, largest: int, names: bool = False) -> np.ndarray:
    sizes = rng.integers(1, largest + 1, n_groups)
    labels = rng.choice(np.arange(10, 10 * (n_groups + 50)), n_groups, replace=False)  # ids with gaps
    if names:
        labels = np.array([f"person-{label}" for label in labels])
    groups = np.repeat(labels, sizes)
    return groups[rng.permutation(len(groups))]


def _probe_grouped_split(function: Callable[..., Any], rng: np.random.Generator) -> None:
    small = _random_groups(rng, int(rng.integers(8, 15)), 6)
    _split_of(function, small, 0.2, int(rng.integers(1000)), on=f"{len(small)} rows in {len(np.unique(small))} groups")
    groups = _random_groups(rng, 300, 8)
    on = f"{len(groups)} rows in 300 groups of 1 to 8"
    seeds = rng.choice(10_000, 4, replace=False).tolist()
    first = _split_of(function, groups, 0.2, seeds[0], on=on)
    share = len(first[1]) / len(groups)
    if not 0.1 <= share <= 0.35:
        raise NotYet(f"with test_size = 0.2 your validation part holds {share:.0%} of the rows ({on}); whole groups "
                     "cannot hit 20% exactly, but they can come close.")
    again = _split_of(function, groups, 0.2, seeds[0], on=on)
    if not np.array_equal(np.sort(first[1]), np.sort(again[1])):
        raise NotYet("two calls with the same seed gave different splits: a split must be repeatable from its seed.")
    others = [_split_of(function, groups, 0.2, seed, on=on)[1] for seed in seeds[1:]]
    if all(np.array_equal(np.sort(first[1]), np.sort(other)) for other in others):
        raise NotYet("every seed gave the same split: the seed should decide which groups go to validation.")
    for share_asked in (0.1, 0.5):
        _, val = _split_of(function, groups, share_asked, seeds[1], on=on)
        if abs(len(val) / len(groups) - share_asked) > 0.1:
            raise NotYet(f"with test_size = {share_asked} your validation part holds {len(val) / len(groups):.0%} "
                         "of the rows: test_size should set the size of the validation part.")
    named = _random_groups(rng, 40, 5, names=True)
    _split_of(function, named, 0.2, seeds[2], on=f"{len(named)} rows whose groups are names such as '{named[0]}'")


# --- 02: k nearest neighbours -------------------------------------------------------------------------


def _knn_of(function: Callable[..., Any], train_images: np.ndarray, train_keypoints: np.ndarray,
            images: np.ndarray, k: int, on: str) -> np.ndarray:
    given = [a.copy() for a in (train_images, train_keypoints, images)]
    result = _call(function, train_images, train_keypoints, images, k, on=on)
    _unchanged(list(zip(("training images", "training keypoints", "images"), given,
                        (train_images, train_keypoints, images))))
    return _array(result, "your prediction", (len(images), train_keypoints.shape[1]))


def _flat_face(value: float, dtype: Any) -> np.ndarray:
    return np.full((IMAGE_SIZE, IMAGE_SIZE), value, dtype=dtype)


_KNN_FACES = (0, 30, 60, 200)
"""Four plain gray training faces; a query face of gray 25 is nearest the second, then the first."""
_KNN_LABELS = (10.0, 20.0, 40.0, 80.0)
"""Every coordinate of training face i is _KNN_LABELS[i], so an average names the faces averaged."""


def _knn_hand_case(function: Callable[..., Any], dtype: Any) -> dict[int, float | None]:
    """The prediction for k = 1 and k = 2 on the four plain faces; None when it is not one value throughout."""
    train = np.stack([_flat_face(v, dtype) for v in _KNN_FACES])
    labels = np.repeat(np.array(_KNN_LABELS)[:, None], 30, axis=1)
    query = _flat_face(25, dtype)[None]
    answers = {}
    for k in (1, 2):
        predicted = _knn_of(function, train, labels, query, k, on=f"four plain gray faces, k = {k}")
        answers[k] = float(predicted.mean()) if np.ptp(predicted) < 1e-6 or np.isnan(predicted).any() else None
    return answers


def _knn_diagnosis(answers: dict[int, float | None]) -> str:
    one, two = answers[1], answers[2]
    faces = "four plain gray training faces (gray 0, 30, 60 and 200) and a query face of gray 25"
    if one is None or two is None:
        return (f"with {faces}, each training face labelled with one value throughout, your prediction mixes "
                "values within a face: average whole keypoint rows, face by face.")
    if math.isnan(one) or math.isnan(two):
        return (f"with {faces}, your prediction for k = {1 if math.isnan(one) else 2} is NaN: an average of no faces? "
                "Check how many rows your slice keeps.")
    known = {
        (80.0, 60.0): "you took the farthest faces, not the nearest (sort the distances from small to large)",
        (10.0, 25.0): "you skipped the nearest face (the query is not one of the training faces, so the nearest "
                      "one counts)",
        (20.0, 30.0): "you added the k neighbours' keypoints but did not divide by k",
        (20.0, 20.0): "for k = 2 you used a single neighbour: check how many rows your slice keeps",
        (15.0, 70 / 3): "for k = 1 you used two neighbours and for k = 2 three: one too many",
        (20.0, 55 / 3): "you weighted the neighbours by their distance; the question asks for a plain average",
    }
    for (want_one, want_two), problem in known.items():
        if _close(one, want_one) and _close(two, want_two):
            return f"with {faces}: {problem}."
    return (f"with {faces}, your predictions for k = 1 and k = 2 are {one:.4g} and {two:.4g}, not the average of the "
            "k nearest faces' keypoints.")


def _probe_knn(function: Callable[..., Any], rng: np.random.Generator) -> None:
    n, m = int(rng.integers(12, 25)), int(rng.integers(1, 5))
    train = rng.integers(0, 256, (n, IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)
    labels = rng.uniform(10, 86, (n, 30))
    _knn_of(function, train, labels, rng.integers(0, 256, (m, IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8), 3,
            on=f"{n} training faces and {m} new ones")
    as_uint8, as_float = _knn_hand_case(function, np.uint8), _knn_hand_case(function, np.float64)
    if not (_close(as_float[1], 20.0) and _close(as_float[2], 15.0)):
        raise NotYet(_knn_diagnosis(as_float))
    if not (_close(as_uint8[1], 20.0) and _close(as_uint8[2], 15.0)):
        raise NotYet("your function is right on float images but not on uint8 ones, as training faces are stored: "
                     "uint8 arithmetic wraps around (25 - 30 gives 251), so convert the pixels to float before "
                     "subtracting.")
    # Euclidean, not the sum of absolute differences: one pixel off by 3 against four pixels off by 1.
    blank = np.zeros((IMAGE_SIZE, IMAGE_SIZE))
    one_far, four_near = blank.copy(), blank.copy()
    one_far[10, 10] = 3
    four_near[20, 20:24] = 1
    labels2 = np.array([[10.0] * 30, [20.0] * 30])
    nearest = _knn_of(function, np.stack([one_far, four_near]), labels2, blank[None], 1,
                      on="a blank query face, a face with one pixel of 3 and one with four pixels of 1")
    if _close(nearest, labels2[0][None]):
        raise NotYet("a face differing from the query by 3 in one pixel, and one differing by 1 in four pixels: "
                     "yours picks the first, so it sums absolute differences. The question asks for the "
                     "Euclidean distance (the root of the summed squares), for which the second is nearer.")
    # Fresh faces: a near copy of a training face gets that face's keypoints at k = 1; k = n averages them all.
    rows = rng.choice(n, size=min(3, n), replace=False)
    copies = train[rows].astype(np.int16)
    copies[:, rng.integers(0, IMAGE_SIZE, 5), rng.integers(0, IMAGE_SIZE, 5)] += 1
    copies = np.clip(copies, 0, 255).astype(np.uint8)
    on = f"{n} random training faces and near copies of {len(rows)} of them"
    if not _close(_knn_of(function, train, labels, copies, 1, on=on), labels[rows]):
        raise NotYet(f"with k = 1, a near copy of a training face should get that face's keypoints ({on}); "
                     "yours does not.")
    if not _close(_knn_of(function, train, labels, copies, n, on=on), np.repeat(labels.mean(0)[None], len(rows), 0)):
        raise NotYet(f"with k equal to the number of training faces ({n}), every face should get the average of "
                     "all their keypoints; yours does not.")


# --- 02: one RMSprop step, Keras 2 and Keras 3 ------------------------------------------------------

_LR, _RHO, _EPSILON = 0.001, 0.9, 1e-7
_STEP = 1e-3
"""Relative tolerance on one step's size: the versions' steps differ by 100x where it matters, by 1e-7 elsewhere."""


def _rmsprop_of(function: Callable[..., Any], weight: np.ndarray, gradient: np.ndarray, velocity: np.ndarray,
                keras: int, on: str) -> tuple[np.ndarray, np.ndarray]:
    given = [a.copy() for a in (weight, gradient, velocity)]
    new_weight, new_velocity = _pair(_call(function, weight, gradient, velocity, keras, on=on),
                                     "the new weight and the new velocity")
    _unchanged(list(zip(("weights", "gradients", "velocities"), given, (weight, gradient, velocity))))
    return (_array(new_weight, "the new weight", weight.shape),
            _array(new_velocity, "the new velocity", weight.shape))


def _velocity_problem(new: float) -> str:
    known = {0.2: "it averages the gradient, not its square",
             3.6: "rho and 1 - rho are swapped (rho weighs the old average, 1 - rho the new squared gradient)",
             4.0: "it is the squared gradient alone, not a running average",
             0.0: "it was not updated"}
    for value, problem in known.items():
        if _close(new, value):
            return f"after one step from velocity 0 with gradient 2, your velocity is {new:.4g}: {problem}."
    return f"after one step from velocity 0 with gradient 2, your velocity is {new:.4g}, not a running average of the squared gradient."


def _probe_rmsprop(function: Callable[..., Any], rng: np.random.Generator) -> None:
    one = np.array([1.0])
    for keras in (2, 3):
        weight, velocity = _rmsprop_of(function, one.copy(), np.array([2.0]), np.array([0.0]), keras,
                                       on=f"weight 1, gradient 2, velocity 0, keras = {keras}")
        v = (1 - _RHO) * 2.0**2
        if not _close(velocity, v):
            raise NotYet(_velocity_problem(float(velocity[0])))
        moved = float(weight[0]) - 1.0
        near_step = _LR * 2 / math.sqrt(v)
        if moved > 0:
            raise NotYet(f"with a positive gradient your weight went up (keras = {keras}): a step goes against the "
                         "gradient (sign error).")
        if _close(-moved, 2 / math.sqrt(v), _STEP):
            raise NotYet("your step is a thousand times too large: the learning rate is missing.")
        if _close(-moved, _LR * 2 / _EPSILON, _STEP) or _close(-moved, _LR * 2 / math.sqrt(_EPSILON), _STEP):
            raise NotYet("your step divides by the velocity before it was updated (here 0, so only epsilon is left): "
                         "update the velocity first, then use it.")
        if _close(-moved, _LR * 2 / v, _STEP):
            raise NotYet("your step divides by the velocity itself; RMSprop divides by its square root.")
        if not _close(-moved, near_step, _STEP):
            raise NotYet(f"from weight 1 with gradient 2 and velocity 0, your weight became {float(weight[0]):.6g} "
                         f"(keras = {keras}); that is not one RMSprop step.")
    # A tiny gradient, where the two placements of epsilon part ways.
    tiny = 1e-5
    v = (1 - _RHO) * tiny**2
    keras2 = _LR * tiny / (math.sqrt(v) + _EPSILON)
    keras3 = _LR * tiny / math.sqrt(v + _EPSILON)
    steps = {}
    for keras in (2, 3):
        weight, _ = _rmsprop_of(function, one.copy(), np.array([tiny]), np.array([0.0]), keras,
                                on=f"a tiny gradient (1e-5), keras = {keras}")
        steps[keras] = 1.0 - float(weight[0])
    if _close(steps[2], steps[3], _STEP, 0):
        raise NotYet("for a tiny gradient (1e-5) keras = 2 and keras = 3 take the same step: the argument keras "
                     "should decide where epsilon goes.")
    if _close(steps[2], keras3, _STEP, 0) and _close(steps[3], keras2, _STEP, 0):
        raise NotYet("for a tiny gradient (1e-5) your keras = 2 and keras = 3 steps are swapped: check which version "
                     "puts epsilon under the root.")
    for keras, right in ((2, keras2), (3, keras3)):
        if not _close(steps[keras], right, _STEP, 0):
            raise NotYet(f"for a tiny gradient (1e-5) your keras = {keras} step is {steps[keras]:.4g}: check where "
                         "epsilon goes for that version.")
    # Fresh arrays of any shape, gradients of every size, velocities already warm.
    shape = tuple(int(s) for s in rng.integers(1, 5, int(rng.integers(1, 3))))
    weight = rng.normal(size=shape)
    gradient = rng.choice([-1, 1], size=shape) * 10.0 ** rng.uniform(-7, 0, size=shape)
    velocity = rng.uniform(0, 1e-4, size=shape)
    new_v = _RHO * velocity + (1 - _RHO) * gradient**2
    for keras, root in ((2, np.sqrt(new_v) + _EPSILON), (3, np.sqrt(new_v + _EPSILON))):
        got_w, got_v = _rmsprop_of(function, weight.copy(), gradient, velocity, keras,
                                   on=f"arrays of shape {shape}, keras = {keras}")
        if not (_close(got_v, new_v, 1e-6, 0) and _close(got_w, weight - _LR * gradient / root, 1e-9, 0)):
            raise NotYet(f"on arrays of shape {shape} with gradients from 1e-7 to 1 and velocities already warm, "
                         f"your keras = {keras} step differs from RMSprop's: does every operation work element by "
                         "element, and does each weight use its own velocity?")


# --- 03: the mirror --------------------------------------------------------------------------------

_PARTNER = {**dict(FLIP_PAIRS), **{right: left for left, right in FLIP_PAIRS}}

_HAND_PLACED = np.array([
    67.0, 38.0, 31.0, 37.0,            # eye centres: the subject's left eye is on the image's right
    60.0, 39.0, 74.5, 39.5,            # left eye inner, outer corners
    38.5, 38.5, 23.0, 38.0,            # right eye inner, outer corners
    58.0, 29.0, 81.0, 30.0,            # left eyebrow inner, outer ends
    40.0, 28.5, 17.5, 29.5,            # right eyebrow inner, outer ends
    50.5, 62.0,                        # nose tip
    65.0, 76.0, 33.5, 76.5,            # mouth left, right corners
    49.5, 72.0, 50.0, 83.0,            # top and bottom lip
])
"""A face turned a little to one side (no two mistakes land its points in the same place)."""


def _mirror_of(function: Callable[..., Any], images: np.ndarray, keypoints: np.ndarray,
               on: str) -> tuple[np.ndarray, np.ndarray]:
    given = (images.copy(), keypoints.copy())
    got_images, got_points = _pair(_call(function, images, keypoints, on=on),
                                   "the mirrored images and their keypoints")
    _unchanged([("images", given[0], images), ("keypoints", given[1], keypoints)])
    got_images = np.asarray(got_images)
    if got_images.shape != images.shape:
        raise NotYet(f"your images have shape {got_images.shape}; the faces passed in had shape {images.shape} "
                     f"({on}).")
    if np.issubdtype(np.asarray(got_points).dtype, np.integer):
        raise NotYet("your keypoints come back as integers: positions like 30.5 would lose their half pixel.")
    return got_images, _array(got_points, "your keypoints", keypoints.shape)


def _image_problem(images: np.ndarray, got: np.ndarray) -> str | None:
    if np.array_equal(got, images[:, :, ::-1]):
        return None
    if np.array_equal(got, images):
        return "your images are the ones passed in: the pixels must be mirrored too."
    if np.array_equal(got, images[:, ::-1, :]):
        return "your images are upside down (rows reversed): a left-right mirror reverses the columns."
    if got.dtype != images.dtype and _close(got * 255, images[:, :, ::-1], 0, 1e-3):
        return "your images are mirrored but divided by 255: return the pixels as they came, only mirrored."
    if np.array_equal(got, images[::-1]):
        return "you reversed the order of the faces, not each face."
    if np.array_equal(got, images[::-1, ::-1, ::-1]) or np.array_equal(got, images[:, ::-1, ::-1]):
        return "your images are turned upside down as well as mirrored: a left-right mirror keeps the rows."
    return "your images are not the faces mirrored left to right."


def _keypoint_problem(name: str, given: np.ndarray, got: np.ndarray) -> str | None:
    """What is wrong with keypoint ``name`` of one mirrored face (pixels), or None."""
    k, p = KEYPOINT_NAMES.index(name), KEYPOINT_NAMES.index(_PARTNER.get(name, name))
    own, source, out = given[2 * k: 2 * k + 2], given[2 * p: 2 * p + 2], got[2 * k: 2 * k + 2]
    partner = KEYPOINT_NAMES[p]
    paired = p != k
    if np.isnan(source).any():
        if not np.isnan(out).all():
            if paired and not np.isnan(own).any() and _close(out, [IMAGE_SIZE - own[0], own[1]]):
                return (f"{name} stayed with its old point, mirrored; after mirroring, the subject's {name} is the "
                        f"point that was {partner} -- and that one is missing here, so {name} must come out missing "
                        "(labels of left/right pairs not swapped).")
            return f"a missing keypoint came back as the number {out[0]:.4g}: missing stays missing (NaN)."
        return None
    if np.isnan(out).any():
        if paired and np.isnan(own).any():
            return (f"{name} came out missing because the old {name} was; but the mirrored face's {name} is the point "
                    f"that was {partner}, which is there (labels of left/right pairs not swapped).")
        return f"{name} came out missing (NaN) although the face has that point."
    mirrored_x = IMAGE_SIZE - source[0]
    if _close(out, [mirrored_x, source[1]]):
        return None
    if paired and _close(out, [IMAGE_SIZE - own[0], own[1]]):
        return (f"your {name} is the old {name} mirrored, but in the mirrored face that point is the subject's "
                f"{partner}: the labels of each left/right pair must trade places too ({name} and {partner} here).")
    if _close(out, [IMAGE_SIZE - 1 - source[0], source[1]]):
        return ("your x is one pixel off: 95 - x instead of 96 - x. Pixel c covers [c, c + 1), so the image spans "
                "[0, 96], and 95 - x shifts every mirrored label by a pixel.")
    if _close(out, source):
        return f"your {name} took its new label but x was not mirrored."
    if _close(out, [mirrored_x, IMAGE_SIZE - source[1]]):
        return "you mirrored y as well: a left-right mirror keeps every y."
    if paired and _close(out, [mirrored_x, own[1]]):
        return f"you swapped the x of {name} and {partner} but not their y: a keypoint's x and y move together."
    if paired and _close(out, [IMAGE_SIZE - own[0], source[1]]):
        return f"you swapped the y of {name} and {partner} but not their x: a keypoint's x and y move together."
    if np.all(np.abs(got[~np.isnan(got)]) <= 2):
        return "your keypoints look normalised ((px - 48) / 48): this function takes and returns pixels."
    return (f"on a face whose {name} was at ({own[0]:.1f}, {own[1]:.1f}) and {partner} at "
            f"({source[0]:.1f}, {source[1]:.1f}), your mirrored {name} is at ({out[0]:.2f}, {out[1]:.2f}), which "
            "is not where the mirrored face has it.")


def _face_problem(given: np.ndarray, got: np.ndarray) -> str | None:
    if np.array_equal(got, given, equal_nan=True):
        return "your keypoints are the ones passed in: mirror them too."
    # Eye centres first: the pair a reader checks by eye.
    for name in ("left_eye_center", *KEYPOINT_NAMES):
        problem = _keypoint_problem(name, given, got)
        if problem:
            return problem
    return None


def _probe_mirror(function: Callable[..., Any], rng: np.random.Generator) -> None:
    n = int(rng.integers(2, 6))
    images = rng.integers(0, 256, (n, IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)
    points = rng.uniform(6, 90, (n, 15, 2))
    points[rng.random((n, 15)) < 0.25] = np.nan  # missing keypoints: x and y together
    points = points.reshape(n, 30)
    on = f"{n} random faces"
    got_images, got_points = _mirror_of(function, images, points, on)
    problem = _image_problem(images, got_images)
    if problem:
        raise NotYet(problem)
    hand = _HAND_PLACED[None].copy()
    _, placed = _mirror_of(function, images[:1], hand, "a hand-placed face")
    problem = _face_problem(hand[0], placed[0])
    if problem:
        raise NotYet(f"on a hand-placed face: {problem}")
    for face in range(n):
        problem = _face_problem(points[face], got_points[face])
        if problem:
            raise NotYet(f"on random faces with missing keypoints: {problem}")
    back_images, back_points = _mirror_of(function, got_images, got_points, f"your own mirrored {on}")
    if not (np.array_equal(back_images, images) and _close(back_points, points)):
        raise NotYet("mirroring twice does not give the faces back.")


# --- 04: the winner's luck -----------------------------------------------------------------------


def _optimism_of(function: Callable[..., Any], true_rmse: Sequence[float], noise: float, trials: int,
                 seed: int) -> float:
    true = np.array(true_rmse, dtype=np.float64)
    on = f"true RMSEs {list(true_rmse)}, noise {noise}, {trials} trials"
    value = _number(_call(function, true, noise, trials, np.random.default_rng(seed), on=on), "the optimism")
    _unchanged([("true RMSEs", np.array(true_rmse, dtype=np.float64), true)])
    if not math.isfinite(value):
        raise NotYet(f"your optimism is {value} ({on}).")
    return value


def _simulate(true: np.ndarray, noise: float, trials: int, rng: np.random.Generator,
              baseline: str = "chosen") -> float:
    """The definition, by brute force: measure, choose the lowest, compare with a true score."""
    measured = true + rng.normal(0, noise, (trials, len(true)))
    winner = measured.argmin(axis=1)
    truth = true[winner] if baseline == "chosen" else np.full(trials, true.min())
    return float(np.mean(truth - measured[np.arange(trials), winner]))


def _probe_optimism(function: Callable[..., Any], rng: np.random.Generator) -> None:
    trials, seed = 20_000, int(rng.integers(1 << 30))
    alone = _optimism_of(function, [1.5], 0.1, trials, seed)
    if abs(alone) > 0.01:
        raise NotYet(f"with a single model there is no choice to be lucky in, so no optimism; yours is {alone:.3g}.")
    level = float(rng.uniform(1, 3))
    two = _optimism_of(function, [level, level], 1.0, trials, seed)
    if two < -0.02:
        raise NotYet(f"two equally good models measured with noise 1: your optimism is {two:.3g}, negative. The "
                     "winner (the lower measured RMSE) looks better than it is, so its true RMSE minus its measured "
                     "one is positive: a sign error, or the highest RMSE chosen.")
    if abs(two - 2 / math.sqrt(math.pi)) < 0.05:
        raise NotYet("two equally good models measured with noise 1: yours returns about the gap between the two "
                     "measured scores, not how much the winner's measured score flatters it.")
    if abs(two) < 0.05:
        raise NotYet("two equally good models measured with noise 1: your optimism is about 0. The winner is "
                     "whichever had the luckier draw, so its measured score should sit below its true one.")
    expected = _simulate(np.array([level, level]), 1.0, 400_000, rng)
    if abs(two - expected) > 0.03:
        raise NotYet(f"two equally good models measured with noise 1: your optimism is {two:.3g}, which a simulation "
                     "of the described procedure does not bear out.")
    quarter = _optimism_of(function, [level, level], 0.25, trials, seed)
    if abs(quarter - 0.5 * two) < 0.02 and abs(quarter - 0.25 * two) > 0.02:
        raise NotYet("your optimism grows like the square root of the noise: noise is the standard deviation of a "
                     "measured score, not its variance.")
    if abs(quarter - 0.25 * two) > 0.02:
        raise NotYet("with noise 0.25 instead of 1 the optimism should shrink in proportion; yours does not.")
    far = _optimism_of(function, [1.0, 2.0, 2.0], 0.05, trials, seed)
    if abs(far) > 0.005:
        raise NotYet(f"one model far better than two others (1.0 against 2.0, noise 0.05) wins every time, so its "
                     f"luck averages out; your optimism there is {far:.3g}, not about 0.")
    close = np.array([1.0, 1.05])
    got = _optimism_of(function, close, 0.1, trials, seed)
    right = _simulate(close, 0.1, 400_000, rng)
    if abs(got - right) > 0.005:
        if abs(got - _simulate(close, 0.1, 400_000, rng, baseline="best")) < 0.005:
            raise NotYet("for two close models (1.0 and 1.05, noise 0.1) you compared the winner's measured score "
                         "with the best true RMSE; compare it with the true RMSE of the model that was chosen.")
        raise NotYet(f"for two close models (1.0 and 1.05, noise 0.1) your optimism is {got:.3g}, which a simulation "
                     "of the described procedure does not bear out.")
    if _optimism_of(function, close, 0.1, 2000, seed) != _optimism_of(function, close, 0.1, 2000, seed):
        raise NotYet("two calls with the same rng seed gave different results: draw the noise from the rng you are "
                     "given, so a result can be repeated.")


# --- 05: the masked loss ---------------------------------------------------------------------------


def _loss_of(function: Callable[..., Any], y_true: np.ndarray, y_pred: np.ndarray, on: str) -> float:
    given = (y_true.copy(), y_pred.copy())
    value = _number(_call(function, y_true, y_pred, on=on), "the loss")
    _unchanged([("targets", given[0], y_true), ("predictions", given[1], y_pred)])
    return value


def _probe_masked_mse(function: Callable[..., Any], rng: np.random.Generator) -> None:
    y_true = np.array([[1.0, np.nan], [3.0, 4.0]])
    y_pred = np.array([[2.0, 100.0], [3.0, 2.0]])
    value = _loss_of(function, y_true, y_pred, on="two faces, one label missing")
    known = {
        5 / 4: "you divided by every coordinate, the missing one included: average over the labelled ones only",
        5.0: "you added the squared errors but did not divide by how many there are",
        math.sqrt(5 / 3): "you took a square root: the loss is the mean squared error, not its root",
        1.0: "you averaged absolute errors; the loss squares them",
        -1 / 3: "you averaged the errors themselves: errors of opposite signs cancel; square them first",
        1.5: "you averaged each face first, then the faces: a face with one label then weighs as much as a face "
             "with two. Average over every labelled coordinate of the batch at once",
        (1 + 100**2 + 4) / 4: "a missing target was treated as 0, so the prediction there counted as a huge error",
        (1 + 100**2 + 4) / 3: "a missing target was treated as 0, so the prediction there counted as a huge error",
    }
    if math.isnan(value):
        raise NotYet("your loss is NaN when a target is missing: NaN spreads through every sum it enters; leave the "
                     "missing coordinates out.")
    if not _close(value, 5 / 3, 1e-5):
        for wrong, problem in known.items():
            if _close(value, wrong, 1e-5):
                raise NotYet(f"on two faces with one label missing, {problem}.")
        raise NotYet(f"on two faces with one label missing your loss is {value:.4g}, not the mean squared error over "
                     "the labelled coordinates.")
    nothing = _loss_of(function, np.full((2, 4), np.nan), np.zeros((2, 4)), on="a batch without any label")
    if nothing != 0:
        raise NotYet(f"a batch without any label should give a loss of 0 (nothing to learn), not {nothing}: "
                     "0 divided by 0 is NaN.")
    batch, width = int(rng.integers(3, 9)), int(rng.choice([4, 30]))
    y_true = rng.normal(size=(batch, width))
    y_true[rng.random((batch, width)) < 0.4] = np.nan
    y_true[0, 0] = 0.5  # at least one label
    y_pred = rng.normal(size=(batch, width))
    present = ~np.isnan(y_true)
    got = _loss_of(function, y_true, y_pred, on=f"a random batch of {batch} x {width}")
    if not _close(got, np.mean((y_pred - y_true)[present] ** 2), 1e-5):
        raise NotYet(f"on a random batch of {batch} x {width} with missing labels your loss is {got:.4g}, not the "
                     "mean squared error over the labelled coordinates.")
    changed = y_pred.copy()
    changed[~present] += 50
    if not _close(_loss_of(function, y_true, changed, on="the same batch"), got, 1e-5):
        raise NotYet("your loss changes when predictions change where the label is missing: those must not count.")


# --- 06: the RMSE in pixels ------------------------------------------------------------------------


def _probe_rmse_px(function: Callable[..., Any], rng: np.random.Generator) -> None:
    true = np.array([[0.0, 0.0, np.nan, 0.0]])
    pred = np.array([[0.5, 0.0, 0.3, 0.0]])
    given = (true.copy(), pred.copy())
    value = _number(_call(function, true, pred, on="one face, one label missing"), "the RMSE")
    _unchanged([("targets", given[0], true), ("predictions", given[1], pred)])
    mse = 0.25 / 3
    known = {
        math.sqrt(mse): "this is still in normalised units: one normalised unit is 48 pixels",
        math.sqrt(mse) * 96: "one normalised unit is 48 pixels (half the image), not 96",
        math.sqrt(mse * 48): "you multiplied by 48 under the root; scale the error, not the squared error",
        mse * 48: "you forgot the square root",
        mse * 48**2: "you forgot the square root",
        math.sqrt(0.25 / 4) * 48: "you divided by every coordinate, the missing one included",
        math.sqrt((0.25 + 0.09) / 4) * 48: "a missing target was treated as 0",
        math.sqrt(mse) / 48: "you divided by 48; going from normalised units to pixels multiplies",
    }
    if math.isnan(value):
        raise NotYet("your RMSE is NaN when a target is missing: leave the missing coordinates out.")
    if not _close(value, math.sqrt(mse) * 48, 1e-5):
        for wrong, problem in known.items():
            if _close(value, wrong, 1e-5):
                raise NotYet(f"on one face with one label missing: {problem}.")
        raise NotYet(f"on one face with one label missing your RMSE is {value:.4g} px, not the root mean squared error "
                     "of the labelled coordinates in pixels.")
    two_faces = _number(_call(function, np.array([[0.0, 0.0], [0.0, np.nan]]), np.array([[0.1, 0.1], [0.4, 0.0]]),
                              on="two faces"), "the RMSE")
    if _close(two_faces, 0.25 * 48, 1e-5):
        raise NotYet("you averaged each face's RMSE; Kaggle's RMSE is the root of the mean over every labelled "
                     "coordinate of every face at once.")
    batch = int(rng.integers(2, 7))
    true = rng.uniform(-1, 1, (batch, 30))
    true[rng.random((batch, 30)) < 0.5] = np.nan
    true[0, :2] = 0.1
    pred = rng.uniform(-1, 1, (batch, 30))
    got = _number(_call(function, true, pred, on=f"{batch} random faces"), "the RMSE")
    errors = (pred - true)[~np.isnan(true)] * 48
    if not _close(got, math.sqrt(np.mean(errors**2)), 1e-5):
        raise NotYet(f"on {batch} random faces with missing labels your RMSE is {got:.4g} px, not the root mean squared "
                     "error of the labelled coordinates in pixels.")


# --- "Why" questions --------------------------------------------------------------------------------

_WHY = [
    Why("01-why-leak", "The study's random split puts near-duplicates of most validation faces in training. "
        "Why does that make its validation RMSE too optimistic?", {
            "a": Choice("The random split leaves fewer faces for validation, so its RMSE is noisier.",
                        "Both splits keep about a fifth of the faces for validation. And noise errs both ways; the "
                        "leak pushes the score one way only."),
            "b": Choice("Near-duplicate faces were labelled more carefully.",
                        "Labelling did not depend on which side of the split a face would land. What changes is "
                        "what the model has seen."),
            "c": Choice("A validation face's twin in training carries nearly the same keypoints, so a model can "
                        "recall them instead of finding them.",
                        "The score then measures recall of people already seen, which new faces do not allow. "
                        "k-NN, which answers with its nearest training faces' labels, profits most."),
            "d": Choice("The validation faces were also used to choose the model.",
                        "That is selection bias (notebook 04): a flaw of its own, which stays even with a leak-free "
                        "split."),
        }, "668962058c8b1def"),
    Why("02-why-dead", "cnn_baseline_keras3's dense units died in its first epochs. Why do more epochs not bring "
        "them back?", {
            "a": Choice("The learning rate decays to zero over training.",
                        "The study's networks train with a constant learning rate; nothing decays."),
            "b": Choice("The network overfits its training faces.",
                        "Overfitting lowers the training error while the validation error rises; here both stay "
                        "at the mean face's."),
            "c": Choice("Dropout switches those units off.",
                        "Dropout silences a random few units on each training batch, different ones every time, "
                        "and none at prediction time. A dead unit is silent on every face, always."),
            "d": Choice("A ReLU that outputs 0 for every face has a zero gradient, so no update reaches its weights.",
                        "With no gradient, no optimizer step can move the unit's weights back to where it fires; "
                        "the output layer's bias learns the average answer, and that is all that is left."),
        }, "7bb28ba1db31ae21"),
    Why("03-why-swap", "A flip augmentation mirrors the pixels and sets every x to 96 - x, but keeps each "
        "keypoint's label. What does a network trained on it learn?", {
            "a": Choice("The same as with the swap: the mirrored points are in the right places.",
                        "The places are right but the names are not: the point labelled left_eye_center now sits "
                        "where right eyes sit on unflipped faces."),
            "b": Choice("That the left eye is on one side of the image on half its faces and on the other side on the "
                        "rest, so it answers somewhere between the two eyes.",
                        "Conflicting targets for the same kind of face: the loss is lowest near their average, the "
                        "middle of the face, so every paired keypoint drifts towards it."),
            "c": Choice("The same, faster: every face is shown twice.",
                        "An epoch still shows each face once; the flip only changes half of them."),
            "d": Choice("Mirrored answers: on an unflipped face it swaps left and right.",
                        "To answer mirrored it would have to know which faces were flipped; it cannot. It sees both "
                        "labellings for faces of the same kind and settles between them."),
        }, "3469d6b49ff79ba8"),
    Why("04-why-no-verdict", "Two grid points differ by less than the seed spread measured above. What can you "
        "conclude?", {
            "a": Choice("The lower one is better, by exactly that gap.",
                        "One run's score moves by up to the seed spread from seed to seed; the gap could be the "
                        "seeds alone."),
            "b": Choice("They are equally good.",
                        "A gap inside the noise does not show they are equal either; it shows this experiment "
                        "cannot tell."),
            "c": Choice("The one the study chose is better, since the study trained it longer.",
                        "The study's figures are single runs too, on other data; its own modelh_6 and modelh_9 (one "
                        "config) differ by 0.01 px."),
            "d": Choice("Nothing yet: the seeds alone could make that gap; train several seeds of both before "
                        "deciding.",
                        "A difference counts only when it is larger than what changing the seed does. More seeds of "
                        "both configs narrow the uncertainty of each mean."),
        }, "d896122695b70cca"),
    Why("04-why-optimistic", "Suppose the study's split had no leak. Why would its reported 1.36 px still be "
        "optimistic?", {
            "a": Choice("Because 300 epochs overfit.",
                        "Overfitting makes a validation score worse, not flattering."),
            "b": Choice("Because its model was chosen among many by the same validation faces that then scored it; "
                        "the winner's score includes its luck on those faces.",
                        "Among near-equal models the winner is partly the luckiest, and its luck does not carry "
                        "over to new faces. Only faces no choice was made on give an unbiased score."),
            "c": Choice("Because near-duplicates of validation faces were in training.",
                        "The question removes the leak; this bias stays without it."),
            "d": Choice("Because validation faces are easier than test faces.",
                        "Nothing makes a random fifth of the faces easier; the optimism comes from the choice, and "
                        "it stays with faces of equal difficulty."),
        }, "fca671bf7158cdd6"),
    Why("05-why-ffill", "What does ffill teach the network about the mouth corners of a face from the four-keypoint "
        "batch?", {
            "a": Choice("Its own mouth corners, estimated from similar faces.",
                        "ffill estimates nothing: it copies the value of the row above, whoever that face is."),
            "b": Choice("Nothing: the loss skips them.",
                        "That is the masked loss. ffill fills them, so the loss counts them."),
            "c": Choice("The mean face's mouth corners.",
                        "That would be filling with the mean, which fkd does not try (its targets would be wrong "
                        "too, though by less on average)."),
            "d": Choice("Another face's mouth corners -- those of the nearest labelled row above it in the file -- so "
                        "wherever the two faces differ, it learns a wrong target.",
                        "Rows of a file are not ordered by face shape: the copied corners belong to someone else, "
                        "and the network is trained to put them there."),
        }, "555150c4402d198a"),
    Why("05-why-count", "masked_mse divides by the number of labelled coordinates in the batch, not by the number of "
        "all coordinates. Why?", {
            "a": Choice("To keep NaN out of the gradient.",
                        "Leaving the missing coordinates out of the sum does that; the divisor only sets the size "
                        "of the loss."),
            "b": Choice("Dividing by all coordinates would count every missing one as a perfect guess, so a batch of "
                        "four-keypoint faces would report a small loss and take small steps.",
                        "Its loss would be diluted by 22 zero errors per four-keypoint face: the labels it does have "
                        "would teach less than the same labels on complete faces."),
            "c": Choice("Because a batch always has 30 coordinates per face.",
                        "Only complete faces have 30 labelled coordinates; most faces have 8."),
            "d": Choice("So that the reported RMSE in pixels comes out right.",
                        "The reported RMSE is computed separately; the question is about what the network learns "
                        "from."),
        }, "3856345be771bbbc"),
    Why("06-why-splits", "In the final table a run on the study split scores lower than a run on the grouped split. "
        "What does that say about the two models?", {
            "a": Choice("The study-split model is better.",
                        "They were scored on different faces, and the study split's validation faces have twins in "
                        "its training faces (notebook 01): that score is flattered."),
            "b": Choice("The grouped split is broken, since its scores are worse.",
                        "Worse on people never seen is the honest figure; the grouped split keeps each group of "
                        "look-alikes on one side."),
            "c": Choice("Little: runs on different splits were scored on different faces; compare models within one "
                        "split.",
                        "Within one split every run is scored on the same faces, so a gap there is about the "
                        "models (and the seeds)."),
            "d": Choice("The average of the two scores is the fair figure for both.",
                        "An average of two scores on different faces, one leaky, describes neither model."),
        }, "4750324feb3b6022"),
    Why("06-why-not-learned", "A network's row reads x mean face 0.97 and Learned? NO. What does its RMSE tell you "
        "about its architecture?", {
            "a": Choice("That the architecture is poor.",
                        "It shows that this run stopped before it learned (or its units died, notebook 02); the same "
                        "architecture may do well with more epochs or another optimizer."),
            "b": Choice("Its keypoints are off by 0.97 px on average.",
                        "x mean face is a ratio, the RMSE divided by the mean face's, not pixels."),
            "c": Choice("Almost nothing: it answers every face with about the average one, so its score is the mean "
                        "face's.",
                        "A network still at the mean face is scored as the mean face; its architecture has not had "
                        "its say yet."),
            "d": Choice("That it beats k-NN whenever its RMSE is lower.",
                        "Only runs on the same split compare, and a network at the mean face has not learned "
                        "anything a comparison could credit."),
        }, "432b272f65b13219"),
]


# --- Predictions --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bands:
    """Ordered choices cut at thresholds; a value within a threshold's margin bears out both neighbours.

    The margins are what keeps the verdict from flipping with the seed: a measurement that close to
    a threshold cannot say which side it belongs to.
    """

    choices: tuple[str, ...]
    """From the lowest band to the highest."""
    thresholds: tuple[tuple[float, float], ...]
    """(threshold, margin), one fewer than the choices, increasing."""

    def borne_out(self, value: float) -> frozenset[str]:
        found = {self.choices[sum(value > threshold for threshold, _ in self.thresholds)]}
        for i, (threshold, margin) in enumerate(self.thresholds):
            if abs(value - threshold) <= margin:
                found |= {self.choices[i], self.choices[i + 1]}
        return frozenset(found)


class _Inconclusive(Exception):
    """The run cannot decide the prediction (said why); nothing is graded."""


def _judge_leak(without: float, with_leak: float) -> tuple[frozenset[str], str]:
    change = (with_leak - without) / without
    bands = Bands(("a", "b", "c"), ((-0.05, 0.02), (0.05, 0.02)))
    return bands.borne_out(change), (f"k-NN scored {without:.2f} px without the leaked frames and {with_leak:.2f} px "
                                     f"with them, on the same validation faces ({change:+.0%})")


def _last(values: Any) -> float:
    return float(values[-1]) if isinstance(values, (list, tuple, np.ndarray)) else float(values)


def _judge_keras3(keras2: Any, keras3: Any) -> tuple[frozenset[str], str]:
    alive2, alive3 = _last(keras2), _last(keras3)
    bands = Bands(("b", "a", "c"), ((-0.25, 0.05), (0.25, 0.05)))
    return bands.borne_out(alive3 - alive2), (f"after training, {alive2:.0%} of the dense units were alive under "
                                              f"Keras 2's RMSprop and {alive3:.0%} under Keras 3's")


def _judge_mirror_back(errors: Mapping[str, float]) -> tuple[frozenset[str], str]:
    swapped, unswapped = errors["mirrored_back"], errors["mirrored_back_unswapped"]
    bands = Bands(("a", "b", "c"), ((0.5, 0.1), (3.0, 0.6)))
    return bands.borne_out(unswapped - swapped), (
        f"answers on mirrored faces, mirrored back: {swapped:.2f} px with the labels swapped, {unswapped:.2f} px "
        f"without (and {errors['direct']:.2f} px on the faces as they are)")


def _judge_spread(spread: Any) -> tuple[frozenset[str], str]:
    value = getattr(spread, "value", spread)
    if value is None:
        raise _Inconclusive("too few of the seeds' runs left the mean face to measure a spread")
    bands = Bands(("a", "b", "c"), ((0.02, 0.005), (0.2, 0.05)))
    return bands.borne_out(float(value)), f"the seed spread (largest minus smallest score) was {float(value):.3f} px"


def _judge_policy(scores: Mapping[str, float], spread: Any) -> tuple[frozenset[str], str]:
    tolerance = getattr(spread, "value", spread)
    if tolerance is None:
        raise _Inconclusive("there is no seed spread to judge the gaps against")
    best = min(scores.values())
    near = frozenset(policy for policy, score in scores.items() if score <= best + float(tolerance))
    listed = ", ".join(f"{policy} {score:.3f} px" for policy, score in sorted(scores.items(), key=lambda kv: kv[1]))
    return near, f"{listed}; the seed spread is {float(tolerance):.3f} px, so policies within it of the best tie"


_PREDICTIONS = [
    Prediction("01-leak", "k-NN is trained twice and scored on the same validation faces: without, then with "
               "other frames of those same people in training. What will the leaked frames do to its RMSE?",
               {"a": "lower it by more than 5%", "b": "change it by less than 5% either way",
                "c": "raise it by more than 5%"},
               _judge_leak, {
                   "a": "k-NN answers with the labels of its nearest training faces: a frame of the same person is "
                        "the nearest of all, so the leak hands it the answer.",
                   "b": "On these faces the leaked frames barely help: either few people have several frames, or "
                        "their frames differ as much as different people's do.",
                   "c": "Leaked frames made k-NN worse here, which is unusual: look at the groups in this notebook; "
                        "are they one person each?"},
               on_runs=False),
    Prediction("02-keras3-units", "cnn_baseline is trained for the same epochs under Keras 2's RMSprop and under "
               "Keras 3's. After training, how many of its dense layer's units will still fire under Keras 3's?",
               {"a": "about as many as under Keras 2's (within 25 points)",
                "b": "far fewer than under Keras 2's", "c": "far more than under Keras 2's"},
               _judge_keras3, {
                   "a": "The two updates kept the dense layer alike here: with these faces and epochs, the small "
                        "gradients where they differ did not decide the units' fate.",
                   "b": "Under Keras 3's update the tiny gradients of the 135,424 x 50 dense layer barely move its "
                        "weights while the large ones push units to where they never fire; once dead, they stay "
                        "dead.",
                   "c": "Keras 3's update kept more units alive here, the opposite of the study's case: compare the "
                        "two learning curves before drawing a lesson."}),
    Prediction("03-mirror-back", "A network trained with flips answers mirrored faces; its answers are mirrored back "
               "onto the original faces, once with left and right labels swapped and once without. How much worse "
               "will the answers mirrored back without the swap be?",
               {"a": "about the same (within 0.5 px)", "b": "a little worse (0.5 to 3 px)",
                "c": "much worse (more than 3 px)"},
               _judge_mirror_back, {
                   "a": "Hardly any difference: this network puts each left keypoint about where its right "
                        "partner goes, near the middle of the face -- what flips without the swap would teach it "
                        "(the why question below).",
                   "b": "Worse, but not by much: the pairs' points must be close together on these faces.",
                   "c": "Without the swap every left keypoint is scored against the right one's place: the error is "
                        "about the distance between the eyes, or the mouth corners, on every paired keypoint."}),
    Prediction("04-seed-spread", "cnn_flip is trained with several seeds, nothing else changed. How far apart will "
               "its best and worst validation RMSE be?",
               {"a": "less than 0.02 px", "b": "0.02 to 0.2 px", "c": "more than 0.2 px"},
               _judge_spread, {
                   "a": "Tiny: on these faces, gaps of a few hundredths of a pixel between configs could be real.",
                   "b": "Several hundredths to tenths of a pixel from the seed alone: most of the study's tuning "
                        "gaps are inside that.",
                   "c": "More than a fifth of a pixel from the seed alone: a single run per config can rank configs "
                        "almost at random."}),
    Prediction("05-best-policy", "The same network is trained under each missing-label policy and scored on the "
               "grouped split's validation faces (incomplete faces included). Which policy will score best?",
               {"dropna": "dropna", "ffill": "ffill", "masked": "masked"},
               _judge_policy, {
                   "dropna": "Complete faces only did best (or tied): the other policies' extra rows did not pay off "
                             "at this budget.",
                   "ffill": "ffill did best (or tied) despite its copied targets: look at which keypoints it "
                            "filled, and on how many faces.",
                   "masked": "Every label, and only true ones: masked learns from all faces without teaching a "
                             "single copied target."}),
]

_IMPLEMENT = [
    Implement("01-grouped-split", "grouped_split", _probe_grouped_split,
              "no group on both sides, every row on one side, the size test_size asks for, repeatable from its seed, "
              "on fresh groups (numbered and named)",
              borrowed=(("fkd.splits", "grouped_split"), ("sklearn.model_selection", "GroupShuffleSplit"),
                        ("sklearn.model_selection", "GroupKFold"))),
    Implement("02-knn", "knn_predict", _probe_knn,
              "the nearest faces by Euclidean distance, averaged, on uint8 faces as they are stored, for any k",
              borrowed=(("sklearn.neighbors", "KNeighborsRegressor"), ("sklearn.neighbors", "NearestNeighbors"))),
    Implement("02-rmsprop", "rmsprop_step", _probe_rmsprop,
              "the running average, the step's size and sign, and where each version puts epsilon, on gradients "
              "from 1e-7 to 1",
              borrowed=(("fkd.optimizers", "Keras2RMSprop"),)),
    Implement("03-mirror", "mirror", _probe_mirror,
              "pixels mirrored, x to the mirrored side, every left/right pair relabelled, missing keypoints kept "
              "missing, nothing changed in place, and mirroring twice giving the faces back",
              borrowed=(("fkd.keypoints", "mirror_pixels"), ("fkd.keypoints", "mirror_normalised"),
                        ("fkd.keypoints", "FLIP_PERMUTATION"), ("fkd.keypoints", "MIRROR_SIGN"),
                        ("fkd.augment", "flip_targets"))),
    Implement("04-optimism", "winner_optimism", _probe_optimism,
              "no optimism without a choice, the known value for two equal models, its growth with the noise, none "
              "for a clear winner, and the chosen model's own true score"),
    Implement("05-masked-mse", "masked_mse", _probe_masked_mse,
              "missing targets left out of the sum and of the count, one number per batch, 0 for a batch without "
              "labels, on fresh random batches",
              borrowed=(("fkd.train", "masked_mse"),)),
    Implement("06-rmse-px", "rmse_px", _probe_rmse_px,
              "normalised units to pixels, missing targets left out, one root over every coordinate of every face",
              borrowed=(("fkd.evaluate", "rmse"),)),
]

EXERCISES: dict[str, Implement | Why | Prediction] = {
    exercise.key: exercise for exercise in sorted([*_IMPLEMENT, *_WHY, *_PREDICTIONS], key=lambda e: e.key[:2])}
"""Every exercise by key ("NN-name", NN its notebook's number): per notebook, code, then why, then predictions."""


# --- What notebooks call ------------------------------------------------------------------------

SMOKE_REASON = ("Under the smoke profile every network trains for an epoch or two on a few hundred faces, so its "
                "numbers are meaningless and cannot say who was right. Run this notebook with profile = "
                "\"standard\" to grade the prediction.")
DEMO_REASON = ("On fkd's synthetic demo faces the outcome says nothing about real faces, so it cannot say who was "
               "right. Run this notebook on Kaggle's faces (fkd download) to grade the prediction.")


@dataclass
class Exercises:
    """The exercises of one notebook run: checks, and predictions kept in ``runs_dir``/answers.json."""

    profile: str = DEFAULT_PROFILE
    runs_dir: str | Path = "../runs"
    demo: bool = False
    study: Any = field(default=None, repr=False)
    """The notebook's :class:`fkd.notebook.Study`, which names the data outcomes are recorded for."""
    answers: Answers = field(init=False)

    def __post_init__(self) -> None:
        self.answers = Answers(Path(self.runs_dir) / "answers.json")

    @classmethod
    def of(cls, study: Any) -> Exercises:
        """The exercises of a :class:`fkd.notebook.Study`'s notebook: its profile, runs folder and data."""
        return cls(study.profile, study.runs_dir, bool(study.files.demo), study)

    def expected(self, notebook: str) -> Any:
        """For the instructor: how long ``notebook`` took and what its predictions measured, per data and profile,
        from the results committed with fkd (:func:`fkd.classroom.expected_table`)."""
        from fkd.classroom import expected_table

        return expected_table(notebook)

    def _exercise(self, key: str, kind: str) -> Any:
        if key not in EXERCISES:
            raise KeyError(f"no exercise {key!r}; the exercises are: {', '.join(EXERCISES)}")
        exercise = EXERCISES[key]
        if exercise.kind != kind:
            calls = {"predict": "exercises.predict, then exercises.reveal", "implement": "exercises.check",
                     "why": "exercises.check"}
            raise ValueError(f"{key} is a {exercise.kind} exercise: use {calls[exercise.kind]}")
        return exercise

    def check(self, key: str, answer: Any, *, seed: int | None = None) -> Feedback:
        """Judge ``answer`` -- the student's function, or a letter -- to exercise ``key``.

        Every check draws new inputs; ``seed`` repeats one exactly.
        """
        exercise = EXERCISES.get(key)
        if isinstance(exercise, Why):
            return _check_why(exercise, answer)
        return _check_implementation(self._exercise(key, "implement"), answer, np.random.default_rng(seed))

    def predict(self, key: str, answer: Any) -> Feedback:
        """Record the student's prediction for ``key`` before the experiment runs."""
        exercise: Prediction = self._exercise(key, "predict")
        if answer is None:
            return Feedback(key, NO_ANSWER, f"{exercise.question} {_options(exercise.choices)}")
        choice = _letter(answer)
        if choice not in exercise.choices:
            return Feedback(key, NOT_YET, f"{answer!r} is not one of the choices: {_options(exercise.choices)}")
        entry = self.answers.record(key, choice)
        if entry.get("prediction") != choice:
            before = (f"your prediction before it, {_named(exercise, entry['prediction'])}, stays on record"
                      if "prediction" in entry else "no prediction was on record before it")
            return Feedback(key, RECORDED, f"the result was already shown, so {before}; "
                                           f"{_named(exercise, choice)} is noted as made afterwards.")
        return Feedback(key, RECORDED, f"You predict {_named(exercise, choice)}. Now run the experiment below.")

    def reveal(self, key: str, **measured: Any) -> Feedback:
        """After the experiment: what it measured, and whether the recorded prediction was right."""
        exercise: Prediction = self._exercise(key, "predict")
        refused = SMOKE_REASON if exercise.on_runs and self.profile == "smoke" else DEMO_REASON if self.demo else None
        try:
            borne_out, summary = exercise.judge(**measured)
        except _Inconclusive as why:
            self._record_outcome(key, frozenset(), f"this run cannot decide: {why}", graded=False)
            return Feedback(key, NOT_GRADED, (f"{refused} " if refused else "")
                            + f"This run cannot decide the prediction: {why}.")
        self._record_outcome(key, borne_out, summary, graded=refused is None)
        if refused:
            return Feedback(key, NOT_GRADED, f"{refused} Measured here, not graded: {summary}.")
        entry = self.answers.get(key)
        self.answers.revealed(key)
        if len(borne_out) == 1:
            (choice,) = borne_out
            said = f"Measured: {summary}. That bears out {_named(exercise, choice)}. {exercise.meaning[choice]}"
        else:
            both = " and ".join(_named(exercise, choice) for choice in sorted(borne_out))
            said = (f"Measured: {summary}. That sits at the edge between {both}, close enough that another seed "
                    "could move it across, so each of them counts.")
        if entry is None:
            return Feedback(key, NO_ANSWER, f"No prediction was recorded before the experiment, so nothing is "
                                            f"graded. {said}")
        if "prediction" not in entry:
            return Feedback(key, NO_ANSWER, f"No prediction was made before the result was first shown, so nothing "
                                            f"is graded. {said}")
        verdict = RIGHT if entry["prediction"] in borne_out else NOT_YET
        return Feedback(key, verdict, f"You predicted {_named(exercise, entry['prediction'])}. {said}")

    def _record_outcome(self, key: str, borne_out: frozenset[str], summary: str, graded: bool) -> None:
        """Keep what the experiment measured in ``runs_dir``/outcomes.json, under the data and the profile."""
        from fkd import __version__
        from fkd.atomic import write_json
        from fkd.machine import cpu_model, usable_cores

        dataset = getattr(self.study, "dataset", None)
        fingerprint = getattr(dataset, "fingerprint", "unknown")
        path = Path(self.runs_dir) / OUTCOMES
        recorded = json.loads(path.read_text()) if path.is_file() else {}
        try:
            faces = len(dataset)
        except TypeError:
            faces = None
        group = recorded.setdefault(f"{fingerprint}:{self.profile}", {
            "data": data_name(getattr(self.study, "files", None), self.demo), "demo": self.demo,
            "data_fingerprint": fingerprint, "faces": faces, "profile": self.profile, "outcomes": {}})
        group["outcomes"][key] = {
            "summary": summary, "borne_out": sorted(borne_out), "graded": graded, "measured_at": _now(),
            "cpu_model": cpu_model(), "cores": usable_cores(), "fkd_version": __version__}
        write_json(path, recorded)


OUTCOMES = "outcomes.json"
"""Where :meth:`Exercises.reveal` keeps every outcome it measured, in the runs folder."""

DEMO_DATA = "fkd demo faces"


def data_name(files: Any, demo: bool = False) -> str:
    """The data's public name: "fkd demo faces", or the folder Kaggle's files were in (``faces15``, ``kaggle``)
    -- never a path of the machine they were measured on."""
    if demo or getattr(files, "demo", False):
        return DEMO_DATA
    training = getattr(files, "training", None)
    return Path(training).parent.name if training is not None else "unknown"


def _letter(answer: Any) -> str:
    return str(answer).strip().strip("()").strip().lower()


def _options(choices: Mapping[str, Any]) -> str:
    return "Choose one of: " + "; ".join(
        f"({letter}) {getattr(choice, 'text', choice)}" if letter != getattr(choice, "text", choice) else f"{letter!r}"
        for letter, choice in choices.items()) + "."


def _named(exercise: Prediction, choice: str) -> str:
    text = exercise.choices[choice]
    return f"{choice!r}" if text == choice else f"({choice}) {text}"


def _check_why(exercise: Why, answer: Any) -> Feedback:
    if answer is None:
        return Feedback(exercise.key, NO_ANSWER, f"{exercise.question} {_options(exercise.choices)}")
    letter = _letter(answer)
    if letter not in exercise.choices:
        return Feedback(exercise.key, NOT_YET, f"answer with a letter: {', '.join(exercise.choices)}.")
    why = exercise.choices[letter].why
    if digest(exercise.key, letter) == exercise.right:
        return Feedback(exercise.key, RIGHT, why)
    return Feedback(exercise.key, NOT_YET, f"({letter}) is not it. {why} Try another choice.")


def _check_implementation(exercise: Implement, function: Any, rng: np.random.Generator) -> Feedback:
    key, name = exercise.key, exercise.function
    if function is None:
        return Feedback(key, NO_ANSWER, f"define {name} in the cell above, then pass it here: "
                                        f"exercises.check({key!r}, {name}).")
    if not callable(function):
        return Feedback(key, NOT_YET, f"pass the function itself ({name}, without parentheses), not "
                                      f"{type(function).__name__}.")
    library = _borrowed(function, exercise.borrowed)
    if library:
        return Feedback(key, NOT_YET, f"your {name} calls {library}, which does the exercise for you; write it "
                                      "yourself, with NumPy.")
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")  # a student's mean of an empty slice is reported, not warned about
            exercise.probe(function, rng)
    except NotImplementedError:
        return Feedback(key, NOT_IMPLEMENTED, f"{name} still raises NotImplementedError: replace "
                                              "`# YOUR CODE HERE` and the raise with your code, run that cell, "
                                              "then this one.")
    except NotYet as problem:
        return Feedback(key, NOT_YET, str(problem))
    return Feedback(key, RIGHT, f"{name} passed every check on freshly drawn inputs: {exercise.passed}.")


# --- Experiments the predictions are revealed by ---------------------------------------------------


def mirror_back_errors(truth: np.ndarray, direct: np.ndarray, on_mirrored: np.ndarray) -> dict[str, float]:
    """RMSE (px) of one network's answers three ways, for exercise 03-mirror-back.

    ``direct``: its answers on the faces as they are; ``on_mirrored``: its answers on the mirrored
    faces, which are mirrored back onto the originals once as they must be (x -> 96 - x and the
    left/right labels swapped, :func:`fkd.keypoints.mirror_pixels`) and once without the swap.
    """
    from fkd.evaluate import rmse
    from fkd.keypoints import mirror_pixels

    unswapped = np.array(on_mirrored, dtype=np.float64)
    unswapped[:, 0::2] = IMAGE_SIZE - unswapped[:, 0::2]
    return {"direct": rmse(truth, direct), "mirrored_back": rmse(truth, mirror_pixels(on_mirrored)),
            "mirrored_back_unswapped": rmse(truth, unswapped)}
