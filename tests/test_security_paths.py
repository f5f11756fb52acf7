"""Path traversal: item names, item directories that are symlinks out of their root, ``-o``
output paths, and data paths in params (docs/security.md, "Paths")."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from mfile.compiler.frontend import check_paths
from security_support import CASE_ITEMS, SEC_ITEMS, run_mfile

FLOW = 'e = MantikItem(name="sec/echo:1").configure(params={"path": "../../../etc/shadow"})\np = MantikPipeline(stages={"s": [e]})\n'


def codes(src: Path, roots: list[Path]) -> list[str]:
    return [r.code for r in check_paths([src], roots).reporter.reports if r.severity.value == "error"]


@pytest.mark.parametrize("name", ["../../etc", "sec/../../echo", "/etc/passwd", "sec/echo:../../1", "sec/echo:1/../1",
                                  "sec\\echo:1", "sec/echo:1\x00", "sec/ec ho:1", "-rf/echo:1"])
def test_item_names_cannot_leave_the_root(tmp_path: Path, name: str) -> None:
    src = tmp_path / "flow.mfile"
    src.write_text(f'e = MantikItem(name={json.dumps(name)})\np = MantikPipeline(stages={{"s": [e]}})\n')
    found = codes(src, [SEC_ITEMS])
    assert found and set(found) <= {"E330", "E334"}, found


def _root_with_escape(tmp_path: Path, how: str) -> Path:
    root = tmp_path / "root"
    outside = tmp_path / "outside" / "echo" / "1"
    shutil.copytree(SEC_ITEMS / "sec" / "echo" / "1", outside)
    (root / "sec").mkdir(parents=True)
    if how == "namespace":
        (root / "sec").rmdir()
        (root / "sec").symlink_to(tmp_path / "outside", target_is_directory=True)
    elif how == "item":
        (root / "sec" / "echo").symlink_to(tmp_path / "outside" / "echo", target_is_directory=True)
    elif how == "version":
        (root / "sec" / "echo").mkdir()
        (root / "sec" / "echo" / "1").symlink_to(outside, target_is_directory=True)
    elif how == "header":
        (root / "sec" / "echo" / "1").mkdir(parents=True)
        (root / "sec" / "echo" / "1" / "MantikHeader").symlink_to(outside / "MantikHeader")
    return root


@pytest.mark.parametrize("how", ["namespace", "item", "version", "header"])
def test_symlinks_out_of_an_item_root_are_refused(tmp_path: Path, how: str) -> None:
    root = _root_with_escape(tmp_path, how)
    src = tmp_path / "flow.mfile"
    src.write_text(FLOW)
    assert "E336" in codes(src, [root])
    result = run_mfile("compile", str(src), "--items", str(root), "-o", str(tmp_path / "out"))
    assert result.returncode == 1 and not (tmp_path / "out").exists()


def test_symlinks_inside_an_item_root_are_fine(tmp_path: Path) -> None:
    root = tmp_path / "root"
    shutil.copytree(SEC_ITEMS, root)
    (root / "sec" / "echo" / "2").symlink_to(root / "sec" / "echo" / "1", target_is_directory=True)
    src = tmp_path / "flow.mfile"
    src.write_text(FLOW.replace("sec/echo:1", "sec/echo:2"))
    assert codes(src, [root]) == []


def test_data_paths_are_data(tmp_path: Path) -> None:
    """A data path outside every root compiles unchanged into plan.json and is never opened or
    put into a script at compile time (the payload opens it at run time, as the user)."""
    src = tmp_path / "flow.mfile"
    src.write_text(FLOW)
    result = run_mfile("compile", str(src), "--items", str(SEC_ITEMS), "-o", str(tmp_path / "out"))
    assert result.returncode == 0, result.stdout + result.stderr
    run_dir = tmp_path / "out" / "p"
    plan = json.loads((run_dir / "plan.json").read_text())
    assert plan["pipeline"]["tasks"][0]["params"]["path"] == "../../../etc/shadow"
    for script in [*run_dir.glob("jobs/*"), run_dir / "submit.sh"]:
        assert "shadow" not in script.read_text()


@pytest.mark.parametrize("what", ["file", "foreign-dir", "symlink"])
def test_output_paths_never_replace_what_is_not_a_run_directory(tmp_path: Path, what: str) -> None:
    src = tmp_path / "flow.mfile"
    src.write_text(FLOW)
    out = tmp_path / "home"
    out.mkdir()
    target = out / "p"
    if what == "file":
        target.write_text("precious")
    elif what == "foreign-dir":
        target.mkdir()
        (target / "thesis.tex").write_text("precious")
    else:
        (tmp_path / "elsewhere").mkdir()
        (tmp_path / "elsewhere" / "plan.json").write_text("{}")
        target.symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    result = run_mfile("compile", str(src), "--items", str(SEC_ITEMS), "-o", str(out))
    assert result.returncode == 2
    assert result.stderr.startswith("mfile: error: ") and len(result.stderr.strip().splitlines()) == 1
    if what == "file":
        assert target.read_text() == "precious"
    elif what == "foreign-dir":
        assert (target / "thesis.tex").read_text() == "precious"
    else:
        assert target.is_symlink() and (tmp_path / "elsewhere" / "plan.json").read_text() == "{}"
    assert [p.name for p in out.iterdir()] == ["p"]  # no temporary directory left behind


def test_output_path_that_is_a_file_or_unwritable_is_a_usage_error(tmp_path: Path) -> None:
    src = tmp_path / "flow.mfile"
    src.write_text(FLOW)
    (tmp_path / "afile").write_text("x")
    for out in (tmp_path / "afile", tmp_path / "afile" / "sub", Path("/proc/mfile-nope")):
        result = run_mfile("compile", str(src), "--items", str(SEC_ITEMS), "-o", str(out))
        assert result.returncode == 2, result.stderr
        assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_an_empty_directory_at_the_target_is_replaced(tmp_path: Path) -> None:
    src = tmp_path / "flow.mfile"
    src.write_text(FLOW)
    (tmp_path / "out" / "p").mkdir(parents=True)
    assert run_mfile("compile", str(src), "--items", str(SEC_ITEMS), "-o", str(tmp_path / "out")).returncode == 0
    assert (tmp_path / "out" / "p" / "plan.json").is_file()


def test_case_items_are_untouched_by_checking() -> None:
    """Checking reads item roots and never writes into them."""
    before = sorted((p, p.stat().st_mtime_ns) for p in CASE_ITEMS.rglob("*"))
    check_paths([Path(__file__).parent / "cases" / "ok" / "full_pipeline.mfile"], [CASE_ITEMS])
    assert sorted((p, p.stat().st_mtime_ns) for p in CASE_ITEMS.rglob("*")) == before
