"""Directories a pipeline's container must bind so that every input it names is visible (E420).

An *input path* is a string parameter (the item header's metaVariable default, the task's
``configure(params=...)``, or a grid value of a search) whose name says it names files:
``path``, ``paths``, ``file``, ``files``, ``dir``, ``directory`` or ``*_path``, ``*_paths``,
``*_file``, ``*_files``, ``*_dir``. Each one gets a bind of its top directory: the directory
above the first component with a glob or ``$VAR`` in it (the file's own directory for a plain
path). A relative path is looked up beside the M-File at run time, so it is bound through
the M-File's directory (or, if it climbs out with ``..``, through the directory it reaches).
A path that starts with ``$VAR`` is covered when the profile binds ``$VAR`` (``bind_env``);
``~`` and ``$HOME`` by Apptainer's own home mount. Anything else, a path whose top directory
is ``/`` or one the image itself needs (``/usr``, ``/etc``, ...), and one with ``,`` or ``:``
(which ``--bind`` would split) is a compile-time error: the task would not find its data.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from mfile.codegen.profile import Profile
from mfile.codegen.resources import UnboundInput
from mfile.plan.ir import Task
from mfile.diagnostics import Reporter, Span

_PATH_PARAM = re.compile(r"^(?:path|paths|file|files|dir|directory)$|_(?:path|paths|file|files|dir)$")
_MAGIC = re.compile(r"[*?\[$]")
_LEADING_VAR = re.compile(r"^\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?(?:/|$)")
# Binding over these would hide the image's own software.
_IMAGE_DIRS = frozenset({"/", "/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/opt", "/proc",
                         "/root", "/run", "/sbin", "/sys", "/usr", "/var"})
_HOME_OFF = ("--no-home", "--contain", "--containall", "-c", "-C")


def is_path_param(name: str) -> bool:
    return bool(_PATH_PARAM.search(name))


@dataclass(frozen=True)
class InputPath:
    task: Task
    param: str
    value: str


def input_paths(task: Task) -> Iterator[InputPath]:
    """Every input path a task (or a step of a search, at any grid point) names."""
    steps = task.search.steps if task.search is not None else (task,)
    for step in steps:
        values: dict[str, list[Any]] = {name: [v] for name, v in step.params.items()}
        if task.search is not None:
            for point in task.search.points:
                for name, v in point.get(step.id, {}).items():
                    values.setdefault(name, []).append(v)
        for name in sorted(values):
            if not is_path_param(name):
                continue
            for v in values[name]:
                for one in v if isinstance(v, (list, tuple)) else [v]:
                    if isinstance(one, str) and one.strip():
                        yield InputPath(task, name, one.strip())


def top_directory(path: str) -> str:
    """``/p/data/era5/*/t2m.nc`` -> ``/p/data/era5``; ``/p/data/x.nc`` -> ``/p/data`` (normalised)."""
    parts = PurePosixPath(os.path.normpath(path)).parts  # ("/", "p", "data", ...)
    cut = next((i for i, part in enumerate(parts) if _MAGIC.search(part)), len(parts) - 1)
    return str(PurePosixPath(*parts[:max(cut, 1)]))


def _needs(value: str, source_dir: str) -> tuple[str, str]:
    """("dir", directory) to bind, or ("var", NAME) for a path under $NAME."""
    if value.startswith("~"):
        return "var", "HOME"
    m = _LEADING_VAR.match(value)
    if m:
        return "var", m.group(1)
    if os.path.isabs(value):
        return "dir", top_directory(value)
    joined = os.path.normpath(os.path.join(source_dir, value))
    if joined == source_dir or joined.startswith(source_dir.rstrip("/") + "/"):
        return "dir", source_dir
    return "dir", top_directory(joined)


def pipeline_binds(tasks: list[Task], source_path: str, profile: Profile, reporter: Reporter, fallback: Span) -> tuple[str, ...]:
    """The directories to bind for the inputs of ``tasks`` that run in Apptainer (resolved
    resources), fewest first: one that lies inside another is left out. Reports E420."""
    source_dir = os.path.normpath(os.path.dirname(source_path)) if source_path else "/"
    bound_vars = set(profile.container.bind_env)
    if not any(flag in _HOME_OFF for flag in profile.container.flags):
        bound_vars.add("HOME")
    described = ", ".join(f"${v}" for v in sorted(bound_vars)) or "none"
    dirs: set[str] = set()
    for task in tasks:
        if task.resources.environment != "apptainer":
            continue
        for inp in input_paths(task):
            kind, what = _needs(inp.value, source_dir)
            span = task.loc.span() if task.loc else fallback
            if kind == "var":
                if what not in bound_vars:
                    reporter.report(UnboundInput, span, value=inp.value, param=inp.param, task=task.id, bound=described,
                                    reason=f"${what} is not among the variables the profile binds")
            elif what in _IMAGE_DIRS:
                reporter.report(UnboundInput, span, value=inp.value, param=inp.param, task=task.id, bound=described,
                                reason=f"its directory would be {what}, which the image itself needs")
            elif any(c in what for c in ",:"):  # Apptainer reads --bind as src[:dest[:opts]], comma-separated
                reporter.report(UnboundInput, span, value=inp.value, param=inp.param, task=task.id, bound=described,
                                reason=f"its directory {what} contains ',' or ':', which Apptainer's --bind reads as separators")
            else:
                dirs.add(what)
    ordered = sorted(dirs)
    return tuple(d for d in ordered if not any(d != o and d.startswith(o.rstrip("/") + "/") for o in ordered))
