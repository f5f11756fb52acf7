"""The CLI contract (DESIGN.md): exit 0 clean, 1 the M-File has errors, 2 usage error or a fault of
ours (one line, a traceback only with --debug); directories as FILE, missing paths, binary and
empty files; `mfile check` on 1,000 M-Files in one process within a few seconds; the pre-commit
hook definition."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from mfile import cli
from security_support import CASE_ITEMS, REPO

OK = REPO / "tests" / "cases" / "ok" / "full_pipeline.mfile"
BAD = REPO / "tests" / "cases" / "err" / "names_undefined.mfile"
MFILE = [str(Path(sys.executable).with_name("mfile"))]


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*MFILE, *args], capture_output=True, text=True, cwd=cwd, timeout=120)


def one_line_error(result: subprocess.CompletedProcess) -> None:
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mfile: "), lines


def test_check_exit_codes() -> None:
    assert run("check", str(OK), "--items", str(CASE_ITEMS)).returncode == 0
    bad = run("check", str(BAD), "--items", str(CASE_ITEMS))
    assert bad.returncode == 1 and "error[E101]" in bad.stdout and "Traceback" not in bad.stderr


def test_compile_exit_codes(tmp_path: Path) -> None:
    assert run("compile", str(OK), "--items", str(CASE_ITEMS), "-o", str(tmp_path / "a")).returncode == 0
    assert (tmp_path / "a" / "batch" / "plan.json").is_file()
    bad = run("compile", str(BAD), "--items", str(CASE_ITEMS), "-o", str(tmp_path / "b"))
    assert bad.returncode == 1 and not (tmp_path / "b").exists()
    ir = run("compile", str(OK), "--items", str(CASE_ITEMS), "--emit", "ir")
    assert ir.returncode == 0 and json.loads(ir.stdout)["pipelines"]


@pytest.mark.parametrize("args", [
    ["check", "--bogus", "x.mfile"],
    ["check"],
    ["check", "x.mfile", "--format", "xml"],
    ["compile"],
    ["compile", "x.mfile", "--emit", "nope"],
    ["compile", str(OK), "--profile", "no-such-profile"],
    ["compile", str(BAD), "--profile", "no-such-profile"],
    ["compile", str(OK), "--profile", "/nonexistent/profile.toml"],
    ["compile", str(OK), "--items", str(CASE_ITEMS), "--pipeline", "nope", "-o", "/proc/nope"],
    ["nosuchcommand"],
    ["submit", "/nonexistent/run/dir"],
])
def test_usage_errors_are_one_line_with_exit_2(args: list[str]) -> None:
    result = run(*args)
    if args[:1] == ["compile"] and "--pipeline" in args:  # unknown pipeline: a diagnostic
        assert result.returncode == 1 and "E136" in result.stdout
        return
    one_line_error(result)


def test_unknown_profile_with_a_broken_profile_file(tmp_path: Path) -> None:
    broken = tmp_path / "mine.toml"
    broken.write_text("name = [unclosed\n")
    one_line_error(run("compile", str(OK), "--items", str(CASE_ITEMS), "--profile", str(broken)))
    broken.write_text('name = "x"\n[partitions.batch]\ncores_per_node = -1\n')
    one_line_error(run("compile", str(OK), "--items", str(CASE_ITEMS), "--profile", str(broken)))


def test_an_internal_fault_is_one_line_and_debug_shows_the_traceback(monkeypatch) -> None:
    import mfile.commands.check as check

    def broken(*args, **kwargs):
        raise RuntimeError("simulated fault of ours")

    monkeypatch.setattr(check, "check_paths", broken)
    runner = CliRunner()
    plain = runner.invoke(cli.main, ["check", str(OK)])
    assert plain.exit_code == 2
    assert "internal error: RuntimeError: simulated fault of ours" in plain.output
    assert "Traceback" not in plain.output and "--debug" in plain.output
    debug = runner.invoke(cli.main, ["--debug", "check", str(OK)])
    assert debug.exit_code == 2
    assert "Traceback (most recent call last)" in debug.output and "simulated fault of ours" in debug.output


def test_directories_as_file(tmp_path: Path) -> None:
    (tmp_path / "sub" / "deeper").mkdir(parents=True)
    (tmp_path / "sub" / "a.mfile").write_text("x = 1\n")
    (tmp_path / "sub" / "deeper" / "b.mfile").write_text("y = undefined\n")
    (tmp_path / "sub" / "notes.txt").write_text("not an M-File ((( \n")
    result = run("check", str(tmp_path / "sub"), "--format", "json")
    assert result.returncode == 1
    files = {Path(d["file"]).name for d in json.loads(result.stdout)}
    assert files == {"b.mfile"}
    (tmp_path / "sub" / "deeper" / "b.mfile").write_text("y = 2\n")
    assert run("check", str(tmp_path / "sub")).returncode == 0
    empty = tmp_path / "empty"
    empty.mkdir()
    none = run("check", str(empty), "--format", "json")
    assert none.returncode == 1 and json.loads(none.stdout)[0]["code"] == "E901"


@pytest.mark.parametrize("content,code", [
    (None, "E901"),  # missing
    (b"\x7fELF\x02\x01\x01\x00\x00\x00" + bytes(range(256)), "E903"),  # binary (NUL byte)
    (b"x = '\xff\xfe'\n", "E902"),  # invalid UTF-8
    (b"\xef\xbb\xbfx = 1\n", None),  # BOM: fine
    (b"", None),  # empty: fine
    (b"\n\n   \n# only a comment\n", None),
])
def test_bad_files(tmp_path: Path, content: bytes | None, code: str | None) -> None:
    path = tmp_path / "f.mfile"
    if content is not None:
        path.write_bytes(content)
    result = run("check", str(path), "--format", "json")
    assert "Traceback" not in result.stderr
    if code is None:
        assert result.returncode == 0, result.stdout
    else:
        assert result.returncode == 1 and [d["code"] for d in json.loads(result.stdout)] == [code]


def test_special_files_are_not_read(tmp_path: Path) -> None:
    import os

    fifo = tmp_path / "pipe.mfile"
    os.mkfifo(fifo)  # reading it would block forever
    result = run("check", str(fifo), "/dev/zero", "--format", "json")
    assert result.returncode == 1
    assert [d["code"] for d in json.loads(result.stdout)] == ["E901", "E901"]


def test_compile_of_a_directory_or_missing_file(tmp_path: Path) -> None:
    for target in (tmp_path, tmp_path / "missing.mfile"):
        result = run("compile", str(target), "-o", str(tmp_path / "out"))
        assert result.returncode == 1 and "E901" in result.stdout and "Traceback" not in result.stderr


def test_check_of_1000_m_files_takes_a_few_seconds(tmp_path: Path) -> None:
    """CI lint of a large repository: one process, one parser, one item catalogue."""
    source = OK.read_text()
    for i in range(1000):
        sub = tmp_path / f"team{i % 10}"
        sub.mkdir(exist_ok=True)
        (sub / f"flow{i}.mfile").write_text(source.replace("batch", f"batch{i}"))
    start = time.perf_counter()
    result = run("check", str(tmp_path), "--items", str(CASE_ITEMS))
    elapsed = time.perf_counter() - start
    assert result.returncode == 0, result.stdout[-2000:]
    assert "1000 files checked: 0 error(s)" in result.stderr
    print(f"mfile check of 1,000 M-Files ({sum(1 for _ in source.splitlines())} lines each): {elapsed:.2f} s")
    assert elapsed < 30  # a few seconds on a quiet machine; generous for a shared CI machine


def test_pre_commit_hook_definition() -> None:
    hooks = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    hook = next(h for h in hooks if h["id"] == "mfile-check")
    assert hook["entry"].split()[:2] == ["mfile", "check"]
    assert hook["language"] == "python"
    assert hook["files"] == r"\.mfile$"
    import re

    assert re.search(hook["files"], "examples/mnist/mnist.mfile")
    assert not re.search(hook["files"], "mnist.mfile.bak")


def test_the_pre_commit_entry_runs_on_files_like_pre_commit_passes_them(tmp_path: Path) -> None:
    hooks = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    hook = next(h for h in hooks if h["id"] == "mfile-check")
    good, bad = tmp_path / "good.mfile", tmp_path / "bad.mfile"
    good.write_text("x = 1\n")
    bad.write_text("x = nope\n")
    entry = hook["entry"].split()
    command = [*MFILE, *entry[1:], *hook.get("args", [])]
    assert subprocess.run([*command, str(good)], capture_output=True).returncode == 0
    assert subprocess.run([*command, str(good), str(bad)], capture_output=True).returncode == 1


def test_a_closed_pipe_is_not_an_internal_error(tmp_path: Path) -> None:
    """`mfile check . | head -1`: the reader goes away; no traceback, no 'internal error'."""
    many = tmp_path / "many.mfile"
    many.write_text("".join(f"x{i} = undefined_{i}\n" for i in range(5000)))  # far more than a pipe holds
    proc = subprocess.Popen([*MFILE, "check", str(many)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read().decode()
    proc.wait(timeout=60)
    assert proc.returncode in (1, 141)  # the M-File has errors; or SIGPIPE's 141
    assert "internal error" not in err and "Traceback" not in err and "Exception ignored" not in err


def test_a_skip_under_ci_is_a_failure(tmp_path: Path) -> None:
    """tests/conftest.py turns every skip into a failure when CI is set (no silent skips)."""
    probe = tmp_path / "test_probe.py"
    probe.write_text(
        "import pytest\n"
        "def test_skips():\n    pytest.skip('no thing here')\n"
        "@pytest.mark.skipif(True, reason='marker skip')\n"
        "def test_marked():\n    pass\n"
        "def test_runs():\n    pass\n"
    )
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "conftest", "-c", os.devnull,
               "--rootdir", str(tmp_path), str(probe)]  # fmt: skip
    tests = str(REPO / "tests")
    ci = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=120,
                        env={**os.environ, "CI": "true", "PYTHONPATH": tests})  # fmt: skip
    assert ci.returncode == 1 and "1 failed, 1 passed, 1 error" in ci.stdout, ci.stdout[-2000:]
    assert "skipped in CI (no thing here)" in ci.stdout
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    here = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=120,
                          env={**env, "PYTHONPATH": tests})  # fmt: skip
    assert here.returncode == 0 and "1 passed, 2 skipped" in here.stdout, here.stdout[-2000:]


def test_the_report_quoted_in_the_readme_is_what_check_prints() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    quoted = readme.split("before anything is queued", 1)[1].split("```\n", 2)[1]
    result = run("check", "docs/examples/broken.mfile", "--items", "tests/cases/items", cwd=REPO)
    assert result.returncode == 1
    assert result.stdout == quoted
