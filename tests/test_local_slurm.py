"""The local Slurm cluster itself (scripts/local-slurm.sh): jobs run, ``afterok`` chains start
in order, ``srun --mpi=pmix`` gives real MPI ranks, a job whose dependency failed is cancelled,
and the partitions are those of the ``local`` site profile. Other test sessions may share the
cluster, so every test looks only at its own job ids."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
import tomllib
from pathlib import Path

import pytest

from conftest import ROOT, SCRIPT, SlurmCluster
from mfile.slurm.query import SlurmQuery, parse_elapsed

e2e = pytest.mark.e2e


def sbatch(tmp_path: Path, name: str, command: str, *options: str) -> str:
    proc = subprocess.run(
        ["sbatch", "--parsable", f"--job-name=mfile-test-{name}", f"--chdir={tmp_path}",
         f"--output={tmp_path}/{name}.out", f"--error={tmp_path}/{name}.err", *options, "--wrap", command],
        capture_output=True, text=True, timeout=60, check=True,
    )
    return proc.stdout.strip().split(";")[0]


def wait_final(job_ids: list[str], timeout: float = 90.0) -> dict[str, str]:
    """Job id -> final Slurm state (what `mfile status` would report), polling squeue."""
    query = SlurmQuery()
    deadline = time.monotonic() + timeout
    while True:
        states = query.refresh(job_ids)
        if all(j in states and all(x.final for x in states[j]) for j in job_ids):
            return {j: states[j][0].state for j in job_ids}
        if time.monotonic() > deadline:
            pytest.fail(f"jobs not final after {timeout:.0f} s: {states}")
        time.sleep(0.3)


def scontrol_times(job_id: str) -> tuple[str, str]:
    out = subprocess.run(["scontrol", "--oneliner", "show", "job", job_id], capture_output=True, text=True,
                         timeout=30, check=True).stdout
    fields = dict(pair.split("=", 1) for pair in out.split() if "=" in pair)
    return fields["StartTime"], fields["EndTime"]


@e2e
def test_status_says_up(slurm_cluster: SlurmCluster) -> None:
    proc = subprocess.run(["bash", str(SCRIPT), "status"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith("up: cluster local")


@e2e
def test_partitions_match_the_local_profile(slurm_cluster: SlurmCluster) -> None:
    profile = tomllib.loads((ROOT / "src" / "mfile" / "profiles" / "local.toml").read_text())
    assert slurm_cluster.partitions[0] == profile["cpu_partition"]
    assert set(profile["partitions"]) <= set(slurm_cluster.partitions)
    for name, part in profile["partitions"].items():
        assert part["cores_per_node"] <= slurm_cluster.cpus, name
    limits = dict(
        line.split() for line in subprocess.run(["sinfo", "-h", "-o", "%R %l"], capture_output=True, text=True,
                                                timeout=30, check=True).stdout.splitlines()
    )
    for name, part in profile["partitions"].items():  # the profile promises what the cluster allows
        assert parse_elapsed(limits[name]) == parse_elapsed(part["max_time"]), name


@e2e
def test_a_job_runs(slurm_cluster: SlurmCluster, tmp_path: Path) -> None:
    job = sbatch(tmp_path, "hello", 'echo "hello from $SLURM_JOB_ID on $SLURMD_NODENAME"')
    assert wait_final([job]) == {job: "COMPLETED"}
    assert (tmp_path / "hello.out").read_text().strip() == f"hello from {job} on {slurm_cluster.node}"


@e2e
def test_afterok_chain_starts_in_order(slurm_cluster: SlurmCluster, tmp_path: Path) -> None:
    # Each job stamps its start and end with nanoseconds; a dependent must start after its
    # dependency ended (Slurm's own times only have second resolution).
    stamp = 'date +%s.%N > {0}.start; sleep 1; date +%s.%N > {0}.end'
    a = sbatch(tmp_path, "a", stamp.format("a"))
    b = sbatch(tmp_path, "b", stamp.format("b"), f"--dependency=afterok:{a}")
    c = sbatch(tmp_path, "c", stamp.format("c"), f"--dependency=afterok:{b}")
    assert wait_final([a, b, c]) == {a: "COMPLETED", b: "COMPLETED", c: "COMPLETED"}
    t = {f"{n}.{w}": float((tmp_path / f"{n}.{w}").read_text()) for n in "abc" for w in ("start", "end")}
    assert t["a.end"] <= t["b.start"] and t["b.end"] <= t["c.start"]
    (_, a_end), (b_start, b_end), (c_start, _) = scontrol_times(a), scontrol_times(b), scontrol_times(c)
    assert a_end <= b_start and b_end <= c_start  # ISO timestamps compare as strings


@e2e
def test_srun_pmix_gives_two_mpi_ranks(slurm_cluster: SlurmCluster, tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text(
        "from mpi4py import MPI\n"
        "c = MPI.COMM_WORLD\n"
        "total = c.allreduce(c.rank + 1)\n"
        "print(f'rank {c.rank} size {c.size} sum {total}', flush=True)\n"
    )
    job = sbatch(tmp_path, "mpi", f"srun --mpi=pmix -n 2 {slurm_cluster.python} {probe}", "--ntasks=2")
    states = wait_final([job])
    out = (tmp_path / "mpi.out").read_text()
    assert states[job] == "COMPLETED", out + (tmp_path / "mpi.err").read_text()
    # Two distinct ranks of one world (not two singletons each believing it is rank 0 of 1).
    assert sorted(out.split("\n")[:2]) == ["rank 0 size 2 sum 3", "rank 1 size 2 sum 3"]


@e2e
def test_dependent_of_a_failed_job_is_cancelled(slurm_cluster: SlurmCluster, tmp_path: Path) -> None:
    # No --kill-on-invalid-dep here: the cluster-wide DependencyParameters=kill_invalid_depend does it.
    bad = sbatch(tmp_path, "bad", "exit 3")
    after = sbatch(tmp_path, "after", "touch ran", f"--dependency=afterok:{bad}")
    states = wait_final([bad, after], timeout=60)
    assert states == {bad: "FAILED", after: "CANCELLED"}
    info = SlurmQuery().refresh([after])[after][0]
    assert info.reason == "DependencyNeverSatisfied"
    assert not (tmp_path / "ran").exists()


def test_unavailable_without_root_and_packages(tmp_path: Path) -> None:
    """Exit 4 with a reason when Slurm cannot run here: the one case in which e2e tests skip."""
    if os.geteuid() != 0:
        pytest.skip("needs root to run the script as another user")
    env = {"PATH": "/usr/bin:/bin", "MFILE_SLURM_SBIN": str(tmp_path / "no-sbin")}
    # `nobody` must be able to read the script wherever the checkout lives (a clone under
    # `mktemp -d` is mode 0700): hand it a copy in a directory anyone may enter.
    shared = Path(tempfile.mkdtemp(prefix="mfile-slurm-"))
    try:
        shared.chmod(0o755)
        script = shared / SCRIPT.name
        shutil.copyfile(SCRIPT, script)
        script.chmod(0o755)
        proc = subprocess.run(["runuser", "-u", "nobody", "--", "env", *(f"{k}={v}" for k, v in env.items()),
                               "bash", str(script), "start"], capture_output=True, text=True, timeout=60, cwd="/")
    finally:
        shutil.rmtree(shared, ignore_errors=True)
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert proc.stdout.startswith("unavailable: Slurm is not installed and installing it needs root")


# --------------------------------------------------------------------------- two clusters at once


def _conf(*args: str) -> dict[str, str]:
    if shutil.which("slurmd") is None:
        pytest.skip("slurmd is not installed (the node lines come from `slurmd -C`)")
    proc = subprocess.run(["bash", str(SCRIPT), "conf", *args], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    pairs = (line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line and not line.startswith("#"))
    return {key: value for key, value in pairs if key not in ("NodeName", "PartitionName")}


def test_the_multi_node_cluster_shares_nothing_with_the_single_node_one() -> None:
    """Both run on one machine at once (CI runs both): every name, port, directory and socket of
    one must differ from the other's, and the single-node conf keeps Slurm's default ports."""
    single, multi = _conf(), _conf("--nodes", "2")
    assert single["ClusterName"] == "local" and multi["ClusterName"] == "localmulti"
    assert "SlurmctldPort" not in single and "SlurmdPort" not in single and "AuthInfo" not in single
    assert {multi["SlurmctldPort"], multi["SlurmdPort"]}.isdisjoint({"6817", "6818"})
    for key in ("StateSaveLocation", "SlurmdSpoolDir", "SlurmctldPidFile", "SlurmdPidFile", "SlurmctldLogFile",
                "SlurmdLogFile", "JobCompLoc"):
        assert single[key] != multi[key], key
        assert not multi[key].startswith(single[key].rstrip("/") + "/"), key
    assert "%n" in multi["SlurmdSpoolDir"] and "%n" in multi["SlurmdPidFile"] and "%n" in multi["TmpFS"]
    assert multi["AuthInfo"].startswith("socket=/run/mfile-local-slurm-multi/")  # its own munged


@pytest.mark.parametrize("args,message", [
    (["start", "--nodes"], "--nodes needs a number"),
    (["start", "--nodes", "two"], "--nodes wants a whole number from 1 to 16, not 'two'"),
    (["status", "--nodes=0"], "--nodes wants a whole number from 1 to 16, not '0'"),
    (["stop", "--nodes", "17"], "not '17'"),
    (["start", "--node", "2"], "unknown argument '--node'"),
    (["launch"], "usage:"),
])
def test_bad_arguments_say_what_is_wrong(args: list[str], message: str) -> None:
    proc = subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    assert "usage: " in proc.stderr


def test_a_subnet_that_is_not_three_octets_is_refused() -> None:
    proc = subprocess.run(["bash", str(SCRIPT), "status", "--nodes", "2"], capture_output=True, text=True, timeout=30,
                          env={**os.environ, "MFILE_SLURM_SUBNET": "10.300.1"})
    assert proc.returncode == 2 and "MFILE_SLURM_SUBNET wants three octets" in proc.stderr, proc.stderr
