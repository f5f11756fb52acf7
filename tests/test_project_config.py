"""The project file (mfile.toml or [tool.mfile] in pyproject.toml), `mfile check --profile`, and
commands that need no --pipeline when the M-File defines one (issue 16, parts 1 and 7)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mfile.commands.config import ProjectConfig, find_config
from mfile.errors import UsageError
from security_support import CASE_ITEMS

MFILE = [str(Path(sys.executable).with_name("mfile"))]

ONE_PIPELINE = '''\
data = MantikItem(name="test/digits:1")
net = MantikItem(name="test/net28:1").configure(resources={"gpus": GPUS, "time": "00:10:00"})
p = MantikPipeline(stages={"s": [data, net.set_input(data.output)]})
'''


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([*MFILE, *args], capture_output=True, text=True, cwd=cwd, timeout=120)


def write_project(root: Path, gpus: int = 0, config: str | None = None, where: str = "mfile.toml") -> Path:
    (root / "flows").mkdir(parents=True, exist_ok=True)
    mfile = root / "flows" / "p.mfile"
    mfile.write_text(ONE_PIPELINE.replace("GPUS", str(gpus)))
    if config is not None:
        (root / where).write_text(config)
    return mfile


# ----------------------------------------------------------------------------- discovery


def test_no_project_file_gives_the_empty_config(tmp_path: Path) -> None:
    assert find_config(tmp_path) == ProjectConfig()


def test_mfile_toml_is_found_upwards_and_paths_are_relative_to_it(tmp_path: Path) -> None:
    mfile = write_project(tmp_path, config='items = ["shared/items"]\nprofile = "juwels-booster"\noutput = "out"\n')
    config = find_config(mfile)
    assert config.path == (tmp_path / "mfile.toml").resolve()
    assert config.items == ((tmp_path / "shared" / "items").resolve(),)
    assert config.profile == "juwels-booster"
    assert config.output == (tmp_path / "out").resolve()


def test_tool_mfile_in_pyproject_counts_and_a_pyproject_without_it_is_passed(tmp_path: Path) -> None:
    write_project(tmp_path, config='[tool.mfile]\nprofile = "sites/my.toml"\n', where="pyproject.toml")
    inner = tmp_path / "flows"
    (inner / "pyproject.toml").write_text('[project]\nname = "x"\n')  # no [tool.mfile]: keep looking
    config = find_config(inner / "p.mfile")
    assert config.path == (tmp_path / "pyproject.toml").resolve()
    assert config.profile == str((tmp_path / "sites" / "my.toml").resolve())


def test_the_nearest_file_wins(tmp_path: Path) -> None:
    mfile = write_project(tmp_path, config='profile = "juwels-cluster"\n')
    (tmp_path / "flows" / "mfile.toml").write_text('profile = "juwels-booster"\n')
    assert find_config(mfile).profile == "juwels-booster"


@pytest.mark.parametrize(
    "text,message",
    [
        ('itmes = ["a"]\n', "unknown setting 'itmes' (did you mean 'items'?)"),
        ('items = "a"\n', "items must be a list of directory paths"),
        ("profile = 3\n", "profile must be a profile name"),
        ('output = ""\n', "output must be a directory path"),
        ("items = [\n", "not valid TOML"),
    ],
)
def test_a_bad_project_file_is_a_usage_error_naming_the_file(tmp_path: Path, text: str, message: str) -> None:
    mfile = write_project(tmp_path, config=text)
    with pytest.raises(UsageError, match="mfile.toml") as caught:
        find_config(mfile)
    assert message in str(caught.value)
    result = run("check", str(mfile), cwd=tmp_path)
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr


# ----------------------------------------------------------------------------- check --profile


def test_check_with_a_profile_finds_what_only_compile_found(tmp_path: Path) -> None:
    mfile = write_project(tmp_path, gpus=8)
    plain = run("check", str(mfile), "--items", str(CASE_ITEMS), cwd=tmp_path)
    assert plain.returncode == 0, plain.stdout
    site = run("check", str(mfile), "--items", str(CASE_ITEMS), "--profile", "juwels-booster", "--format", "json",
               cwd=tmp_path)  # fmt: skip
    assert site.returncode == 1
    codes = {(d["code"], d["line"]) for d in json.loads(site.stdout)}
    assert ("E403", 2) in codes, site.stdout  # 8 GPUs on a 4-GPU node, at the line that asked
    assert not (tmp_path / "runs").exists()  # check writes nothing


def test_check_within_the_limits_passes_with_the_profile(tmp_path: Path) -> None:
    mfile = write_project(tmp_path, gpus=4)
    result = run("check", str(mfile), "--items", str(CASE_ITEMS), "--profile", "juwels-booster", cwd=tmp_path)
    assert result.returncode == 0, result.stdout


def test_the_project_file_sets_roots_and_profile_for_check_and_flags_override(tmp_path: Path) -> None:
    mfile = write_project(tmp_path, gpus=8, config=f'items = ["{CASE_ITEMS}"]\nprofile = "juwels-booster"\n')
    result = run("check", str(mfile), cwd=tmp_path / "flows")
    assert result.returncode == 1 and "E403" in result.stdout
    local = run("check", str(mfile), "--profile", "juwels-cluster", cwd=tmp_path)  # no GPUs there at all
    assert result.stdout != local.stdout and local.returncode == 1
    wrong = run("check", str(mfile), "--items", str(tmp_path / "nothing"), cwd=tmp_path)
    assert wrong.returncode == 1 and "test/digits" in wrong.stdout  # --items replaced the file's roots


def test_an_unknown_profile_is_a_usage_error(tmp_path: Path) -> None:
    mfile = write_project(tmp_path)
    result = run("check", str(mfile), "--items", str(CASE_ITEMS), "--profile", "juwels-boster", cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr


# ----------------------------------------------------------------------------- compile output and one pipeline


def test_compile_writes_where_the_project_file_says(tmp_path: Path) -> None:
    mfile = write_project(tmp_path, config=f'items = ["{CASE_ITEMS}"]\noutput = "build/runs"\n')
    result = run("compile", str(mfile), cwd=tmp_path / "flows")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "build" / "runs" / "p" / "plan.json").is_file()
    assert json.loads((tmp_path / "build" / "runs" / "p" / "plan.json").read_text())["profile"]["name"] == "local"
    flag = run("compile", str(mfile), "-o", str(tmp_path / "elsewhere"), cwd=tmp_path)
    assert flag.returncode == 0 and (tmp_path / "elsewhere" / "p" / "plan.json").is_file()


def test_graph_needs_no_pipeline_when_there_is_one_and_asks_when_there_are_two(tmp_path: Path) -> None:
    mfile = write_project(tmp_path)
    one = run("graph", str(mfile), "--items", str(CASE_ITEMS), cwd=tmp_path)
    assert one.returncode == 0 and "digits" in one.stdout
    mfile.write_text(mfile.read_text() + 'q = MantikPipeline(stages={"s": [data]})\n')
    two = run("graph", str(mfile), "--items", str(CASE_ITEMS), cwd=tmp_path)
    assert two.returncode == 2 and "defines 2 pipelines (p, q): name one with --pipeline" in two.stderr
