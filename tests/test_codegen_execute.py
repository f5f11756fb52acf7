"""Run generated job scripts with bash, for real, with Slurm's and Apptainer's commands replaced
by small shims on PATH and the runtime replaced by a probe that records what it was given.

This proves what the scripts do (not what they look like): hostile parameters reach the
task unchanged through plan.json and execute nothing; DDP ranks get their environment through
srun and Apptainer; an array element gets its index; a USR1 before the time limit leads to a
checkpoint exit (75) and ``scontrol requeue``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from codegen_ir import HEADERS, SOURCE_INFO, era5_program, mnist_program
from mfile.codegen.jobs import assemble_plan, plan_jobs
from mfile.codegen.profile import load_profile
from mfile.codegen.render import write_run_dir
from mfile.diagnostics import Reporter

FAKE_RUNTIME = r'''
import json, os, pathlib, signal, sys, time
argv = sys.argv[1:]
assert argv[:2] == ["-m", "mfile.runtime"], argv
plan_path = pathlib.Path(argv[2])
plan = json.loads(plan_path.read_text())
task = next(t for t in plan["pipeline"]["tasks"] if t["id"] == argv[3])
probe = plan_path.parent / "probe"
probe.mkdir(exist_ok=True)
rank = os.environ.get("RANK", "?")
keys = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT", "SLURM_ARRAY_TASK_ID",
        "CUDA_VISIBLE_DEVICES", "SLURM_CPUS_PER_TASK", "OMP_NUM_THREADS", "NCCL_SOCKET_IFNAME",
        "GLOO_SOCKET_IFNAME", "NCCL_IB_TIMEOUT", "UCX_RC_TIMEOUT", "NCCL_DEBUG", "PROJECT")
record = {"argv": argv, "params": task["params"], "rank": rank, "env": {k: os.environ.get(k) for k in keys}}
(probe / f"{argv[3]}.{rank}.json").write_text(json.dumps(record))
if (probe / "mode").exists() and (probe / "mode").read_text() == "checkpoint":
    stop = []
    signal.signal(signal.SIGUSR1, lambda *a: stop.append(1))
    (probe / "ready").write_text("1")
    deadline = time.time() + 20
    while not stop and time.time() < deadline:
        time.sleep(0.02)
    sys.exit(75 if stop else 3)
'''

SHIMS = {
    "python": '#!/bin/bash\nexec {py} {fake} "$@"\n',
    "apptainer": """#!/bin/bash
# apptainer exec [options] IMAGE COMMAND...: record, drop options and image, run COMMAND; with
# --cleanenv in an environment like Apptainer's: only APPTAINERENV_X, as X (and PATH to find
# python), so what reaches a rank is what would reach it inside the container.
printf '%s\\n' "$@" >"$PWD/probe/apptainer.$$.args"
shift
clean=0
while [[ $# -gt 0 ]]; do
    case "$1" in --bind) shift 2 ;; --cleanenv) clean=1; shift ;; --*) shift ;; *) break ;; esac
done
shift
if [[ $clean -eq 1 ]]; then
    inside=("PATH=$PATH")
    for name in $(compgen -e); do
        if [[ "$name" == APPTAINERENV_* ]]; then inside+=("${name#APPTAINERENV_}=${!name}"); fi
    done
    exec env -i "${inside[@]}" "$@"
fi
exec "$@"
""",
    "srun": """#!/bin/bash
# srun [options] COMMAND...: one process per task, numbered like Slurm does.
printf '%s\\n' "$@" >"$PWD/probe/srun.args"
while [[ "$1" == --* ]]; do shift; done
pids=()
for ((i = 0; i < SLURM_NTASKS; i++)); do
    SLURM_PROCID=$i SLURM_LOCALID=$((i % 4)) "$@" &
    pids+=($!)
done
# Like srun: signals it gets (the batch shell's USR1) are forwarded to the tasks.
trap 'kill -USR1 "${pids[@]}" 2>/dev/null || true' USR1
rc=0
for p in "${pids[@]}"; do
    while true; do
        s=0
        wait "$p" || s=$?
        if ! kill -0 "$p" 2>/dev/null; then break; fi
    done
    if [[ $s -ne 0 ]]; then rc=$s; fi
done
exit $rc
""",
    "scontrol": """#!/bin/bash
case "$1 $2" in
    "show hostnames") printf 'jwb0001\\njwb0002\\n' ;;
    requeue*) echo "$@" >>"$PWD/probe/scontrol.log" ;;
    *) exit 1 ;;
esac
""",
}


@pytest.fixture
def shims(tmp_path: Path) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = tmp_path / "fake_runtime.py"
    fake.write_text(FAKE_RUNTIME)
    for name, text in SHIMS.items():
        path = bin_dir / name
        path.write_text(text.replace("{py}", sys.executable).replace("{fake}", str(fake)))
        path.chmod(0o755)
    return bin_dir


def _env(bin_dir: Path, **slurm: str) -> dict[str, str]:
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(bin_dir), "PROJECT": str(bin_dir.parent / "project"),
           "SLURM_JOB_ID": "4242", "SLURM_NTASKS": "1", "SLURM_CPUS_PER_TASK": "2",
           "SLURM_JOB_NODELIST": "jwb[0001-0002]", "CUDA_VISIBLE_DEVICES": "0,1,2,3"}
    env.update(slurm)
    return env


def _compile(program, pipeline: str, profile_name: str, out: Path, **profile_update):
    profile = load_profile(profile_name).model_copy(update=profile_update)
    reporter = Reporter()
    plan = assemble_plan(program, pipeline, profile, SOURCE_INFO, HEADERS, reporter)
    assert plan is not None, [r.message for r in reporter.reports]
    run_dir = write_run_dir(plan, profile, out)
    (run_dir / "probe").mkdir()
    return plan, profile, run_dir


def _probe(run_dir: Path, task: str, rank: str = "0") -> dict:
    return json.loads((run_dir / "probe" / f"{task}.{rank}.json").read_text())


def test_hostile_parameters_reach_the_task_unchanged_and_execute_nothing(tmp_path: Path, shims: Path, monkeypatch) -> None:
    monkeypatch.setenv("BUDGET_ACCOUNTS", "deepacf")
    marker = tmp_path / "pwned"
    hostile = {
        "quote": f"'; touch {marker}-1; '",
        "subst": f"$(touch {marker}-2)",
        "backtick": f"`touch {marker}-3`",
        "double": f'"; touch {marker}-4; "',
        "newline": f"x\ntouch {marker}-5",
        "glob": "* ? [a-z] ~ $HOME ${PATH} !! \\",
    }
    program = mnist_program(gpus=None)
    pipe = program.pipelines[0]
    tasks = tuple(t.model_copy(update={"params": {**t.params, **hostile}}) for t in pipe.tasks)
    program = program.model_copy(update={"pipelines": (pipe.model_copy(update={"tasks": tasks}),)})
    # The local profile: no container; the jobs' Python is the shim that starts the probe.
    plan, profile, run_dir = _compile(program, "mnist", "local", tmp_path / "runs", python=str(shims / "python"))
    for job in plan_jobs(plan, profile):
        proc = subprocess.run(["bash", job.script], cwd=run_dir, env=_env(shims), capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        got = _probe(run_dir, job.task)
        assert got["params"] == plan.task(job.task).params
        for key, value in hostile.items():
            assert got["params"][key] == value
    assert json.loads((run_dir / "plan.json").read_text())["pipeline"]["tasks"][0]["params"]["subst"] == hostile["subst"]
    assert not list(tmp_path.glob("pwned*")), "a parameter was executed by the shell"


def test_ddp_ranks_get_their_environment_through_srun_and_apptainer(tmp_path: Path, shims: Path, monkeypatch) -> None:
    monkeypatch.setenv("BUDGET_ACCOUNTS", "deepacf")
    _, _, run_dir = _compile(era5_program(), "era5", "juwels-booster", tmp_path / "runs")
    env = _env(shims, SLURM_NTASKS="8", SLURM_CPUS_PER_TASK="24", SCRATCH=str(tmp_path / "scratch"),
               FASTDATA=str(tmp_path / "fastdata"), DATA=str(tmp_path / "nowhere"), NCCL_DEBUG="INFO")
    for name in ("project", "scratch", "fastdata"):
        (tmp_path / name).mkdir()
    proc = subprocess.run(["bash", "jobs/train.sbatch"], cwd=run_dir, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    records = [_probe(run_dir, "train", str(r)) for r in range(8)]
    # What each rank sees inside the container (the shim keeps only what --cleanenv would).
    assert sorted(r["env"]["RANK"] for r in records) == [str(r) for r in range(8)]
    for r in records:
        assert r["env"]["WORLD_SIZE"] == "8"
        assert r["env"]["MASTER_ADDR"] == "jwb0001i"  # first node + the interconnect suffix
        assert r["env"]["MASTER_PORT"] == str(29500 + 4242 % 1000)
        assert r["env"]["SLURM_CPUS_PER_TASK"] == "24"
        assert r["env"]["CUDA_VISIBLE_DEVICES"] == "0,1,2,3"
        # The profile's [env] and one OpenMP thread per physical core (24 threads = 12 cores).
        assert (r["env"]["NCCL_SOCKET_IFNAME"], r["env"]["GLOO_SOCKET_IFNAME"]) == ("ib0", "ib0")
        assert (r["env"]["NCCL_IB_TIMEOUT"], r["env"]["UCX_RC_TIMEOUT"]) == ("50", "4s")
        assert r["env"]["OMP_NUM_THREADS"] == "12"
        assert r["env"]["NCCL_DEBUG"] == "INFO"  # exported before sbatch: passed on too
        assert r["env"]["PROJECT"] is None  # what is not passed stays outside
    assert (run_dir / "probe" / "srun.args").read_text().splitlines()[:2] == ["--mpi=pspmix", "--cpu-bind=none"]
    args = next((run_dir / "probe").glob("apptainer.*.args")).read_text().splitlines()
    assert args[:3] == ["exec", "--cleanenv", "--nv"]
    binds = [args[i + 1] for i, a in enumerate(args) if a == "--bind"]
    # $DATA is set but does not exist on this node: not bound (apptainer would refuse the bind).
    # The item, the pipeline's input directory (era5's /p/scratch/era5 'levels'.grib), then the
    # site's file systems that exist here.
    assert binds == [str(run_dir), "/p/project/items/demo/unet/2.1", "/p/scratch", str(tmp_path / "project"),
                     str(tmp_path / "scratch"), str(tmp_path / "fastdata")]
    assert str(tmp_path / "project/mfile/mfile-cuda.sif") in args


def test_a_task_env_reaches_every_rank_quoted(tmp_path: Path, shims: Path, monkeypatch) -> None:
    monkeypatch.setenv("BUDGET_ACCOUNTS", "deepacf")
    value = "a b;$(touch pwned)'\"`id`"
    program = mnist_program(gpus=1, time="00:30:00", env={"MY_SETTING": value, "OMP_NUM_THREADS": "3"})
    _, _, run_dir = _compile(program, "mnist", "juwels-booster", tmp_path / "runs")
    (tmp_path / "project").mkdir()
    fake = FAKE_RUNTIME.replace('"PROJECT")', '"PROJECT", "MY_SETTING")')
    (shims.parent / "fake_runtime.py").write_text(fake)
    proc = subprocess.run(["bash", "jobs/train.sbatch"], cwd=run_dir, env=_env(shims), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    got = _probe(run_dir, "train")
    assert got["env"]["MY_SETTING"] == value and got["env"]["OMP_NUM_THREADS"] == "3"  # the task's own wins
    assert not (run_dir / "pwned").exists()


def test_array_element_reads_its_index_through_apptainer(tmp_path: Path, shims: Path, monkeypatch) -> None:
    monkeypatch.setenv("BUDGET_ACCOUNTS", "deepacf")
    _, _, run_dir = _compile(era5_program(), "era5", "juwels-cluster", tmp_path / "runs")
    env = _env(shims, SLURM_ARRAY_TASK_ID="2", SLURM_ARRAY_JOB_ID="4240")
    proc = subprocess.run(["bash", "jobs/tune.sbatch"], cwd=run_dir, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    got = _probe(run_dir, "tune")
    assert got["argv"][3:] == ["tune", "--point-from-env"]
    assert got["env"]["SLURM_ARRAY_TASK_ID"] == "2"
    assert got["env"]["OMP_NUM_THREADS"] == "40"  # one task on an 80-thread gpus node: 40 cores


def test_usr1_before_the_time_limit_checkpoints_and_requeues(tmp_path: Path, shims: Path, monkeypatch) -> None:
    monkeypatch.setenv("BUDGET_ACCOUNTS", "deepacf")
    _, _, run_dir = _compile(mnist_program(), "mnist", "juwels-booster", tmp_path / "runs")
    (run_dir / "probe" / "mode").write_text("checkpoint")
    job = subprocess.Popen(["bash", "jobs/train.sbatch"], cwd=run_dir, env=_env(shims), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 30
    while not (run_dir / "probe" / "ready").exists():
        assert time.time() < deadline and job.poll() is None, job.communicate()
        time.sleep(0.02)
    os.kill(job.pid, signal.SIGUSR1)  # what --signal=B:USR1@120 does: to the batch shell only
    _, stderr = job.communicate(timeout=30)
    assert job.returncode == 0, stderr
    assert (run_dir / "probe" / "scontrol.log").read_text().split() == ["requeue", "4242"]
    assert "requeueing job 4242" in stderr


def test_checkpoint_exit_without_requeue_fails_the_job(tmp_path: Path, shims: Path, monkeypatch) -> None:
    monkeypatch.setenv("BUDGET_ACCOUNTS", "deepacf")
    _, _, run_dir = _compile(mnist_program(gpus=1, requeue=False), "mnist", "juwels-booster", tmp_path / "runs")
    assert "--requeue" not in (run_dir / "jobs/train.sbatch").read_text()
    (run_dir / "probe" / "mode").write_text("checkpoint")
    job = subprocess.Popen(["bash", "jobs/train.sbatch"], cwd=run_dir, env=_env(shims), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 30
    while not (run_dir / "probe" / "ready").exists():
        assert time.time() < deadline and job.poll() is None, job.communicate()
        time.sleep(0.02)
    os.kill(job.pid, signal.SIGUSR1)
    _, stderr = job.communicate(timeout=30)
    assert job.returncode == 75
    assert not (run_dir / "probe" / "scontrol.log").exists()
    assert "mfile submit --resume" in stderr


def test_a_job_started_outside_its_run_directory_refuses(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("BUDGET_ACCOUNTS", "deepacf")
    _, _, run_dir = _compile(mnist_program(), "mnist", "juwels-booster", tmp_path / "runs")
    proc = subprocess.run(["bash", str(run_dir / "jobs/digits.sbatch")], cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 2 and "run directory" in proc.stderr


SBATCH_SHIM = """#!/bin/bash
# sbatch --parsable ...: log the argv (one call per line, words separated by |), print an id.
n=$(($(cat "$0.count" 2>/dev/null || echo 100) + 1))
echo "$n" >"$0.count"
(IFS='|'; echo "$*") >>"$0.log"
echo "$n;cluster"
"""


def test_submit_sh_queues_the_chain_and_names_cannot_break_out_of_comments(tmp_path: Path, shims: Path, monkeypatch) -> None:
    monkeypatch.setenv("BUDGET_ACCOUNTS", "deepacf")
    (shims / "sbatch").write_text(SBATCH_SHIM)
    (shims / "sbatch").chmod(0o755)
    marker = tmp_path / "pwned"
    program = mnist_program()
    pipe = program.pipelines[0]
    evil_stage = f"prepare\ntouch {marker}"
    tasks = tuple(t.model_copy(update={"stage": evil_stage}) if t.stage == "prepare" else t for t in pipe.tasks)
    pipe = pipe.model_copy(update={"tasks": tasks})
    program = program.model_copy(update={"pipelines": (pipe,)})
    source = SOURCE_INFO.model_copy(update={"path": f"/x/a\ntouch {marker}.mfile"})
    profile = load_profile("juwels-booster")
    plan = assemble_plan(program, "mnist", profile, source, HEADERS, Reporter())
    run_dir = write_run_dir(plan, profile, tmp_path / "runs")
    proc = subprocess.run(["bash", "submit.sh"], cwd=run_dir, env=_env(shims), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert not marker.exists() and not list(tmp_path.glob("pwned*"))
    calls = [line.split("|") for line in (shims / "sbatch.log").read_text().splitlines()]
    assert calls[0] == ["--parsable", f"--chdir={run_dir}", "jobs/digits.sbatch"]
    assert calls[1] == ["--parsable", f"--chdir={run_dir}", "--dependency=afterok:101", "--kill-on-invalid-dep=yes", "jobs/split.sbatch"]
    assert calls[3] == ["--parsable", f"--chdir={run_dir}", "--dependency=afterok:102:103", "--kill-on-invalid-dep=yes", "jobs/evaluate.sbatch"]
    assert proc.stdout.splitlines()[0] == "digits: 101"
    jobs = json.loads((run_dir / "state" / "jobs.json").read_text())["jobs"]
    assert [(j["name"], j["job_id"]) for j in jobs] == [("digits", "101"), ("split", "102"), ("train", "103"), ("evaluate", "104"), ("save", "105")]


def test_modules_are_loaded_before_set_u_and_pass_shellcheck(tmp_path: Path, monkeypatch) -> None:
    from golden_util import check_shell

    monkeypatch.setenv("BUDGET_ACCOUNTS", "deepacf")
    _, _, run_dir = _compile(mnist_program(), "mnist", "juwels-booster", tmp_path / "runs", environment="modules")
    text = (run_dir / "jobs" / "train.sbatch").read_text()
    assert "set +u\nmodule load Stages/2025 GCC ParaStationMPI PyTorch mpi4py\nset -u\n" in text
    assert 'cmd+=("${PROJECT:?is not set: the venv is under it}"/mfile/venv-booster/bin/python -m mfile.runtime' in text
    assert "apptainer" not in text and "--nv" not in text
    check_shell([run_dir / "jobs" / "train.sbatch"])
