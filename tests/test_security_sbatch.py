"""sbatch_extra is an allowlist, matched the way sbatch's getopt matches long options: an
unambiguous prefix is the option it abbreviates, so ``--accou=x`` is ``--account=x``. Every
bypass of the old denylist (issue 18) is refused by ``mfile check``, naming the option's full
name, and again by codegen; options sbatch would read as something else never reach a script."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from security_support import SEC_ITEMS, mfile_string, run_mfile

from mfile.plan import sbatch

BYPASSES = {  # what the issue reproduced, and what sbatch reads
    "--accou=other": "account",
    "--part=booster": "partition",
    "--outp=/home/victim/.bashrc": "output",
    "--erro=/home/victim/.profile": "error",
    "--arr=1-1000": "array",
    "--dep=afterany:1": "dependency",
    "--chd=/tmp": "chdir",
    "--gpus-per-n=4": "gpus-per-node",
    "--export=ALL,APPTAINERENV_PYTHONPATH=/tmp/x": "export",
    "--export-file=/tmp/env": "export-file",
    "--container=/tmp/bundle": "container",
    "--wra=id": "wrap",
    "--ui=0": "uid",
    "-A": "account",
    "-o": "output",
}


@pytest.mark.parametrize("option,name", BYPASSES.items())
def test_bypasses_resolve_to_their_full_name_and_are_refused(option: str, name: str) -> None:
    verdict = sbatch.classify(option)
    assert not verdict.ok
    assert verdict.name == name


@pytest.mark.parametrize("option", ["--mail-type=END", "--mail-t=END,FAIL", "--mail-user=a.b@fz-juelich.de",
                                    "--comment=era5", "--constraint=largedata", "--qos=normal", "--reservation=maint",
                                    "--begin=now+1hour", "--nice=100", "--exclude=jwb0001", "--deadline=2027-01-01T00:00:00"])
def test_allowed_options_and_their_abbreviations_pass(option: str) -> None:
    assert sbatch.classify(option).ok


@pytest.mark.parametrize("option,problem", [
    ("--e=1", "ambiguous"), ("--mail=END", "ambiguous"), ("--mem-per=1", "ambiguous"), ("--ex=x", "ambiguous"),
    ("--frobnicate", "unknown"), ("--comment=$(id)", "malformed"), ("--comment x", "malformed"), ("comment", "malformed"),
    ("-Z", "unknown"), ("--exclusive", "refused"), ("--hint=nomultithread", "refused"), ("--nodelist=jwb0001", "refused"),
])
def test_ambiguous_unknown_and_malformed(option: str, problem: str) -> None:
    assert sbatch.classify(option).problem == problem


def _possibilities(word: str) -> set[str]:
    """The long options the installed sbatch lists for an ambiguous ``word`` (without --)."""
    out = subprocess.run(["sbatch", word], capture_output=True, text=True, timeout=20, stdin=subprocess.DEVNULL).stderr
    first = out.splitlines()[0] if out else ""
    return {w.strip("'")[2:] for w in first.split("possibilities:")[1].split()} if "possibilities:" in first else set()


def test_prefix_matching_agrees_with_the_installed_sbatch() -> None:
    """Where sbatch is installed, its own getopt must read each bypass as the same option."""
    try:
        probe = subprocess.run(["sbatch", "--accou"], capture_output=True, text=True, timeout=20, stdin=subprocess.DEVNULL)
    except (FileNotFoundError, subprocess.TimeoutExpired):
        pytest.skip("no sbatch here")
    assert "'--account' requires an argument" in probe.stderr
    for word in ["--e", "--mail", "--gpus-per", "--mem-per"]:
        listed = _possibilities(word)
        assert listed and listed <= set(sbatch.resolve_long(word[2:])[1]), listed
    for letter in "abcdeghimnopqrstuvw":  # every option the local sbatch lists is known here
        assert _possibilities("--" + letter) <= sbatch.SBATCH_LONG_OPTIONS, letter


def _flow(tmp_path: Path, extra: list[str]) -> Path:
    src = tmp_path / "flow.mfile"
    options = ", ".join(mfile_string(o) for o in extra)
    src.write_text(
        f'echo = MantikItem(name="sec/echo:1").configure(resources={{"sbatch_extra": [{options}]}}, params={{"p0": "a"}})\n'
        'p = MantikPipeline(stages={"s": [echo]})\n'
    )
    return src


def test_check_refuses_every_bypass_naming_the_full_option(tmp_path: Path) -> None:
    src = _flow(tmp_path, [*BYPASSES, "--e=1", "--mail-type=END"])
    result = run_mfile("check", str(src), "--items", str(SEC_ITEMS), "--format", "json")
    assert result.returncode == 1, result.stdout + result.stderr
    reports = json.loads(result.stdout)
    assert [r["code"] for r in reports] == ["E327"] * len(BYPASSES) + ["E328"]
    assert all(r["line"] == 1 and r["column"] > 1 for r in reports)
    for report, name in zip(reports, BYPASSES.values()):
        assert f"--{name}" in report["message"], report["message"]


def test_compile_writes_nothing_for_a_bypass(tmp_path: Path) -> None:
    src = _flow(tmp_path, ["--outp=/tmp/x"])
    result = run_mfile("compile", str(src), "--items", str(SEC_ITEMS), "-o", str(tmp_path / "out"))
    assert result.returncode == 1
    assert "error[E327]" in result.stdout and "--output" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
    assert not (tmp_path / "out").exists()


def test_allowed_options_reach_the_script(tmp_path: Path) -> None:
    src = _flow(tmp_path, ["--mail-type=END", "--comment=era5"])
    result = run_mfile("compile", str(src), "--items", str(SEC_ITEMS), "-o", str(tmp_path / "out"))
    assert result.returncode == 0, result.stdout + result.stderr
    script = (tmp_path / "out" / "p" / "jobs" / "echo.sbatch").read_text()
    assert "#SBATCH --mail-type=END\n" in script and "#SBATCH --comment=era5\n" in script


def test_the_allowlist_is_documented() -> None:
    doc = (Path(__file__).resolve().parent.parent / "docs" / "security.md").read_text()
    for name in sbatch.ALLOWED:
        assert f"`--{name}`" in doc, name
