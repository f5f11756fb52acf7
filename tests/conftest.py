"""Shared fixtures: the local Slurm cluster for tests marked ``e2e``.

``slurm_cluster`` runs ``scripts/local-slurm.sh start`` once per session (idempotent: an already
running cluster is reused and left running afterwards, so a second test run starts in a second).
When the script says Slurm cannot run on this machine at all (exit 4, ``unavailable: ...``), the
e2e tests are skipped with that reason, except in CI (``CI`` set), where that is a failure. Any
other start failure is a failure everywhere: a broken cluster must not look like a skip.

In CI no skip is silent: a test that skips there fails instead, unless its reason starts with
one of ``ALLOWED_CI_SKIPS`` (each with why it cannot run in CI at all). Missing MPI, Slurm,
shellcheck, sample data or peers in CI is a broken CI machine, not a reason to pass.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

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
    """Every e2e test gets the cluster, so none can run against a Slurm nobody started."""
    for item in items:
        if item.get_closest_marker("e2e") is not None and "slurm_cluster" not in getattr(item, "fixturenames", ()):
            item.fixturenames.append("slurm_cluster")  # type: ignore[attr-defined]


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
