"""Notebook parameters: every numeric or list parameter has a declared range, and impossible values are
refused in one line before anything runs -- by `fkd report` and by a notebook run by hand."""

from __future__ import annotations

import ast
import nbformat
import pytest

from fkd.cli import main
from fkd.parameters import (
    MAX_FACES_SHOWN, RULES, SEED_MAX, ParameterError, check_parameters, notebook_parameters, validate_parameters,
)
from fkd.report import study_notebooks

NUMERIC_OR_LIST = {"int", "float", "list", "List", "tuple", "Tuple", "Sequence", "dict", "Dict"}


def _declared() -> dict[str, list[tuple[str, object]]]:
    """Every parameter of the study's notebooks: name -> [(notebook, NotebookParameter)]."""
    found: dict[str, list[tuple[str, object]]] = {}
    for path in study_notebooks():
        for name, parameter in notebook_parameters(path).items():
            found.setdefault(name, []).append((path.stem, parameter))
    return found


def test_every_numeric_or_list_parameter_of_the_notebooks_declares_its_valid_values():
    """A new numeric or list parameter without a rule in fkd.parameters.RULES fails here, by name."""
    missing = sorted(
        f"{notebook}: {parameter.describe()}"
        for name, where in _declared().items() for notebook, parameter in where
        if name not in RULES and {node.id for node in ast.walk(ast.parse(parameter.type, mode="eval"))
                                  if isinstance(node, ast.Name)} & NUMERIC_OR_LIST
    )
    assert not missing, "declare the valid values of these in fkd.parameters.RULES:\n" + "\n".join(missing)


def test_every_rule_is_for_a_parameter_some_notebook_declares():
    assert sorted(set(RULES) - set(_declared())) == []


def test_every_rule_accepts_the_notebooks_own_defaults():
    for name, where in _declared().items():
        for notebook, parameter in where:
            try:
                default = ast.literal_eval(parameter.default)
            except (ValueError, SyntaxError):
                continue
            validate_parameters(study_notebooks(), {name: default})  # raises if the default is out of range


IMPOSSIBLE = [
    ("knn_ks", [0], "a non-empty list of whole numbers of at least 1"),
    ("knn_ks", [], "(the list is empty)"),
    ("knn_ks", [5, -1], "item 2, -1, is not a whole number of at least 1"),
    ("n_faces", 0, f"a whole number from 1 to {MAX_FACES_SHOWN}"),
    ("n_faces", MAX_FACES_SHOWN + 1, f"a whole number from 1 to {MAX_FACES_SHOWN}"),
    ("n_test_faces", -1, f"a whole number from 1 to {MAX_FACES_SHOWN}"),
    ("n_worst", 0, f"a whole number from 1 to {MAX_FACES_SHOWN}"),
    ("group_distance", 0, "a number above 0 and at most 2"),
    ("group_distance", -0.5, "a number above 0 and at most 2"),
    ("group_distance", 2.5, "a number above 0 and at most 2"),
    ("seed", -1, f"a whole number from 0 to {SEED_MAX:,}"),
    ("seed", 2**32, f"a whole number from 0 to {SEED_MAX:,}"),
    ("tuned", "resnet", "one of: knn, nn2, cnn_baseline"),
    ("baseline", "", "one of: knn, nn2, cnn_baseline"),
    ("missing_base", "knn", "k-NN cannot learn from partly missing labels"),
    ("missing_policies", [], "(the list is empty)"),
    ("missing_policies", ["dropna", "drop"], "item 2, 'drop', is not one of: dropna, ffill, masked"),
    ("missing_split", "study", "one of: grouped, random"),
    ("tuning_grid", [], "(the list is empty)"),
    ("tuning_grid", ["best"], "item 1, 'best', is not one of: modelh_1"),
    ("flip_pairs", [], "(the list is empty)"),
    ("flip_pairs", [["cnn_baseline"]], "is not a list of 2 registered model names: it has 1 item"),
    ("flip_pairs", [["cnn_baseline", "cnn_flop"]], "item 2, 'cnn_flop', is not one of"),
    ("augmentation_variants", [], "(the list is empty)"),
    ("augmentation_variants", [{"name": "x", "base": "resnet", "changes": {}}], "its base 'resnet' is not"),
    ("augmentation_variants", [{"name": "x", "base": "cnn_baseline", "changes": {"epoch": 3}}],
     "unexpected keyword argument 'epoch'"),
    ("augmentation_variants", [{"name": "x", "base": "cnn_baseline", "changes": {"epochs": 0}}],
     "epochs and batch_size must be positive"),
    ("augmentation_variants", [{"name": "x", "base": "cnn_baseline"}], "exactly the keys name, base and changes"),
    ("photo", "no-such-photo.jpg", "an existing photo (JPEG or PNG), got 'no-such-photo.jpg' (no such file"),
    ("benchmark_json", "no-such.json", "an existing benchmark.json"),
]


@pytest.mark.parametrize("name, value, says", IMPOSSIBLE, ids=[f"{n}={v!r}"[:40] for n, v, _ in IMPOSSIBLE])
def test_an_impossible_value_is_refused_with_the_valid_range(name, value, says):
    with pytest.raises(ParameterError) as caught:
        validate_parameters(study_notebooks(), {name: value})
    message = str(caught.value)
    assert message.startswith(f"parameter {name!r} must be ") and says in message and "\n" not in message


def test_values_at_the_edges_of_each_range_are_accepted(tmp_path):
    photo = tmp_path / "me.jpg"
    photo.write_bytes(b"a photo")
    values = {
        "knn_ks": [1, 200], "n_faces": 1, "n_test_faces": MAX_FACES_SHOWN, "n_worst": 1, "group_distance": 2,
        "seed": SEED_MAX, "tuned": "best", "baseline": "knn", "missing_base": "nn2", "missing_policies": ["masked"],
        "missing_split": "random", "tuning_grid": ["modelh_12"], "flip_pairs": [["best_noflip", "best"]],
        "augmentation_variants": [{"name": "x", "base": "cnn_baseline", "changes": {"augmentation": {"flip": True}}}],
        "photo": str(photo),
    }
    assert validate_parameters(study_notebooks(), values) == values
    none_means_the_default = {"group_distance": None, "knn_ks": None, "missing_base": None}
    assert validate_parameters(study_notebooks(), none_means_the_default) == none_means_the_default


@pytest.mark.parametrize("name, value, says", [
    ("knn_ks", "[0]", "parameter 'knn_ks' must be a non-empty list of whole numbers of at least 1 (each k), got [0]"),
    ("n_faces", "0", f"parameter 'n_faces' must be a whole number from 1 to {MAX_FACES_SHOWN}, got 0"),
    ("n_test_faces", "-1", f"parameter 'n_test_faces' must be a whole number from 1 to {MAX_FACES_SHOWN}, got -1"),
    ("group_distance", "0", "parameter 'group_distance' must be a number above 0 and at most 2, got 0"),
    ("seed", "-1", f"parameter 'seed' must be a whole number from 0 to {SEED_MAX:,}, got -1"),
    ("tuned", "resnet", "parameter 'tuned' must be one of: knn, nn2,"),
    ("tuning_grid", "[]", "parameter 'tuning_grid' must be a non-empty list of names from fkd.configs.TUNING_GRID, "
                          "got [] (the list is empty)"),
])
def test_fkd_report_refuses_an_impossible_value_in_one_line_before_anything_runs(tmp_path, kaggle_dir, capsys,
                                                                                name, value, says):
    out = tmp_path / "reports"
    code = main(["report", "--data", str(kaggle_dir), "--out", str(out), "-p", name, value])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith(f"fkd: error: {says}") and err.count("\n") == 1
    assert not out.exists() and not (tmp_path / "runs").exists()


def _defaults(notebook: str) -> dict[str, object]:
    path = next(p for p in study_notebooks() if p.stem == notebook)
    return {name: ast.literal_eval(parameter.default) for name, parameter in notebook_parameters(path).items()}


def test_check_parameters_refuses_in_a_notebook_what_the_report_refuses():
    namespace = {**_defaults("02_baselines"), "knn_ks": [0, 5], "unrelated": -1}
    with pytest.raises(ParameterError, match=r"parameter 'knn_ks' must be .*got \[0, 5\]"):
        check_parameters("02_baselines", namespace)
    check_parameters("02_baselines", {**namespace, "knn_ks": [1, 5]})  # the unrelated global is not a parameter
    with pytest.raises(ParameterError, match="no study notebook '99_nope'"):
        check_parameters("99_nope", namespace)


def test_a_notebook_run_by_hand_stops_at_an_impossible_value_with_one_line(tmp_path):
    """What a student sees in Jupyter: one `fkd: error:` line where the traceback would be, no later cell run."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                           "language": "python"}})
    nb.cells = [nbformat.v4.new_code_cell("n_faces = 0  # typed into the parameters cell"),
                nbformat.v4.new_code_cell('from fkd.parameters import check_parameters\n'
                                          'check_parameters("01_eda", globals())'),
                nbformat.v4.new_code_cell("print('never reached')")]
    client = NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
    with pytest.raises(CellExecutionError):
        client.execute()
    (error,) = [o for o in nb.cells[1].outputs if o.output_type == "error"]
    assert error.ename == "ParameterError"
    assert error.traceback == [f"fkd: error: parameter 'n_faces' must be a whole number from 1 to {MAX_FACES_SHOWN}, "
                               "got 0"]
    assert not nb.cells[2].outputs
