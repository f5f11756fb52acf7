"""The project configuration: ``mfile.toml``, or ``[tool.mfile]`` in ``pyproject.toml``, found
upwards from the M-File as ruff and pytest find theirs. Flags on the command line override it.

    # mfile.toml (or [tool.mfile] in pyproject.toml)
    items = ["items", "../shared-items"]   # item roots, relative to this file
    profile = "juwels-booster"              # a shipped profile or a path to a TOML file
    output = "runs"                         # where compile and run write run directories

Paths are relative to the directory of the file that names them, so the same project gives
the same answer whatever directory a command is started from.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mfile.diagnostics import did_you_mean
from mfile.errors import UsageError

MFILE_TOML = "mfile.toml"
PYPROJECT = "pyproject.toml"
KEYS = ("items", "profile", "output")


@dataclass(frozen=True)
class ProjectConfig:
    """What the project file says; every field empty when there is none."""

    path: Path | None = None  # the file it came from
    items: tuple[Path, ...] = ()
    profile: str | None = None
    output: Path | None = None

    def item_roots(self, flags: tuple[str, ...]) -> list[Path]:
        """``--items`` when given, else the file's roots."""
        return [Path(p) for p in flags] if flags else list(self.items)

    def profile_or(self, flag: str | None, default: str | None) -> str | None:
        """``--profile`` when given, else the file's, else ``default``."""
        return flag or self.profile or default

    def output_or(self, flag: Path | None, default: Path) -> Path:
        return flag or self.output or default


def find_config(start: Path) -> ProjectConfig:
    """The nearest ``mfile.toml`` (or ``pyproject.toml`` with ``[tool.mfile]``) at or above ``start``."""
    here = start.resolve()
    directory = here if here.is_dir() else here.parent
    for folder in (directory, *directory.parents):
        own = folder / MFILE_TOML
        if own.is_file():
            return _config(own, _read(own))
        pyproject = folder / PYPROJECT
        if pyproject.is_file():
            table = _read(pyproject).get("tool", {})
            if isinstance(table, dict) and "mfile" in table:
                return _config(pyproject, table["mfile"], "[tool.mfile]")
    return ProjectConfig()


def _read(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path}: not valid TOML ({exc})") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot read it ({exc.strerror})") from None


def _config(path: Path, table: Any, where: str = "") -> ProjectConfig:
    at = f"{path}{' ' + where if where else ''}"
    if not isinstance(table, dict):
        raise UsageError(f"{at}: expected a table of settings ({', '.join(KEYS)})")
    for key in table:
        if key not in KEYS:
            raise UsageError(f"{at}: unknown setting {key!r}{did_you_mean(key, KEYS)}; known: {', '.join(KEYS)}")
    base = path.parent
    items = table.get("items", [])
    if not isinstance(items, list) or not all(isinstance(i, str) and i for i in items):
        raise UsageError(f"{at}: items must be a list of directory paths, got {items!r}")
    profile = table.get("profile")
    if profile is not None and (not isinstance(profile, str) or not profile):
        raise UsageError(f"{at}: profile must be a profile name or a path to a TOML file, got {profile!r}")
    if profile is not None and ("/" in profile or profile.endswith(".toml")):
        profile = str(base / profile)
    output = table.get("output")
    if output is not None and (not isinstance(output, str) or not output):
        raise UsageError(f"{at}: output must be a directory path, got {output!r}")
    return ProjectConfig(
        path=path,
        items=tuple(base / i for i in items),
        profile=profile,
        output=base / output if output is not None else None,
    )
