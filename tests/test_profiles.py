"""One default profile everywhere, and the standard plan's budget rules."""

from __future__ import annotations

import ast
import inspect

import pytest

from fkd.configs import REGISTRY, get_config
from fkd.notebook import Study
from fkd.parameters import notebook_parameters
from fkd.profiles import DEFAULT_PROFILE, PROFILES, get_profile
from fkd.cli import build_parser
from fkd.report import notebooks_dir, run_report


def test_the_report_the_cli_study_and_every_notebook_share_one_default_profile():
    assert DEFAULT_PROFILE == "standard"
    assert inspect.signature(run_report).parameters["profile"].default == DEFAULT_PROFILE
    assert Study.__dataclass_fields__["profile"].default == DEFAULT_PROFILE
    assert build_parser().parse_args(["report"]).profile == DEFAULT_PROFILE
    notebooks = sorted(notebooks_dir().glob("[0-9]*.ipynb"))
    assert len(notebooks) == 6
    for notebook in notebooks:
        # a notebook run top to bottom in Jupyter or Colab teaches what `fkd report` does
        assert ast.literal_eval(notebook_parameters(notebook)["profile"].default) == DEFAULT_PROFILE, notebook.name


@pytest.mark.parametrize("profile", list(PROFILES))
def test_every_name_a_profile_uses_is_registered(profile):
    plan = get_profile(profile)
    names = [*plan.tuning_grid, plan.missing_base, *(model for model, _ in plan.noise),
             *(name for pair in plan.flip_pairs for name in pair)]
    assert set(names) <= set(REGISTRY)
    assert all(seeds >= 2 for _, seeds in plan.noise)  # one seed measures no spread


def test_standard_gives_the_two_convolution_family_its_own_budget():
    standard = get_profile("standard")
    assert standard.epochs_for(get_config("cnn_baseline")) == standard.two_conv_epochs
    assert standard.epochs_for(get_config("modelh_12")) == standard.epochs
    assert standard.two_conv_epochs < standard.epochs


def test_standard_measures_noise_on_a_study_network_with_five_seeds():
    noise = dict(get_profile("standard").noise)
    assert any(noise.get(model, 0) >= 5 for model in ("cnn_flip", "cnn_baseline", "modelh_12"))


def test_flip_pairs_differ_only_in_mirroring():
    for profile in PROFILES.values():
        for plain, flipped in profile.flip_pairs:
            changed = set(get_config(plain).differences(get_config(flipped))) - {"name", "description"}
            assert changed and changed <= {"augmentation.flip", "tta_flip"}, (plain, flipped)
