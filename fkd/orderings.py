"""The study's story as checkable claims: which model beats which, on a set of recorded runs.

The study's results come down to a few orderings: k-NN is beaten by every CNN,
the two-layer net sits at the mean face, the tuned five-convolution network
beats the baseline, and fkd's own model is lowest of all. A profile and a data
set "tell the study's story" when those orderings hold on their runs. The
standard profile was planned so that they hold on real faces, and the demo faces
were drawn so that they hold there too; :func:`check_orderings` says, claim by
claim, whether a report's runs agree (used by the ordering tests and to
summarise a benchmark run).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any



LEARNED_RATIO = 0.9
"""A network whose validation RMSE is at least this fraction of the mean face's has not learned (yet): it still
answers every face with about the average one. The one threshold for every "Learned?" column and verdict."""


@dataclass(frozen=True)
class Ordering:
    """One claim and whether the runs bear it out."""

    claim: str
    holds: bool | None
    """None: a run the claim needs was not recorded."""
    detail: str


def _score(runs: Sequence[dict[str, Any]], name: str, split: str, seed: int) -> float | None:
    found = [run["val_rmse"] for run in runs
             if name in (run.get("names") or []) and run["split"] == split and run["seed"] == seed]
    return found[0] if found else None


def check_orderings(runs: Sequence[dict[str, Any]], mean_face: Mapping[str, float],
                    seed: int = 42) -> list[Ordering]:
    """The study's orderings on ``runs`` (records as :func:`fkd.results.load_runs` gives them).

    ``mean_face``: the mean face's RMSE on each split (``{"study": ..., "grouped": ...}``). Runs are
    those of ``seed``; the study's models are read on the study split, ``best`` on the grouped split
    (its own), and compared with every run of ``seed`` of the study's models (and their variants) on any split.
    """
    def study(name: str) -> float | None:
        return _score(runs, name, "study", seed)

    knn, nn2, baseline, flip, tuned = (study(name) for name in ("knn", "nn2", "cnn_baseline", "cnn_flip",
                                                               "modelh_12"))
    best = _score(runs, "best", "grouped", seed)
    found: list[Ordering] = []

    def claim(text: str, needed: Sequence[float | None], holds: Any, detail: str) -> None:
        missing = any(value is None for value in needed)
        found.append(Ordering(text, None if missing else bool(holds()), "not recorded" if missing else detail()))

    for name, value in (("cnn_baseline", baseline), ("cnn_flip", flip), ("modelh_12", tuned)):
        claim(f"{name} beats k-NN", (value, knn), lambda v=value: v < knn,
              lambda v=value: f"{v:.3f} px against k-NN's {knn:.3f}")
    claim("nn2 sits at the mean face", (nn2,), lambda: nn2 >= LEARNED_RATIO * mean_face["study"],
          lambda: f"{nn2:.3f} px, {nn2 / mean_face['study']:.2f} x the mean face's {mean_face['study']:.3f}")
    claim("modelh_12 beats cnn_baseline", (tuned, baseline), lambda: tuned < baseline,
          lambda: f"{tuned:.3f} px against {baseline:.3f}")
    # every run of the study's models and their variants; fkd's own (best and its variants) are not rivals
    others = [run["val_rmse"] for run in runs if run["seed"] == seed
              and not any(name.startswith("best") for name in run.get("names") or [])]
    claim("best is lower than every run of the study's models", (best,), lambda: all(best < o for o in others),
          lambda: f"{best:.3f} px (grouped split); the study's lowest: {min(others, default=float('nan')):.3f}")
    return found
