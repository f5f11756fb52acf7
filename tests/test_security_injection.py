"""Shell injection: hostile text in every place a user controls reaches the item unchanged or is
refused at compile time; nothing is ever run by a shell. Proven by running what compile wrote:
``submit.sh`` and the job scripts under bash (``sbatch``/``apptainer``/``module`` are shims that
run the next command for real), the real runtime and a test item (sec/echo:1) whose payload
writes the params it received to ``echo/<task>.json``; with the local Slurm up, also through
the real ``sbatch``. Each test fails if a marker file appears or a byte changed on the way.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from security_support import (
    CASE_ITEMS,
    REPO,
    SEC_ITEMS,
    hostile,
    install_shims,
    mfile_string,
    run_mfile,
)

JOB_NAME = re.compile(r"^#SBATCH --job-name=[A-Za-z0-9_.-]+$")
SBATCH_LINE = re.compile(r"^#SBATCH --[a-z][a-z-]*(=(?:[A-Za-z0-9_.,:=@%/+-]+|'[^'\n]*'))?$")


def echo_mfile(strings: list[str], stage: str = "s", path: str = "../../etc/passwd") -> str:
    params = ", ".join(f'"p{i}": {mfile_string(s)}' for i, s in enumerate(strings))
    return (
        f'echo = MantikItem(name="sec/echo:1").configure(params={{{params}, "path": {mfile_string(path)}}})\n'
        f"p = MantikPipeline(stages={{{mfile_string(stage)}: [echo]}})\n"
    )


def hostile_dir(base: Path, marker: Path) -> Path:
    """A directory whose name has quotes, $(), backticks, ;, a newline, unicode, a leading dash."""
    return base / f"-o 'q\"uo`touch {marker.name}`$(touch {marker.name});\nx é"


def check_scripts(run_dir: Path) -> None:
    """Every #SBATCH line is one sanitised option; bash parses every script."""
    for script in [*run_dir.glob("jobs/*.sbatch"), run_dir / "submit.sh"]:
        text = script.read_text()
        sbatch = [line for line in text.splitlines() if line.startswith("#SBATCH")]
        assert all(SBATCH_LINE.match(line) for line in sbatch), sbatch
        if script.suffix == ".sbatch":
            assert sum(bool(JOB_NAME.match(line)) for line in sbatch) == 1
        assert subprocess.run(["bash", "-n", str(script)]).returncode == 0


def received(run_dir: Path) -> dict:
    return json.loads((run_dir / "echo" / "echo.json").read_text())


def test_hostile_params_stage_and_paths_arrive_unchanged_through_submit_sh(tmp_path: Path) -> None:
    marker = tmp_path / "PWNED"
    strings = hostile(marker)
    stage = f"stage $(touch {marker})\n`touch {marker}`"
    where = hostile_dir(tmp_path, marker)
    items = where / "items"
    shutil.copytree(SEC_ITEMS / "sec", items / "sec")
    src = where / "flow.mfile"
    src.write_text(echo_mfile(strings, stage=stage))
    out = where / "out"

    result = run_mfile("compile", str(src), "--items", str(items), "-o", str(out), cwd=where)
    assert result.returncode == 0, result.stderr
    run_dir = out / "p"
    check_scripts(run_dir)
    plan = json.loads((run_dir / "plan.json").read_text())
    assert plan["pipeline"]["tasks"][0]["stage"] == stage  # kept as data, never as code

    env = install_shims(tmp_path / "bin", tmp_path / "shim")
    done = subprocess.run(["bash", str(run_dir / "submit.sh")], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr + (tmp_path / "shim" / "jobs.log").read_text()
    got = received(run_dir)
    for i, s in enumerate(strings):
        assert got[f"p{i}"] == s, i
    assert got["path"] == "../../etc/passwd"  # data paths are the user's: passed as data
    assert not marker.exists() and not (where / "PWNED").exists()
    assert not list(tmp_path.rglob("PWNED"))
    assert json.loads((run_dir / "state" / "jobs.json").read_text())["jobs"][0]["task"] == "echo"


def test_hostile_item_root_image_and_account_under_apptainer_profile(tmp_path: Path) -> None:
    """juwels-booster: Apptainer binds the item directory and starts the image by their exact
    paths; modules load; the account comes from $BUDGET_ACCOUNTS."""
    marker = tmp_path / "PWNED"
    where = hostile_dir(tmp_path, marker)
    items = where / "items"
    shutil.copytree(SEC_ITEMS / "sec", items / "sec")
    # Relative to the item directory: the profile's image_roots refuse images elsewhere (E417).
    image = f"-img 'q\"$(touch {marker.name}) `touch {marker.name}`; é.sif"
    text = echo_mfile(hostile(marker)[:4])
    text = text.replace(").configure(params=", f").configure(resources={{\"container\": {mfile_string(image)}}}, params=")
    src = where / "flow.mfile"
    src.write_text(text)
    out = tmp_path / "out"
    result = run_mfile("compile", str(src), "--items", str(items), "-o", str(out), "--profile", "juwels-booster",
                       env={"BUDGET_ACCOUNTS": "deepacf"})
    assert result.returncode == 0, result.stderr
    run_dir = out / "p"
    check_scripts(run_dir)
    script = (run_dir / "jobs" / "echo.sbatch").read_text()
    assert "#SBATCH --account=deepacf" in script

    env = install_shims(tmp_path / "bin", tmp_path / "shim")
    job = subprocess.run(["bash", str(run_dir / "jobs" / "echo.sbatch")], cwd=run_dir, env=env,
                         capture_output=True, text=True, timeout=180)
    assert job.returncode == 0, job.stderr
    args = (tmp_path / "shim" / "apptainer.args").read_text().split("\0")[:-1]
    binds = [args[i + 1] for i, a in enumerate(args) if a == "--bind"]
    item_dir = json.loads((run_dir / "plan.json").read_text())["pipeline"]["tasks"][0]["item"]["directory"]
    assert item_dir in binds and str(run_dir) in binds
    assert f"{item_dir}/{image}" in args
    # The item directory may hold a newline (it is bound by its exact path); an image path
    # may not: it is refused with a diagnostic.
    assert "\n" in item_dir
    src.write_text(text.replace(mfile_string(image), mfile_string(image + "\n")))
    refused = run_mfile("check", str(src), "--items", str(items), "--format", "json")
    assert refused.returncode == 1 and "E322" in {d["code"] for d in json.loads(refused.stdout)}
    assert received(run_dir)["p0"] == hostile(marker)[0]
    assert not list(tmp_path.rglob("PWNED"))


HOSTILE_PROFILE_VALUES = [
    ("cpu_partition", '"batch$(touch {m})"', "[partitions.\"batch$(touch {m})\"]\ncores_per_node = 4\nmemory_per_node_mb = 8000\nmax_time = \"1:00:00\"\nmax_nodes = 1\n"),
    ("account", '"x;touch {m}"', ""),
    ("modules", '["Stages/2024;touch {m}"]', ""),
    ("modules", '["-f", "$(touch {m})"]', ""),
    ("interconnect_suffix", '"$(touch {m})"', ""),
    ("python", '"/usr/bin/env python3 $(touch {m})"', ""),
    ("name", '"local\\ntouch {m}"', ""),
    ("description", '"x\\n$(touch {m})"', ""),
    ("select_time", '"$(touch {m})"', ""),
    ("default_time", '"`touch {m}`"', ""),
    ("account_env", '"X;touch {m}"', ""),
]


@pytest.mark.parametrize("key,value,extra", HOSTILE_PROFILE_VALUES, ids=lambda v: v if "\n" not in str(v) else "")
def test_hostile_profile_values_are_refused_or_inert(tmp_path: Path, key: str, value: str, extra: str) -> None:
    """A user's profile TOML with hostile strings: exit 2 with one line, an E4xx diagnostic, or
    scripts that run it as plain data (the job may fail, but the marker never appears)."""
    marker = tmp_path / "PWNED"
    base = (REPO / "src" / "mfile" / "profiles" / "local.toml").read_text()
    lines = [line for line in base.splitlines() if not line.startswith(f"{key} ")]
    header_end = next(i for i, line in enumerate(lines) if line.startswith("["))
    lines.insert(header_end, f"{key} = {value.format(m=marker)}")
    if key != "python":  # the runtime's own start-up is not under test here: a stub is quicker
        stub = tmp_path / "stub-python"
        stub.write_text("#!/bin/sh\nexit 0\n")
        stub.chmod(0o755)
        lines.insert(header_end, f'python = "{stub}"')
    profile = tmp_path / "hostile.toml"
    profile.write_text("\n".join(lines) + "\n" + extra.format(m=marker))
    src = tmp_path / "flow.mfile"
    src.write_text(echo_mfile(["plain"]))
    result = run_mfile("compile", str(src), "--items", str(SEC_ITEMS), "-o", str(tmp_path / "out"), "--profile", str(profile))
    assert "Traceback" not in result.stderr
    if result.returncode == 2:  # a bad profile is a usage error: one line
        assert len(result.stderr.strip().splitlines()) == 1 and result.stderr.startswith("mfile: error: ")
        return
    if result.returncode == 1:  # or a diagnostic (E4xx) at the pipeline
        assert re.search(r"error\[E4\d\d\]", result.stdout), result.stdout
        return
    assert result.returncode == 0, result.stderr
    run_dir = tmp_path / "out" / "p"
    check_scripts(run_dir)
    env = install_shims(tmp_path / "bin", tmp_path / "shim")
    subprocess.run(["bash", str(run_dir / "submit.sh")], cwd=tmp_path, env=env, capture_output=True, timeout=180)
    assert not marker.exists()


@pytest.mark.parametrize("extra,code", [
    ('["--comment=x\\n#SBATCH --wrap=id"]', "E322"),
    ('["--comment=$(id)"]', "E322"),
    ('["--job-name=x"]', "E327"),
    ('["-o /etc/passwd"]', "E327"),
    ('["--output=/tmp/x"]', "E327"),
    ('["--outp=/tmp/x"]', "E327"),
    ('["--export=ALL"]', "E327"),
])
def test_hostile_sbatch_extra_is_refused(tmp_path: Path, extra: str, code: str) -> None:
    src = tmp_path / "flow.mfile"
    src.write_text(echo_mfile(["plain"]).replace(").configure(params=", f").configure(resources={{\"sbatch_extra\": {extra}}}, params="))
    result = run_mfile("compile", str(src), "--items", str(SEC_ITEMS), "--format", "json", "-o", str(tmp_path / "out"))
    assert result.returncode == 1
    assert code in {d["code"] for d in json.loads(result.stdout)}
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("name", ["j$(touch /tmp/x)", "../../etc", "-rf", "a b", "a\nb", "é", "class"])
def test_hostile_task_and_pipeline_names_are_refused(tmp_path: Path, name: str) -> None:
    src = tmp_path / "flow.mfile"
    src.write_text(
        'd = MantikItem(name="test/digits:1")\n'
        f"x = MantikPipeline(stages={{\"s\": [d]}}, reference={mfile_string(name)})\n"
        f'images, labels = d.get_output_reference()\n'
        f"j = join(inputs=[images, labels], reference={mfile_string(name)})\n"
    )
    result = run_mfile("check", str(src), "--items", str(CASE_ITEMS), "--format", "json")
    assert result.returncode == 1
    codes = [(d["code"], d["line"]) for d in json.loads(result.stdout)]
    assert ("E109", 2) in codes and ("E109", 4) in codes


@pytest.mark.e2e
def test_hostile_params_through_the_real_slurm(tmp_path: Path, slurm_cluster) -> None:
    marker = tmp_path / "PWNED"
    strings = hostile(marker)
    src = tmp_path / "flow.mfile"
    src.write_text(echo_mfile(strings, stage=f"s$(touch {marker})"))
    out = tmp_path / f"out $(touch {marker.name})"
    assert run_mfile("compile", str(src), "--items", str(SEC_ITEMS), "-o", str(out)).returncode == 0
    run_dir = out / "p"
    sub = run_mfile("submit", str(run_dir))
    assert sub.returncode == 0, sub.stderr
    deadline = time.time() + 240
    record = run_dir / "state" / "echo.json"
    while time.time() < deadline and not record.exists():
        time.sleep(1)
    assert record.exists(), list((run_dir / "logs").glob("*"))
    got = received(run_dir)
    assert [got[f"p{i}"] for i in range(len(strings))] == strings
    assert not list(tmp_path.rglob("PWNED"))


def test_hostile_stage_names_in_graph_output(tmp_path: Path) -> None:
    """`mfile graph` embeds stage names in DOT and Mermaid: quotes are escaped and a line
    break never ends a label (a Mermaid label once ran onto a new line)."""
    src = tmp_path / "flow.mfile"
    stage = 'a"; x [label="pwn"]; \n}\r\n%% click X "javascript:alert(1)"'
    src.write_text(
        'd = MantikItem(name="test/digits:1")\n'
        f"p = MantikPipeline(stages={{{mfile_string(stage)}: [d]}})\n"
    )
    dot = run_mfile("graph", str(src), "--pipeline", "p", "--items", str(CASE_ITEMS))
    mermaid = run_mfile("graph", str(src), "--pipeline", "p", "--items", str(CASE_ITEMS), "--format", "mermaid")
    assert dot.returncode == 0 and mermaid.returncode == 0
    assert all(re.match(r'^(digraph |\s+(subgraph |label=|node |rankdir=|"|\}$)|\}$)', line) for line in dot.stdout.splitlines()), dot.stdout
    assert all(re.match(r"^(flowchart |  (subgraph|end|t_)|    t_)", line) for line in mermaid.stdout.splitlines()), mermaid.stdout
