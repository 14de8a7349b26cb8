"""Run profiles: how much of the study a report run does.

A profile caps the epochs of the networks and may subsample the training rows,
so the same notebooks serve CI (``smoke``: minutes on a 2-core CPU), a laptop or
a classroom (``standard``: aimed at one class period) and a GPU (``full``: the study's own
settings).

``standard`` is planned from measurement on real faces (faces15), with the
study's own optimizer (:mod:`fkd.optimizers`):

* the study's two-convolution networks (the baseline family) cost about three
  times as much per image as its five-convolution ones. With the study's optimizer
  they leave the mean face within about ten epochs, but their validation RMSE
  swings by a pixel from epoch to epoch (a constant learning rate): on faces15,
  three seeds of ``cnn_flip`` were all below k-NN's RMSE at 16 epochs and not yet at
  12, so they get ``two_conv_epochs`` = 16;
* the five-convolution networks and fkd's ``best`` get up to ``epochs``;
* flips are compared on a pair that learns within that budget (``best`` with and
  without mirroring) beside the study's own pair;
* the seed noise is measured on a study network with five seeds (and on ``best``,
  whose flip comparison needs its own spread), so every verdict can be checked
  against it.

``full`` trains every network as the study did.
"""

from __future__ import annotations

from dataclasses import dataclass

from fkd.configs import TUNING_GRID, ModelConfig

Pair = tuple[str, str]
"""Two configs compared in notebook 03: without, then with flips."""


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    epochs: int | None
    """Upper limit on every network's epochs; None trains each config for its own epochs."""
    max_train_rows: int | None
    """Train on at most this many rows (a seeded subsample); None uses them all."""
    tuning_grid: tuple[str, ...]
    knn_ks: tuple[int, ...]
    noise: tuple[tuple[str, int], ...]
    """(config, number of seeds): the networks notebook 04 trains with several seeds to measure how much one
    run's score moves; a comparison of two runs of a listed config is judged against its spread."""
    missing_base: str
    """The config notebook 05 trains under each missing-label policy."""
    flip_pairs: tuple[Pair, ...] = (("cnn_baseline", "cnn_flip"), ("best_noflip", "best"))
    """Notebook 03's comparisons, each (without flips, with flips)."""
    two_conv_epochs: int | None = None
    """A separate limit for the two-convolution networks (the study's baseline family); None: ``epochs``."""

    def epochs_for(self, config: ModelConfig) -> int:
        cap = self.epochs
        if self.two_conv_epochs is not None and config.kind == "cnn" and len(config.filters) == 2:
            cap = self.two_conv_epochs
        return config.epochs if cap is None else min(config.epochs, cap)

    def seeds_for(self, config: str) -> int:
        """How many seeds notebook 04 measures ``config``'s noise with (0: it is not measured)."""
        return dict(self.noise).get(config, 0)


DEFAULT_PROFILE = "standard"
"""What ``fkd report``, :func:`fkd.report.run_report`, :class:`fkd.notebook.Study` and every notebook's
``parameters`` cell run when no profile is named, so a notebook run top to bottom teaches what the report does."""

PROFILES: dict[str, Profile] = {
    profile.name: profile
    for profile in (
        Profile(
            "smoke", "CI check: 2 epochs on 200 rows (the two-convolution networks 1); numbers are meaningless, "
            "the pipeline is not",
            epochs=2, max_train_rows=200, tuning_grid=("modelh_12",), knn_ks=(1, 5, 9),
            noise=(("cnn_flip", 2), ("best", 2)), missing_base="best", two_conv_epochs=1,
        ),
        Profile(
            "standard", "aimed at a class period on a 2-core CPU: every row; the two-convolution networks "
            "16 epochs, the others up to 50; flips compared on the study's baseline and on best; seed noise "
            "from five seeds of cnn_flip and three of best",
            epochs=50, max_train_rows=None, tuning_grid=("modelh_4", "modelh_12"),
            knn_ks=(1, 3, 5, 7, 9, 15, 25), noise=(("cnn_flip", 5), ("best", 3)), missing_base="best",
            two_conv_epochs=16,
        ),
        Profile(
            "full", "the study's settings (up to 400 epochs, the whole grid); meant for a GPU",
            epochs=None, max_train_rows=None, tuning_grid=TUNING_GRID,
            knn_ks=(1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 16, 21, 26, 31, 36, 41, 46),
            noise=(("cnn_flip", 5), ("modelh_12", 3), ("best", 3)), missing_base="best",
            flip_pairs=(("cnn_baseline", "cnn_flip"), ("modelh_12_noflip", "modelh_12"), ("best_noflip", "best")),
        ),
    )
}


def get_profile(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise KeyError(f"unknown profile {name!r}; choose one of: {', '.join(PROFILES)}") from None
