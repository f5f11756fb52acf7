"""The pure pieces of script generation: flag rendering, paths, comments, job names, jobs."""

from __future__ import annotations

import shlex
import subprocess

from codegen_ir import HEADERS, SOURCE_INFO, mnist_program
from mfile.codegen.jobs import array_chunks, assemble_plan, job_name, plan_jobs
from mfile.codegen.profile import load_profile
from mfile.codegen.slurm import comment, render_flags, shell_path
from mfile.diagnostics import Reporter


def test_render_flags_is_sorted_and_quoted() -> None:
    flags = render_flags({"time": "01:00:00", "requeue": True, "mem": None, "no_kill": False, "cpus_per_task": 4,
                          "comment": "a b", "job_name": "p.t"})
    assert flags == ["--comment='a b'", "--cpus-per-task=4", "--job-name=p.t", "--requeue", "--time=01:00:00"]
    assert render_flags(dict(reversed(list({"b": 1, "a": 2}.items())))) == ["--a=2", "--b=1"]


def test_shell_path_keeps_only_a_leading_variable() -> None:
    assert shell_path("/p/x y/img.sif") == "'/p/x y/img.sif'"
    assert shell_path("$PROJECT/a b.sif") == "\"${PROJECT:?is not set: the container image is under it}\"'/a b.sif'"
    assert shell_path("/x/$(reboot)") == shlex.quote("/x/$(reboot)")
    out = subprocess.run(["bash", "-c", f"printf '%s' {shell_path('$PROJECT/a b.sif')}"], env={"PROJECT": "/p"},
                         capture_output=True, text=True)
    assert out.stdout == "/p/a b.sif"
    out = subprocess.run(["bash", "-c", f"printf '%s' {shell_path('$PROJECT/a.sif')}"], env={}, capture_output=True, text=True)
    assert out.returncode != 0 and "PROJECT: is not set" in out.stderr


def test_comment_and_job_name_are_single_safe_lines() -> None:
    assert comment("a\nb\rc\x1b") == "a?b?c?"
    assert job_name("my pipe", "x;y") == "my_pipe.x_y"


def test_array_chunks_stay_below_max_array_size() -> None:
    assert array_chunks(6, 1001) == [(0, 6)]
    assert array_chunks(2500, 1001) == [(0, 1001), (1001, 1001), (2002, 498)]
    assert all(count <= 1001 for _, count in array_chunks(5000, 1001))


def test_jobs_follow_data_dependencies(monkeypatch) -> None:
    monkeypatch.setenv("BUDGET_ACCOUNTS", "deepacf")
    profile = load_profile("juwels-booster")
    plan = assemble_plan(mnist_program(), "mnist", profile, SOURCE_INFO, HEADERS, Reporter())
    assert [(j.name, j.after) for j in plan_jobs(plan, profile)] == [
        ("digits", ()), ("split", ("digits",)), ("train", ("split",)), ("evaluate", ("split", "train")), ("save", ("train",))]
