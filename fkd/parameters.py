"""Notebook parameters: what each notebook's ``parameters`` cell declares, and checking values against it.

``fkd report -p NAME VALUE`` and :func:`fkd.report.run_report` accept any parameter
a notebook declares; a typo or a value of the wrong type is refused here, in a
second, before an hour of training starts, with the list of valid parameters.
Declarations are read with papermill's own ``inspect_notebook``, so what is
checked is what papermill will inject.
"""

from __future__ import annotations

import ast
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fkd.atomic import plain
from fkd.errors import FkdError


class ParameterError(FkdError, ValueError):
    """A notebook parameter that no notebook declares, or a value of the wrong type."""


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
    return cleaned


def _describe_all(declared: Mapping[Path, Mapping[str, NotebookParameter]]) -> str:
    where: dict[str, list[str]] = {}
    described: dict[str, str] = {}
    for path, parameters in declared.items():
        for name, parameter in parameters.items():
            where.setdefault(name, []).append(path.stem)
            described.setdefault(name, parameter.describe())
    return "\n".join(f"  {described[name]}  [{', '.join(where[name])}]" for name in sorted(described))
