"""How paths are shown in notebooks and reports: the home folder as ~, nothing else changed."""

from __future__ import annotations

from pathlib import Path

from fkd.display import format_parameter_paths, format_path


def test_a_path_in_the_home_folder_is_shown_from_a_tilde(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert format_path(tmp_path / ".cache" / "fkd" / "demo") == str(Path("~", ".cache", "fkd", "demo"))
    assert format_path(str(tmp_path / "data" / "training.csv")) == str(Path("~", "data", "training.csv"))


def test_paths_outside_the_home_folder_and_relative_paths_are_shown_as_they_are(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "ann"))
    assert format_path(tmp_path / "annex" / "runs") == str(tmp_path / "annex" / "runs")  # a prefix, not a parent
    assert format_path("data/training.csv") == str(Path("data", "training.csv"))


def test_injected_parameters_show_only_their_absolute_paths_differently(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    source = (f'# Parameters\ndata_dir = "{tmp_path}/demo"\nruns_dir = "../runs"\nprofile = "standard"\n'
              f'names = ["{tmp_path}/a", "b"]\nseed = 42\n')
    assert format_parameter_paths(source) == ('# Parameters\ndata_dir = "~/demo"\nruns_dir = "../runs"\n'
                                              'profile = "standard"\nnames = ["~/a", "b"]\nseed = 42\n')
