"""Shared file systems are hostile (issue 18): another member of the project group creates the
run directory first, plants completion records, data, model files and symlinks, and waits for
the victim to compile, run or submit. Where ownership matters the attacker really is another
user (``nobody``, through ``runuser``) and the victim is the user running the tests (root in
CI); the tests that need two users are skipped elsewhere."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from security_support import SEC_ITEMS, run_mfile

from mfile.plan import trust
from mfile.plan.ir import ItemRef
from mfile.plan.state import read_record, write_jobs
from mfile.runtime.models import ModelHandle, PayloadImportError, verify_item

FLOW = 'echo = MantikItem(name="sec/echo:1").configure(params={"p0": "a"})\np = MantikPipeline(stages={"s": [echo]})\n'

# The attacker needs only the standard library: the system Python, which `nobody` may run
# (the project's virtual environment may sit where only its owner can reach it).
ATTACKER_PYTHON = "/usr/bin/python3"
two_users = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("runuser") is None or not os.path.exists(ATTACKER_PYTHON),
    reason="needs root, runuser and /usr/bin/python3 to act as `nobody`",
)


def as_nobody(script: str) -> None:
    """Run a Python snippet as the attacker."""
    result = subprocess.run(["runuser", "-u", "nobody", "--", ATTACKER_PYTHON, "-c", script],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


@pytest.fixture
def shared(tmp_path: Path):
    """A directory both users can reach, like a project's $SCRATCH (pytest's tmp_path is 0700)."""
    base = Path(tempfile.mkdtemp(prefix="mfile-shared-", dir="/tmp"))
    base.chmod(0o755)
    src = base / "flow.mfile"
    src.write_text(FLOW)
    yield base, src
    shutil.rmtree(base, ignore_errors=True)


def compile_(src: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    return run_mfile("compile", str(src), "--items", str(SEC_ITEMS), "-o", str(out), *extra)


PLANT = """
import json, os, pathlib
run = pathlib.Path({run!r})
run.mkdir(parents=True)
(run / "plan.json").write_text("{{}}")
for d in ("state", "data/echo/output", "data/evil", "logs"):
    (run / d).mkdir(parents=True)
(run / "state/echo.json").write_text(json.dumps({{"status": "done"}}))
(run / "state/evil.json").write_text(json.dumps({{"status": "done"}}))
(run / "data/evil/planted").write_text("x")
"""


@two_users
def test_a_run_directory_another_user_created_is_refused(shared) -> None:
    base, src = shared
    out = base / "scratch"
    out.mkdir()
    out.chmod(0o1777)  # shared and sticky, like /tmp: each may create, nobody may replace another's
    as_nobody(PLANT.format(run=str(out / "p")))
    result = compile_(src, out)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "belongs to nobody" in result.stderr and "--trust-shared-dir" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert json.loads((out / "p" / "state" / "evil.json").read_text())["status"] == "done"  # untouched
    assert (out / "p" / "plan.json").read_text() == "{}"


@two_users
def test_an_output_root_someone_else_owns_or_others_can_write_is_refused(shared) -> None:
    base, src = shared
    project = base / "project"
    project.mkdir()
    project.chmod(0o1777)
    theirs = project / "theirs"
    as_nobody(f"import pathlib; p = pathlib.Path({str(theirs)!r}); p.mkdir(); p.chmod(0o777)")
    result = compile_(src, theirs)
    assert result.returncode == 2 and "belongs to nobody" in result.stderr, result.stderr
    open_root = base / "open"
    open_root.mkdir()
    open_root.chmod(0o777)
    result = compile_(src, open_root)
    assert result.returncode == 2 and "can be written by its group and others" in result.stderr, result.stderr
    assert list(open_root.iterdir()) == []
    result = run_mfile("run", str(src), "--pipeline", "p", "--items", str(SEC_ITEMS), "-o", str(open_root))
    assert result.returncode == 2 and list(open_root.iterdir()) == []


@two_users
def test_trusting_a_shared_directory_warns_and_carries_over_only_the_plans_own_tasks(shared) -> None:
    base, src = shared
    out = base / "scratch"
    out.mkdir()
    out.chmod(0o1777)
    victim = base / "victim-files"
    victim.mkdir()
    (victim / "thesis.tex").write_text("precious")
    as_nobody(PLANT.format(run=str(out / "p")) + f"""
(run / "logs/evil.log").symlink_to({str(victim)!r} + "/thesis.tex")
(run / "data/echo/.checkpoint").symlink_to({str(victim)!r}, target_is_directory=True)
""")
    result = compile_(src, out, "--trust-shared-dir")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "warning" in result.stderr and "plant completion records" in result.stderr
    run_dir = out / "p"
    assert not (run_dir / "state" / "evil.json").exists() and not (run_dir / "data" / "evil").exists()
    assert not (run_dir / "logs" / "evil.log").exists()  # a symlink is never carried over
    assert (victim / "thesis.tex").read_text() == "precious"
    # The planted record of the plan's own task came along (it was trusted) and names it
    # done; the runtime still checks its key before it believes it.
    assert (run_dir / "state" / "echo.json").is_file()


@two_users
def test_a_planted_state_symlink_never_moves_or_deletes_the_victims_files(shared) -> None:
    base, src = shared
    out = base / "scratch"
    out.mkdir()
    out.chmod(0o1777)
    victim = base / "victim-state"
    victim.mkdir()
    (victim / "echo.json").write_text(json.dumps({"status": "done"}))
    (victim / "notes.txt").write_text("precious")
    as_nobody(f"""
import pathlib
run = pathlib.Path({str(out / 'p')!r}); run.mkdir()
(run / "plan.json").write_text("{{}}")
(run / "state").symlink_to({str(victim)!r}, target_is_directory=True)
(run / "data").symlink_to({str(victim)!r}, target_is_directory=True)
""")
    for extra in ([], ["--force"]):
        result = compile_(src, out, "--trust-shared-dir", *extra)
        assert result.returncode == 0, result.stdout + result.stderr
        assert sorted(p.name for p in victim.iterdir()) == ["echo.json", "notes.txt"]
        assert (victim / "notes.txt").read_text() == "precious"


@two_users
def test_a_group_writable_run_directory_of_ones_own_is_refused_for_submit(shared) -> None:
    base, src = shared
    out = base / "out"
    assert compile_(src, out).returncode == 0
    (out / "p" / "state").chmod(0o777)
    result = run_mfile("submit", str(out / "p"), "--dry-run")
    assert result.returncode == 2 and "state can be written by" in result.stderr, result.stderr
    result = run_mfile("submit", str(out / "p"), "--dry-run", "--trust-shared-dir")
    assert result.returncode == 0 and "warning" in result.stderr, result.stderr


# --------------------------------------------------------------------------- one user: symlinks


def test_trust_problem_reports_links_owners_and_modes(tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    mine.mkdir(mode=0o755)
    assert trust.problem(mine) is None
    mine.chmod(0o775)
    assert "its group" in trust.problem(mine)
    link = tmp_path / "link"
    link.symlink_to(mine)
    assert trust.problem(link) == "is a symbolic link"
    assert trust.problem(Path("/tmp"), root=True) is None  # root's sticky /tmp is a fine output root
    assert trust.problem(tmp_path / "missing") is None


def test_submit_never_writes_through_a_planted_lock_or_temp_symlink(tmp_path: Path) -> None:
    src = tmp_path / "flow.mfile"
    src.write_text(FLOW)
    assert compile_(src, tmp_path / "out").returncode == 0
    run_dir = tmp_path / "out" / "p"
    precious = tmp_path / "precious.txt"
    precious.write_text("precious")
    (run_dir / "state" / "submit.lock").symlink_to(precious)
    result = run_mfile("submit", str(run_dir))
    assert result.returncode == 2 and "submit.lock" in result.stderr, result.stderr
    assert precious.read_text() == "precious"
    # state/jobs.json is written under a fresh name and renamed: a planted *.tmp is ignored
    (run_dir / "state" / "submit.lock").unlink()
    (run_dir / "state" / "jobs.json.tmp").symlink_to(precious)
    write_jobs(run_dir, [{"name": "echo", "task": "echo", "kind": "task", "job_id": "1", "after": []}], set())
    assert precious.read_text() == "precious"
    assert json.loads((run_dir / "state" / "jobs.json").read_text())["jobs"][0]["job_id"] == "1"


def test_a_symlinked_record_is_not_a_record(tmp_path: Path) -> None:
    real = tmp_path / "real.json"
    real.write_text(json.dumps({"status": "done"}))
    (tmp_path / "link.json").symlink_to(real)
    assert read_record(real) is not None and read_record(tmp_path / "link.json") is None


def test_the_runtime_never_cleans_a_planted_checkpoint_link(tmp_path: Path) -> None:
    src = tmp_path / "flow.mfile"
    src.write_text(FLOW)
    assert compile_(src, tmp_path / "out").returncode == 0
    run_dir = tmp_path / "out" / "p"
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep").write_text("precious")
    (run_dir / "data" / "echo").mkdir(parents=True)
    (run_dir / "data" / "echo" / ".checkpoint").symlink_to(victim, target_is_directory=True)
    job = subprocess.run(["bash", "jobs/echo.sbatch"], cwd=run_dir, capture_output=True, text=True, timeout=180)
    assert job.returncode != 0 and "symbolic link" in job.stdout + job.stderr
    assert (victim / "keep").read_text() == "precious"


def _item(tmp_path: Path) -> ItemRef:
    d = tmp_path / "item"
    d.mkdir()
    (d / "MantikHeader").write_text("kind: trainable\n")
    (d / "payload.py").write_text("KIND = 'genuine'\n")
    sha = lambda p: hashlib.sha256(p.read_bytes()).hexdigest()
    return ItemRef(name="t/m", version="1", kind="trainable", directory=str(d),
                   header_sha256=sha(d / "MantikHeader"), payload_sha256=sha(d / "payload.py"))


def test_a_models_payload_comes_from_its_item_never_from_model_json(tmp_path: Path) -> None:
    marker = tmp_path / "PWNED"
    evil = tmp_path / "evil.py"
    evil.write_text(f"open({str(marker)!r}, 'w').write('x')\nKIND = 'evil'\n")
    model = tmp_path / "model"
    model.mkdir()
    (model / "model.json").write_text(json.dumps({"payload": str(evil), "item": "t/m:1"}))
    handle = ModelHandle(model, _item(tmp_path))
    assert handle.payload().KIND == "genuine"
    assert not marker.exists()
    # without an item, only the directory's own payload.py is used, never model.json's path
    (model / "payload.py").symlink_to(evil)
    with pytest.raises(PayloadImportError):
        ModelHandle(model).payload()
    assert not marker.exists()


def test_a_payload_changed_since_compile_is_not_imported(tmp_path: Path) -> None:
    item = _item(tmp_path)
    verify_item(item)
    (Path(item.directory) / "payload.py").write_text("KIND = 'swapped'\n")
    with pytest.raises(PayloadImportError, match="changed since compile"):
        verify_item(item)


def test_a_payload_symlink_out_of_the_item_root_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "root"
    shutil.copytree(SEC_ITEMS, root)
    payload = root / "sec" / "echo" / "1" / "payload.py"
    outside = tmp_path / "evil.py"
    outside.write_text(payload.read_text())
    payload.unlink()
    payload.symlink_to(outside)
    src = tmp_path / "flow.mfile"
    src.write_text(FLOW)
    result = run_mfile("check", str(src), "--items", str(root), "--format", "json")
    assert result.returncode == 1
    assert "E336" in {d["code"] for d in json.loads(result.stdout)}


# --------------------------------------------------------------------------- check DIR and symlinks


@pytest.mark.parametrize("fmt", ["text", "json", "github", "sarif"])
def test_check_dir_skips_links_to_files_outside_and_never_prints_them(tmp_path: Path, fmt: str) -> None:
    secret = tmp_path / "credentials"
    secret.write_text("api_key = 'SECRET-TOKEN-1234'\npassword: hunter2\n")
    pr = tmp_path / "pr"
    pr.mkdir()
    (pr / "ok.mfile").write_text(FLOW)
    (pr / "a.mfile").symlink_to(secret)
    (pr / "passwd.mfile").symlink_to("/etc/passwd")
    (pr / "inside.mfile").symlink_to(pr / "ok.mfile")  # a link within the directory is fine
    result = run_mfile("check", str(pr), "--items", str(SEC_ITEMS), "--format", fmt)
    out = result.stdout + result.stderr
    assert "SECRET-TOKEN" not in out and "hunter2" not in out and "root:x:0" not in out
    assert result.returncode == 0, out  # warnings only
    assert out.count("E904") >= 2
    opted = run_mfile("check", str(pr), "--items", str(SEC_ITEMS), "--format", "json", "--follow-symlinks")
    assert opted.returncode == 1 and "E904" not in opted.stdout


# --------------------------------------------------------------------------- smaller points


def test_an_items_folder_beside_the_m_file_cannot_replace_a_built_in(tmp_path: Path) -> None:
    marker = tmp_path / "PWNED"
    fake = tmp_path / "items" / "mfile" / "join" / "1"
    fake.mkdir(parents=True)
    builtin = Path(__import__("mfile").__file__).resolve().parent / "items" / "mfile" / "join" / "1"
    (fake / "MantikHeader").write_text((builtin / "MantikHeader").read_text())
    (fake / "payload.py").write_text(f"open({str(marker)!r}, 'w').write('x')\n")
    shutil.copytree(SEC_ITEMS / "sec", tmp_path / "items" / "sec")
    src = tmp_path / "flow.mfile"
    src.write_text(
        'a = MantikItem(name="sec/echo:1").configure(params={"p0": "a"})\n'
        'j = join(inputs=[a.output], how="inner")\n'
        'p = MantikPipeline(stages={"s": [a, j]})\n'
    )
    result = run_mfile("check", str(src), "--format", "json")
    codes = [d["code"] for d in json.loads(result.stdout)]
    assert "E338" in codes, result.stdout
    result = run_mfile("compile", str(src), "-o", str(tmp_path / "out"))
    assert result.returncode == 0, result.stdout + result.stderr
    plan = json.loads((tmp_path / "out" / "p" / "plan.json").read_text())
    join_task = next(t for t in plan["pipeline"]["tasks"] if t["item"] and t["item"]["name"] == "mfile/join")
    assert Path(join_task["item"]["directory"]).resolve() == builtin
    assert not marker.exists()


def test_no_checkpoint_is_unpickled_with_code() -> None:
    """torch.load only with weights_only=True: a planted checkpoint cannot run code."""
    src = Path(__import__("mfile").__file__).resolve().parent
    calls = [line for p in src.rglob("*.py") for line in p.read_text().splitlines() if "torch.load(" in line]
    assert calls and all("weights_only=True" in line for line in calls), calls


def test_a_run_directory_apptainer_cannot_bind_is_refused(tmp_path: Path) -> None:
    src = tmp_path / "flow.mfile"
    src.write_text(FLOW)
    out = tmp_path / "runs,x:y"
    result = run_mfile("compile", str(src), "--items", str(SEC_ITEMS), "-o", str(out), "--profile", "juwels-booster",
                       env={"BUDGET_ACCOUNTS": "deepacf"})
    assert result.returncode == 2 and "--bind" in result.stderr, result.stdout + result.stderr
    assert not out.exists()


def test_submit_never_writes_through_a_state_link_even_when_trusted(tmp_path: Path) -> None:
    src = tmp_path / "flow.mfile"
    src.write_text(FLOW)
    assert compile_(src, tmp_path / "out").returncode == 0
    run_dir = tmp_path / "out" / "p"
    victim = tmp_path / "victim"
    victim.mkdir()
    shutil.rmtree(run_dir / "state")
    (run_dir / "state").symlink_to(victim, target_is_directory=True)
    refused = run_mfile("submit", str(run_dir))
    assert refused.returncode == 2 and "symbolic link" in refused.stderr, refused.stderr
    trusted = run_mfile("submit", str(run_dir), "--trust-shared-dir")
    assert trusted.returncode == 2 and "never writes through" in trusted.stderr, trusted.stderr
    assert list(victim.iterdir()) == []
