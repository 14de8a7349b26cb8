"""Notebook parameters: what each notebook's ``parameters`` cell declares, and checking values against it.

``fkd report -p NAME VALUE`` and :func:`fkd.report.run_report` accept any parameter
a notebook declares; a typo, a value of the wrong type or an impossible value (a k
of 0, an empty list, an unknown model) is refused here, in a second, before an hour
of training starts, with the valid parameters or the valid range. Declarations are
read with papermill's own ``inspect_notebook``, so what is checked is what papermill
will inject.

The valid values of every parameter are declared once, by name, in :data:`RULES`;
a test fails when a notebook declares a numeric or list parameter without a rule.
A notebook run by hand applies the same checks by calling
:func:`check_parameters` at the top of its setup cell.
"""

from __future__ import annotations

import ast
import os
import typing
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fkd.atomic import plain
from fkd.configs import REGISTRY, TUNING_GRID, MissingPolicy
from fkd.errors import FkdError
from fkd.profiles import PROFILES


class ParameterError(FkdError, ValueError):
    """A notebook parameter that no notebook declares, or a value of the wrong type or out of range."""


@dataclass(frozen=True)
class NotebookParameter:
    """One assignment in a notebook's ``parameters`` cell, as papermill reads it."""

    name: str
    type: str
    """The annotation (``int``, ``Optional[list[int]]``...), else the type of the default."""
    default: str
    help: str

    def describe(self) -> str:
        text = f"{self.name}: {self.type} = {self.default}"
        return f"{text}  ({self.help})" if self.help else text


def notebook_parameters(notebook: str | Path) -> dict[str, NotebookParameter]:
    """The parameters a notebook declares, by name (papermill's ``inspect_notebook``)."""
    import papermill

    found = {}
    for name, info in papermill.inspect_notebook(str(notebook)).items():
        declared = info.get("inferred_type_name") or "None"
        default = str(info.get("default", ""))
        type_name = declared if declared != "None" else _literal_type(default)
        found[name] = NotebookParameter(name, type_name, default, str(info.get("help") or ""))
    return found


def _literal_type(default: str) -> str:
    """The type of an unannotated default (``42`` -> ``int``); ``Any`` if it is not a literal."""
    try:
        value = ast.literal_eval(default)
    except (ValueError, SyntaxError):
        return "Any"
    return "Any" if value is None else type(value).__name__


def _conforms(value: Any, node: ast.expr) -> bool:
    """Whether ``value`` fits the annotation ``node`` (the subset of typing notebooks use)."""
    if isinstance(node, ast.Constant):
        return node.value is None and value is None
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        return _conforms(value, node.left) or _conforms(value, node.right)
    if isinstance(node, ast.Name):
        checks = {
            "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
            "float": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
            "str": lambda v: isinstance(v, str),
            "bool": lambda v: isinstance(v, bool),
            "list": lambda v: isinstance(v, (list, tuple)),
            "tuple": lambda v: isinstance(v, (list, tuple)),
            "dict": lambda v: isinstance(v, dict),
            "None": lambda v: v is None,
        }
        return checks.get(node.id, lambda v: True)(value)
    if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name):
        args = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        base = node.value.id
        if base == "Optional":
            return value is None or _conforms(value, args[0])
        if base == "Union":
            return any(_conforms(value, arg) for arg in args)
        if base in ("list", "List", "Sequence", "tuple", "Tuple"):
            items = [arg for arg in args if not (isinstance(arg, ast.Constant) and arg.value is Ellipsis)]
            return isinstance(value, (list, tuple)) and all(_conforms(v, items[0]) for v in value)
        if base in ("dict", "Dict", "Mapping"):
            return isinstance(value, dict) and all(
                _conforms(k, args[0]) and _conforms(v, args[1]) for k, v in value.items()
            )
    return True  # an annotation we do not model is not checked


def _type_ok(value: Any, type_name: str) -> bool:
    try:
        node = ast.parse(type_name, mode="eval").body
    except SyntaxError:
        return True
    return _conforms(value, node)


def validate_parameters(
    notebook_path: str | Path | Sequence[str | Path], params: Mapping[str, Any] | None
) -> dict[str, Any]:
    """Check ``params`` against what the notebook(s) declare; return them ready for papermill.

    A name is valid if at least one of the notebooks declares it in its
    ``parameters`` cell; its value must fit the declared annotation (or the type of
    the default) in every notebook that declares it. Raises :class:`ParameterError`
    listing the valid parameters.
    """
    paths = [Path(notebook_path)] if isinstance(notebook_path, (str, os.PathLike)) else [
        Path(p) for p in notebook_path
    ]
    declared = {path: notebook_parameters(path) for path in paths}
    cleaned = {name: plain(value) for name, value in (params or {}).items()}
    unknown = sorted(name for name in cleaned if not any(name in d for d in declared.values()))
    if unknown:
        raise ParameterError(
            f"unknown parameter{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; "
            f"valid parameters:\n{_describe_all(declared)}"
        )
    for name, value in cleaned.items():
        for path, parameters in declared.items():
            if name in parameters and not _type_ok(value, parameters[name].type):
                raise ParameterError(
                    f"parameter {name!r} must be {parameters[name].type} (declared in {path.name}), "
                    f"got {type(value).__name__} {value!r}"
                )
        _check_value(name, value)
    return cleaned


def check_parameters(notebook: str, namespace: Mapping[str, Any]) -> None:
    """Refuse, in a notebook run by hand, the values ``fkd report`` would refuse.

    A notebook calls ``check_parameters("02_baselines", globals())`` at the top of
    its setup cell, so an impossible value typed into its ``parameters`` cell stops
    the notebook there, with the valid range, instead of as a traceback an hour into
    training. The declarations are read from the study's copy of the notebook
    (:func:`fkd.report.notebooks_dir`), the values from ``namespace``; the checks are
    :func:`validate_parameters`'s, so a notebook and a report refuse the same values.
    Under ``fkd report`` the values were checked already and pass again.
    """
    from fkd.report import notebooks_dir  # fkd.report imports this module

    path = notebooks_dir() / f"{notebook}.ipynb"
    if not path.is_file():
        raise ParameterError(f"no study notebook {notebook!r} in {path.parent}")
    declared = notebook_parameters(path)
    validate_parameters(path, {name: namespace[name] for name in declared if name in namespace})


def _describe_all(declared: Mapping[Path, Mapping[str, NotebookParameter]]) -> str:
    where: dict[str, list[str]] = {}
    described: dict[str, str] = {}
    for path, parameters in declared.items():
        for name, parameter in parameters.items():
            where.setdefault(name, []).append(path.stem)
            described.setdefault(name, parameter.describe())
    return "\n".join(f"  {described[name]}  [{', '.join(where[name])}]" for name in sorted(described))


# --- valid values -----------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """The values a notebook parameter may take beyond its declared type.

    ``expects`` finishes the sentence "parameter 'x' must be ..." and so states the
    valid range; ``problem`` returns None for a valid value, else what is wrong with
    it ("" when the value itself says it, as ``0`` for "at least 1").
    """

    expects: str
    problem: Callable[[Any], str | None]


def _whole(low: int, high: int | None = None) -> Rule:
    def problem(value: Any) -> str | None:
        whole = isinstance(value, int) and not isinstance(value, bool)
        return None if whole and low <= value and (high is None or value <= high) else ""

    expects = f"a whole number of at least {low}" if high is None else f"a whole number from {low} to {high:,}"
    return Rule(expects, problem)


def _number(above: float, most: float) -> Rule:
    def problem(value: Any) -> str | None:
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        return None if number and above < value <= most else ""

    return Rule(f"a number above {above:g} and at most {most:g}", problem)


def _one_of(names: Collection[str], why: str = "") -> Rule:
    expects = f"one of: {', '.join(names)}" + (f" ({why})" if why else "")
    return Rule(expects, lambda value: None if value in names else "")


def _listed(item: Rule, items: str, length: int | None = None) -> Rule:
    """A non-empty list whose every item satisfies ``item``; ``length`` fixes how long it must be."""

    def problem(value: Any) -> str | None:
        if not isinstance(value, (list, tuple)) or not value:
            return "the list is empty" if isinstance(value, (list, tuple)) else ""
        if length is not None and len(value) != length:
            return f"it has {len(value)} item{'s' * (len(value) != 1)}"
        for number, entry in enumerate(value, 1):
            wrong = item.problem(entry)
            if wrong is not None:
                shown = repr(entry) if len(repr(entry)) <= 40 else repr(entry)[:37] + "..."
                return f"item {number}, {shown}, is not {item.expects}" + (f": {wrong}" if wrong else "")
        return None

    size = f"a list of {length}" if length is not None else "a non-empty list of"
    return Rule(f"{size} {items}", problem)


def _existing_file(value: Any) -> str | None:
    path = Path(value)
    if path.is_file():
        return None
    where = f"relative to {Path.cwd()}" if not path.is_absolute() else ""
    return " ".join(filter(None, ["it is a folder" if path.is_dir() else "no such file", where]))


def _variant_problem(variant: Any) -> str | None:
    """Why ``variant`` (notebook 05's ``{name, base, changes}``) does not make a valid config, or None."""
    if not isinstance(variant, dict) or set(variant) != {"name", "base", "changes"}:
        return "it needs exactly the keys name, base and changes"
    name, base, changes = variant["name"], variant["base"], variant["changes"]
    if not isinstance(name, str) or not name:
        return "its name must be a non-empty string"
    if base not in REGISTRY:
        return f"its base {base!r} is not a registered model"
    if not isinstance(changes, dict):
        return "its changes must be a dict of config fields"
    try:
        REGISTRY[base].replace(name=name, **changes)
    except (TypeError, ValueError) as error:  # an unknown field, or a value the config refuses
        return str(error)
    return None


MODEL_NAMES = tuple(REGISTRY)
NETWORKS = tuple(name for name, config in REGISTRY.items() if config.kind != "knn")
MAX_FACES_SHOWN = 64
"""Faces one figure may show: more are unreadable on a page, and a one-row figure of a few hundred
passes matplotlib's limit of 2^16 pixels a side."""
SEED_MAX = 2**31 - 1
"""NumPy and scikit-learn refuse seeds of 2^32 and above, and notebook 04 also trains the next few seeds."""

_MODEL = _one_of(MODEL_NAMES)
_FACES = _whole(1, MAX_FACES_SHOWN)

RULES: dict[str, Rule] = {
    "profile": _one_of(tuple(PROFILES)),
    "seed": _whole(0, SEED_MAX),
    "n_faces": _FACES,
    "n_test_faces": _FACES,
    "n_worst": _FACES,
    # Distances between the unit-length thumbnails of fkd.splits lie between 0 and 2.
    "group_distance": _number(0, 2),
    "knn_ks": _listed(_whole(1), "whole numbers of at least 1 (each k)"),
    "flip_pairs": _listed(_listed(_MODEL, "registered model names", length=2),
                          "[without flips, with flips] pairs of registered model names"),
    "tuning_grid": _listed(_one_of(TUNING_GRID), "names from fkd.configs.TUNING_GRID"),
    "augmentation_variants": _listed(Rule("a valid variant", _variant_problem),
                                     "{name, base, changes} variants (base from fkd.configs.REGISTRY, changes "
                                     "fields of fkd.configs.ModelConfig)"),
    "missing_base": _one_of(NETWORKS, "k-NN cannot learn from partly missing labels"),
    "missing_policies": _listed(_one_of(typing.get_args(MissingPolicy)), "missing-label policies"),
    "missing_split": _one_of(("grouped", "random"), "the study's split has no incomplete validation faces"),
    "baseline": _MODEL,
    "tuned": _MODEL,
    "photo": Rule("a path to an existing photo (JPEG or PNG)", _existing_file),
    "benchmark_json": Rule("a path to an existing benchmark.json", _existing_file),
}
"""The valid values of every notebook parameter that has a range, by name. None, where a
parameter's type allows it, always means "the default" and is not checked here."""


def _check_value(name: str, value: Any) -> None:
    """Raise :class:`ParameterError` if ``value`` is outside ``name``'s rule, with the valid range."""
    rule = RULES.get(name)
    problem = None if rule is None or value is None else rule.problem(value)
    if problem is not None:
        raise ParameterError(f"parameter {name!r} must be {rule.expects}, got {value!r}"
                             + (f" ({problem})" if problem else ""))
