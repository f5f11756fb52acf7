"""Golden files: compare generated text with tests/golden/<name>; regenerate on demand.

``MFILE_UPDATE_GOLDEN=1 pytest tests/test_codegen_golden.py`` rewrites the files (review the
git diff); they are never edited by hand. A mismatch fails with a unified diff. Registered as a
plugin (``pytest_plugins = ["golden_util"]`` in tests/conftest.py) this module also adds the
option ``pytest --update-golden``.
"""

from __future__ import annotations

import difflib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

GOLDEN = Path(__file__).resolve().parent / "golden"


_OPTION = {"update": False}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-golden", action="store_true", help="rewrite tests/golden/ from the generated text")


def pytest_configure(config: pytest.Config) -> None:
    _OPTION["update"] = bool(config.getoption("--update-golden", default=False))


def updating() -> bool:
    return _OPTION["update"] or os.environ.get("MFILE_UPDATE_GOLDEN") == "1"


def assert_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if updating():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return
    if not path.exists():
        pytest.fail(f"no golden file {path}: run MFILE_UPDATE_GOLDEN=1 pytest {os.environ.get('PYTEST_CURRENT_TEST', '').split('::')[0]}")
    want = path.read_text(encoding="utf-8")
    if want != text:
        diff = "".join(difflib.unified_diff(want.splitlines(True), text.splitlines(True), f"golden/{name}", "generated"))
        pytest.fail(f"{name} differs from its golden file (MFILE_UPDATE_GOLDEN=1 to accept):\n{diff}")


def check_shell(paths: list[Path]) -> None:
    """Every script parses (bash -n) and passes shellcheck without a warning."""
    for path in paths:
        proc = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
        assert proc.returncode == 0, f"bash -n {path}: {proc.stderr}"
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        if os.environ.get("CI"):
            pytest.fail("shellcheck is not installed (scripts/install.sh installs it)")
        pytest.skip("shellcheck is not installed")
    proc = subprocess.run([shellcheck, "--shell=bash", "--severity=style", *map(str, paths)], capture_output=True, text=True)
    assert proc.returncode == 0, f"shellcheck:\n{proc.stdout}{proc.stderr}"
