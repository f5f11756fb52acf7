"""Nothing lost: compile writes the run directory atomically, a failed compile leaves the old one
as it was, recompiling keeps finished tasks' outputs (unless --force), and two concurrent
``mfile submit`` of one run directory cannot both queue jobs (two real processes)."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mfile.codegen import render
from security_support import SEC_ITEMS, install_shims, run_mfile

FLOW = 'echo = MantikItem(name="sec/echo:1").configure(params={"p0": "a"})\np = MantikPipeline(stages={"s": [echo]})\n'


def snapshot(root: Path) -> dict[str, bytes | None]:
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None) for p in sorted(root.rglob("*"))}


def compile_(src: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    return run_mfile("compile", str(src), "--items", str(SEC_ITEMS), "-o", str(out), *extra)


@pytest.fixture
def done_run(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A compiled run directory whose one task really ran (completion record + outputs)."""
    src = tmp_path / "flow.mfile"
    src.write_text(FLOW)
    out = tmp_path / "out"
    assert compile_(src, out).returncode == 0
    run_dir = out / "p"
    job = subprocess.run(["bash", "jobs/echo.sbatch"], cwd=run_dir, capture_output=True, text=True, timeout=180)
    assert job.returncode == 0, job.stderr
    (run_dir / "logs" / "p.echo-1.out").write_text("log of the finished job\n")
    assert (run_dir / "state" / "echo.json").is_file()
    return src, out, run_dir


def test_a_failed_compile_leaves_the_previous_run_directory_untouched(done_run) -> None:
    src, out, run_dir = done_run
    before = snapshot(out)
    src.write_text(FLOW.replace("sec/echo:1", "sec/nope:1"))
    result = compile_(src, out)
    assert result.returncode == 1
    assert snapshot(out) == before


def test_a_fault_while_writing_leaves_the_previous_run_directory_untouched(done_run, monkeypatch) -> None:
    src, out, run_dir = done_run
    before = snapshot(out)
    from mfile.commands.compile import compile_command

    def broken(plan, profile):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(render, "render_scripts", broken)
    with pytest.raises(OSError):
        compile_command(src, [SEC_ITEMS], "local", [], out, "run-dir", False, "text", lambda *a, **k: None)
    assert snapshot(out) == before


def test_a_fault_after_outputs_moved_puts_everything_back(done_run, monkeypatch) -> None:
    """The last rename fails after the finished task's outputs moved to the new directory:
    they move back and the old run directory is restored, byte for byte."""
    src, out, run_dir = done_run
    before = snapshot(out)
    from mfile.commands.compile import compile_command

    real_replace = os.replace

    def failing_replace(a, b):
        if Path(b) == run_dir and ".p." in Path(a).name and ".old." not in str(a):
            raise OSError(5, "Input/output error")
        return real_replace(a, b)

    monkeypatch.setattr(render.os, "replace", failing_replace)
    with pytest.raises(OSError):
        compile_command(src, [SEC_ITEMS], "local", [], out, "run-dir", False, "text", lambda *a, **k: None)
    assert snapshot(out) == before


def test_recompiling_keeps_finished_outputs_and_records_unless_force(done_run) -> None:
    src, out, run_dir = done_run
    kept = {k: v for k, v in snapshot(run_dir).items() if k.startswith(("state/echo", "data/echo", "logs/"))}
    assert "state/echo.json" in kept and any(k.startswith("data/echo/") for k in kept)
    src.write_text(FLOW + "# an edit\n")
    assert compile_(src, out).returncode == 0
    after = snapshot(run_dir)
    assert {k: after.get(k) for k in kept} == kept
    assert sorted(p.name for p in out.iterdir()) == ["p"]  # no temporary or old directories left
    assert compile_(src, out, "--force").returncode == 0
    after = snapshot(run_dir)
    assert "state/echo.json" not in after and not any(k.startswith("data/echo/") for k in after)


def test_compile_refuses_while_a_submit_holds_the_lock(done_run) -> None:
    src, out, run_dir = done_run
    before = snapshot(out)
    with open(run_dir / "state" / "submit.lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        result = compile_(src, out)
    assert result.returncode == 2 and "mfile submit" in result.stderr
    before.pop("p/state/submit.lock", None)
    after = snapshot(out)
    after.pop("p/state/submit.lock", None)
    assert after == before
    assert compile_(src, out).returncode == 0  # released: compiling goes ahead


SLOW_SBATCH = """#!/bin/bash
# sbatch that takes a while to answer, as a busy slurmctld does; counts its calls.
echo "$$" >>"$SHIM_STATE/sbatch.calls"
sleep 4
echo $(( 1000 + $(wc -l <"$SHIM_STATE/sbatch.calls") ))
"""


def test_two_concurrent_submits_of_one_run_directory(tmp_path: Path) -> None:
    src = tmp_path / "flow.mfile"
    src.write_text(FLOW)
    out = tmp_path / "out"
    assert compile_(src, out).returncode == 0
    run_dir = out / "p"
    env = install_shims(tmp_path / "bin", tmp_path / "shim")
    (tmp_path / "bin" / "sbatch").write_text(SLOW_SBATCH)
    command = [sys.executable, "-m", "mfile.cli", "submit", str(run_dir)]
    first = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    calls = tmp_path / "shim" / "sbatch.calls"
    while not calls.exists() and time.time() < deadline:  # the first one is inside sbatch now
        time.sleep(0.05)
    assert calls.exists(), first.communicate()
    second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    out1, err1 = first.communicate(timeout=60)
    assert first.returncode == 0, err1
    assert second.returncode == 2
    assert "another `mfile submit` is running on" in second.stderr and f"pid {first.pid}" in second.stderr
    assert len(second.stderr.strip().splitlines()) == 1
    assert len(calls.read_text().split()) == 1  # one job queued once, by the first submit
    assert "echo: 1001" in out1
