"""Run profiles: how much of the study a report run does.

A profile caps the epochs of the networks and may subsample the training rows,
so the same notebooks serve CI (``smoke``: minutes on a 2-core CPU), a laptop or
a classroom (``standard``: aimed at one class period) and a GPU (``full``: the study's own
settings).

``standard`` spends its budget where it teaches. The study's two-convolution
networks (the baseline family) cost about three times as much per image as its
five-convolution ones, and on real faces (faces15) most or all of their dense
ReLU units die within the first epochs -- a unit that outputs zero for every face
gets no gradient and never revives -- so ``standard`` trains them only long enough
to see whether they survive (notebook 02 counts the living units); the
five-convolution networks, which need a few dozen epochs to leave the mean face,
get those epochs. ``full`` trains every network as the study did.
"""

from __future__ import annotations

from dataclasses import dataclass

from fkd.configs import TUNING_GRID, ModelConfig


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
    noise_model: str
    """The config notebook 04 trains with three seeds to show how much one run's score moves."""
    missing_base: str
    """The config notebook 05 trains under each missing-label policy."""
    two_conv_epochs: int | None = None
    """A lower limit for the two-convolution networks (the study's baseline family); None: ``epochs``."""

    def epochs_for(self, config: ModelConfig) -> int:
        cap = self.epochs
        if self.two_conv_epochs is not None and config.kind == "cnn" and len(config.filters) == 2:
            cap = self.two_conv_epochs
        return config.epochs if cap is None else min(config.epochs, cap)


PROFILES: dict[str, Profile] = {
    profile.name: profile
    for profile in (
        Profile(
            "smoke", "CI check: 2 epochs on 200 rows (the two-convolution networks 1); numbers are meaningless, "
            "the pipeline is not",
            epochs=2, max_train_rows=200, tuning_grid=("modelh_12",), knn_ks=(1, 5, 9),
            noise_model="best", missing_base="best", two_conv_epochs=1,
        ),
        Profile(
            "standard", "aimed at a class period on a 2-core CPU: every row; five-convolution networks 50 epochs, "
            "the two-convolution baseline family 5 (enough to see whether their units survive), two tuning points",
            epochs=50, max_train_rows=None, tuning_grid=("modelh_5", "modelh_12"),
            knn_ks=(1, 3, 5, 7, 9, 15, 25), noise_model="best", missing_base="best", two_conv_epochs=5,
        ),
        Profile(
            "full", "the study's settings (up to 400 epochs, the whole grid); meant for a GPU",
            epochs=None, max_train_rows=None, tuning_grid=TUNING_GRID,
            knn_ks=(1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 16, 21, 26, 31, 36, 41, 46),
            noise_model="modelh_12", missing_base="modelh_12",
        ),
    )
}


def get_profile(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise KeyError(f"unknown profile {name!r}; choose one of: {', '.join(PROFILES)}") from None
