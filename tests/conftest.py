"""Shared fixtures: the local Slurm clusters for tests marked ``e2e`` and ``multinode``.

``slurm_cluster`` runs ``scripts/local-slurm.sh start`` once per session (idempotent: an already
running cluster is reused and left running afterwards, so a second test run starts in a second).
When the script says Slurm cannot run on this machine at all (exit 4, ``unavailable: ...``), the
e2e tests are skipped with that reason, except in CI (``CI`` set), where that is a failure. Any
other start failure is a failure everywhere: a broken cluster must not look like a skip.

In CI no skip is silent: a test that skips there fails instead, unless its reason starts with
one of ``ALLOWED_CI_SKIPS`` (each with why it cannot run in CI at all). Missing MPI, Slurm,
shellcheck, sample data or peers in CI is a broken CI machine, not a reason to pass.

``multinode_cluster`` does the same with ``start --nodes 2``: a second, separate cluster (its own
conf, ports, munged, network namespaces) that runs beside the single-node one. Its clients need
``SLURM_CONF``: tests pass ``multinode_cluster.env`` (or use the ``multinode_env`` fixture), and
never export it to the rest of the session. Unlike the single-node cluster, it is stopped at the
end of the session when this session started it, so CI leaves no namespace or bridge behind.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import pytest

# Golden files: `pytest --update-golden` (or MFILE_UPDATE_GOLDEN=1) rewrites them.
pytest_plugins = ["golden_util"]

# reason prefix -> why CI may skip it. Empty today: every test runs in CI.
ALLOWED_CI_SKIPS: dict[str, str] = {}

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "local-slurm.sh"
EXIT_UNAVAILABLE = 4


@dataclass(frozen=True)
class SlurmCluster:
    partitions: tuple[str, ...]  # the default one first
    node: str
    cpus: int
    python: str  # the project's Python, which jobs on this cluster run


def _sinfo(fmt: str) -> list[str]:
    out = subprocess.run(["sinfo", "-h", "-o", fmt], capture_output=True, text=True, timeout=30, check=True)
    return [line.strip() for line in out.stdout.splitlines() if line.strip()]


@pytest.fixture(scope="session")
def slurm_cluster() -> SlurmCluster:
    proc = subprocess.run(["bash", str(SCRIPT), "start"], capture_output=True, text=True, timeout=600)
    if proc.returncode == EXIT_UNAVAILABLE:
        reason = proc.stdout.strip() or proc.stderr.strip()
        if os.environ.get("CI"):
            pytest.fail(f"local Slurm is required in CI but {SCRIPT.name} says: {reason}", pytrace=False)
        pytest.skip(f"local Slurm: {reason}")
    if proc.returncode != 0:
        pytest.fail(
            f"{SCRIPT.name} start failed (exit {proc.returncode}):\n{proc.stdout}{proc.stderr}", pytrace=False
        )
    names = [p.rstrip("*") for p in _sinfo("%P")]
    default = [p.rstrip("*") for p in _sinfo("%P") if p.endswith("*")]
    partitions = tuple(default + [p for p in names if p not in default])
    node, cpus = _sinfo("%n %c")[0].split()
    python = str(ROOT / ".venv" / "bin" / "python")
    return SlurmCluster(partitions=partitions, node=node, cpus=int(cpus), python=python)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every e2e (multinode) test gets its cluster, so none can run against a Slurm nobody started."""
    for item in items:
        for marker, fixture in (("e2e", "slurm_cluster"), ("multinode", "multinode_cluster")):
            if item.get_closest_marker(marker) is not None and fixture not in getattr(item, "fixturenames", ()):
                item.fixturenames.append(fixture)  # type: ignore[attr-defined]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):  # type: ignore[no-untyped-def]
    """Under CI=true a skip that hides coverage is a failure (see ALLOWED_CI_SKIPS)."""
    outcome = yield
    report = outcome.get_result()
    if not (os.environ.get("CI") and report.skipped) or hasattr(report, "wasxfail"):
        return
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    reason = reason.removeprefix("Skipped: ")
    if any(reason.startswith(prefix) for prefix in ALLOWED_CI_SKIPS):
        return
    report.outcome = "failed"
    report.longrepr = f"skipped in CI ({reason}): a skip there hides coverage; fix the CI machine or list the reason in tests/conftest.py ALLOWED_CI_SKIPS"


# --------------------------------------------------------------------------- multi-node cluster

MULTINODE_NODES = 2


@dataclass(frozen=True)
class MultiNodeCluster:
    conf: str  # SLURM_CONF of its clients
    nodes: tuple[str, ...]  # in Slurm's order: the first is MASTER_ADDR of a DDP job
    cpus: int  # per node
    python: str
    start_s: float  # how long `start --nodes 2` took in this session
    env: dict[str, str] = field(repr=False)  # os.environ plus SLURM_CONF, for subprocesses


_multinode_timings: dict[str, float] = {}


def _cluster_script(*args: str, timeout: float = 600) -> tuple[subprocess.CompletedProcess[str], float]:
    t0 = time.monotonic()
    proc = subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, timeout=timeout)
    return proc, time.monotonic() - t0


@pytest.fixture(scope="session")
def multinode_cluster() -> Iterator[MultiNodeCluster]:
    args = ("--nodes", str(MULTINODE_NODES))
    was_up = _cluster_script("status", *args, timeout=60)[0].returncode == 0
    proc, took = _cluster_script("start", *args)
    if proc.returncode == EXIT_UNAVAILABLE:
        reason = proc.stdout.strip() or proc.stderr.strip()
        if os.environ.get("CI"):
            pytest.fail(f"the multi-node Slurm is required in CI but {SCRIPT.name} says: {reason}", pytrace=False)
        pytest.skip(f"multi-node Slurm: {reason}")
    if proc.returncode != 0:
        pytest.fail(f"{SCRIPT.name} start --nodes {MULTINODE_NODES} failed (exit {proc.returncode}):\n"
                    f"{proc.stdout}{proc.stderr}", pytrace=False)
    if not was_up:
        _multinode_timings["start_s"] = took
    match = re.search(r"SLURM_CONF=(\S+)", proc.stdout)
    assert match, f"{SCRIPT.name} start did not name the cluster's SLURM_CONF:\n{proc.stdout}"
    env = {**os.environ, "SLURM_CONF": match.group(1)}
    out = subprocess.run(["sinfo", "-h", "-N", "-o", "%N %c"], capture_output=True, text=True, timeout=30,
                         check=True, env=env).stdout
    rows = sorted({tuple(line.split()) for line in out.splitlines() if line.strip()})
    cluster = MultiNodeCluster(
        conf=match.group(1), nodes=tuple(r[0] for r in rows), cpus=int(rows[0][1]),
        python=str(ROOT / ".venv" / "bin" / "python"), start_s=took, env=env,
    )
    try:
        yield cluster
    finally:
        if not was_up:  # a developer's running cluster stays; the one this session started goes
            proc, took = _cluster_script("stop", *args, timeout=120)
            _multinode_timings["stop_s"] = took
            assert proc.returncode == 0, f"{SCRIPT.name} stop --nodes {MULTINODE_NODES} failed:\n{proc.stderr}"
            # Nothing may stay: the script's own account, and the kernel's list of namespaces.
            status = _cluster_script("status", *args, timeout=60)[0]
            assert status.stdout.strip() == "not running", status.stdout + status.stderr
            netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, timeout=30).stdout
            assert not re.search(r"^mfnode\d", netns, re.M), netns


@pytest.fixture
def multinode_env(multinode_cluster: MultiNodeCluster, monkeypatch: pytest.MonkeyPatch) -> MultiNodeCluster:
    """SLURM_CONF of the multi-node cluster in os.environ for one test (helpers that call sbatch,
    scontrol or ``mfile submit`` inherit it); undone after the test's own fixtures are torn down."""
    monkeypatch.setenv("SLURM_CONF", multinode_cluster.conf)
    return multinode_cluster


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:  # noqa: ANN001
    """The numbers issue 17 asks CI to show: the two-node cluster's start and stop times."""
    if _multinode_timings:
        parts = [f"{k.removesuffix('_s')} {v:.1f} s" for k, v in _multinode_timings.items()]
        terminalreporter.write_line(f"multi-node Slurm ({MULTINODE_NODES} nodes): " + ", ".join(parts))
