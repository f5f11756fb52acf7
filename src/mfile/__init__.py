"""mfile: compile M-File ML workflows into Slurm batch jobs.

The Python API (``mfile.check``, ``mfile.compile``, ``mfile.run``, ``mfile.submit``,
``mfile.status``; docs/api.md) lives in ``mfile.api`` and is loaded on first use, so that
``import mfile`` (and with it ``mfile check``) does not load codegen, jinja2 or Slurm code.
"""

from __future__ import annotations

import importlib

# Not typing.TYPE_CHECKING: importing typing would double the cost of `import mfile`;
# type checkers read a module-level TYPE_CHECKING = False the same way.
TYPE_CHECKING = False

__version__ = "0.1.0"

# Names that ``mfile.<name>`` finds in ``mfile.api`` (PEP 562). The package root sits below
# every layer, so it names the module as a string instead of importing it.
API = ("check", "compile", "run", "submit", "status", "Diagnostic", "Diagnostics", "CompileError",
       "CompiledPipeline", "RunResult", "Submission", "SubmitFailed", "Status", "UsageError")  # fmt: skip

if TYPE_CHECKING:  # type checkers and editors see the real signatures
    from typing import Any

    from mfile.api import (  # noqa: F401
        CompiledPipeline, CompileError, Diagnostic, Diagnostics, RunResult, Status, Submission,
        SubmitFailed, UsageError, check, compile, run, status, submit,
    )  # fmt: skip


def __getattr__(name: str) -> Any:
    if name in API:
        value = getattr(importlib.import_module("mfile.api"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'mfile' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *API])
