"""End to end on the local Slurm: a parameter full of quotes, ``$()``, backticks, newlines,
spaces and template syntax arrives in the item unchanged, and none of it runs; the run
directory's own path has such characters too (issue 6, scenario 7)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "e2e"))
from e2e_support import (  # noqa: E402
    Jobs,
    compile_run_dir,
    jobs,  # noqa: F401  (fixture)
    logs_of,
    read_port,
    wait_final,
    write_mfile,
)

pytestmark = pytest.mark.e2e

# What the M-File's literal (tests/fixtures/e2e/quoting.mfile) says, written as a Python literal.
EXPECTED = (
    "it's \"q\" $(touch @MARK@/dollar) `touch @MARK@/tick` ;\n rm -rf @MARK@/victim ; echo $HOME ${PATH} "
    "\\ 'x' & > @MARK@/redirect\ttab %x %j %% {{ jinja }} {% if x %} é 日本 \\n"
)
# A run directory whose path a shell would expand or split if it ever saw it unquoted.
OUT = "o u't $(touch pwned) `touch pwned2` ;x"


def test_a_hostile_parameter_arrives_byte_for_byte_and_nothing_runs(tmp_path: Path, jobs: Jobs) -> None:  # noqa: F811
    mark = tmp_path / "mark"
    mark.mkdir()
    (mark / "victim").write_text("still here\n")
    source = write_mfile(tmp_path, "quoting.mfile", {"MARK": str(mark)})
    run_dir = compile_run_dir(source, tmp_path / OUT, "quoted")

    ids = jobs.submit(run_dir)
    records = wait_final(ids.values())
    assert [r["JobState"] for r in records] == ["COMPLETED"], logs_of(run_dir)
    assert records[0]["WorkDir"] == str(run_dir)

    received = bytes(read_port(run_dir / "data" / "echo" / "output")["byte"].values.tolist())
    expected = EXPECTED.replace("@MARK@", str(mark)).encode("utf-8")
    assert received == expected
    assert sorted(p.name for p in mark.iterdir()) == ["victim"]  # no dollar, tick, redirect
    assert (mark / "victim").read_text() == "still here\n"
    assert not [p for p in tmp_path.rglob("pwned*")]
