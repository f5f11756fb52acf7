"""What every section of the benchmark suite shares: paths, the peers' venv, timing of
subprocesses from process start, the sbatch-logging wrapper, statistics, machine facts."""

from __future__ import annotations

import json
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

REPO = Path(__file__).resolve().parents[2]
BENCH = REPO / "benchmarks"
WORK = BENCH / ".work"
PEERS_VENV = WORK / "peers-venv"
# Pinned so that numbers from different days compare; bump deliberately.
PEER_REQUIREMENTS = (
    "snakemake==9.27.1",
    "snakemake-executor-plugin-slurm==2.8.0",
    "kfp==2.17.3",
    "submitit==1.5.4",
)


def project_python() -> Path:
    """The interpreter running the suite, by its path in the venv: a venv's ``bin/python``
    links straight to the interpreter, while a pyenv shim would add ~80 ms to each start."""
    return Path(sys.executable)


def mfile_argv() -> list[str]:
    """`mfile` as users start it: the console script of the environment running this suite.
    Its shebang names the venv's python, which links to the real interpreter (no shim)."""
    script = Path(sys.executable).parent / "mfile"
    if script.exists():
        return [str(script)]
    return [str(project_python()), "-m", "mfile.cli"]


def byte_compile() -> str:
    """Byte-compile mfile's sources before timing it, as ``pip install`` does (and did for
    the peers' venv). Where ``PYTHONDONTWRITEBYTECODE`` is set (this development machine
    sets it) a source tree never gets its ``.pyc`` files, and every ``mfile`` process then
    compiles its ~50 modules from source: 0.08 s CPU of a 0.43 s ``mfile check`` here,
    a cost no installed mfile pays. Reading existing ``.pyc`` files is allowed either way."""
    import importlib.util

    spec = importlib.util.find_spec("mfile")
    if spec is None or not spec.submodule_search_locations:
        return "mfile not importable"
    root = list(spec.submodule_search_locations)[0]
    r = subprocess.run([str(project_python()), "-m", "compileall", "-q", root], capture_output=True, text=True)
    return f"byte-compiled {root}" if r.returncode == 0 else f"compileall failed: {r.stderr.strip()[-200:]}"


@dataclass
class Peers:
    """The peers' venv, or why it is unavailable (then peer columns say so)."""

    python: Path | None
    reason: str = ""
    versions: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.python is not None

    def bin(self, name: str) -> str:
        assert self.python is not None
        return str(self.python.parent / name)


def ensure_peers(log: Any = print) -> Peers:
    """Create ``benchmarks/.work/peers-venv`` with the pinned peers unless it has them already.
    A lock file serialises concurrent callers (a test session and a benchmark run)."""
    import fcntl

    WORK.mkdir(parents=True, exist_ok=True)
    with open(WORK / "peers-venv.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _ensure_peers_locked(log)


def _ensure_peers_locked(log: Any) -> Peers:
    python = PEERS_VENV / "bin" / "python"
    marker = PEERS_VENV / "requirements.txt"
    wanted = "\n".join(PEER_REQUIREMENTS) + "\n"
    if not (python.exists() and marker.exists() and marker.read_text() == wanted):
        log(f"creating the peers' venv in {PEERS_VENV} (snakemake, kfp, submitit) ...")
        WORK.mkdir(parents=True, exist_ok=True)
        try:
            if not python.exists():
                subprocess.run([str(project_python()), "-m", "venv", str(PEERS_VENV)], check=True, capture_output=True, timeout=300)
            pip = subprocess.run(
                [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *PEER_REQUIREMENTS],
                capture_output=True, text=True, timeout=900,
            )  # fmt: skip
        except (OSError, subprocess.SubprocessError) as exc:
            return Peers(None, f"could not create the peers' venv: {exc}")
        if pip.returncode != 0:
            tail = " ".join(line for line in pip.stderr.splitlines()[-3:] if not line.startswith("WARNING"))
            return Peers(None, f"pip could not install the peers: {tail or 'exit ' + str(pip.returncode)}")
        marker.write_text(wanted)
    probe = subprocess.run(
        [str(python), "-c", "import json, importlib.metadata as m; print(json.dumps({p: m.version(p) for p in "
         "('snakemake', 'snakemake-executor-plugin-slurm', 'kfp', 'submitit')}))"],
        capture_output=True, text=True,
    )  # fmt: skip
    if probe.returncode != 0:
        return Peers(None, f"the peers' venv is broken: {probe.stderr.strip().splitlines()[-1:]}")
    return Peers(python, versions=json.loads(probe.stdout))


# --------------------------------------------------------------------------- timing


@dataclass
class Timed:
    seconds: float
    returncode: int
    stdout: str = ""
    stderr: str = ""
    cpu: float = float("nan")  # user + system seconds of the process and its waited-for children


def run_timed(
    argv: Sequence[str],
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 900,
    capture: bool = True,
) -> Timed:
    """Wall time of one process from ``fork`` to exit (what a user waits for), and its CPU
    time, which a loaded shared machine disturbs much less than wall time."""
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    try:
        p = subprocess.run(list(argv), cwd=cwd, env=env, capture_output=capture, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return Timed(time.perf_counter() - t0, 124, "", f"timed out after {timeout:.0f} s")
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    return Timed(wall, p.returncode, p.stdout or "", p.stderr or "", cpu)


def median(xs: Sequence[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def linear_fit(xs: Sequence[float], ys: Sequence[float]) -> dict[str, float]:
    """Least squares ``y = intercept + slope * x`` with R², plus the log-log exponent
    between the two largest sizes (1.0 = linear there, 2.0 = quadratic)."""
    n = len(xs)
    if n < 2:
        return {"slope": float("nan"), "intercept": float("nan"), "r2": float("nan"), "exponent": float("nan")}
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys))
    slope = sxy / sxx
    intercept = my - slope * mx
    ss_tot = sum((y - my) ** 2 for y in ys)
    ss_res = sum((y - intercept - slope * x) ** 2 for x, y in zip(xs, ys))
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else 1.0
    import math

    (x1, y1), (x2, y2) = sorted(zip(xs, ys))[-2:]
    exponent = math.log(y2 / y1) / math.log(x2 / x1) if y1 > 0 and y2 > 0 and x2 != x1 else float("nan")
    return {"slope": slope, "intercept": intercept, "r2": r2, "exponent": exponent}


# --------------------------------------------------------------------------- sbatch counting

_SBATCH_WRAPPER = """#!/bin/bash
# Written by benchmarks/suite/common.py: logs every sbatch call (time and arguments), then
# runs the real sbatch when MFILE_BENCH_REAL_SBATCH is set, else answers with a fake job id.
printf '%s %s\\n' "$(date +%s.%N)" "$*" >> "$MFILE_BENCH_SBATCH_LOG"
if [[ -n "${MFILE_BENCH_REAL_SBATCH:-}" ]]; then
    out=$("$MFILE_BENCH_REAL_SBATCH" "$@"); rc=$?
    printf '%s\\n' "$out"
    printf '%s\\n' "$out" >> "$MFILE_BENCH_SBATCH_LOG.ids"
    exit $rc
fi
n=$(( $(wc -l < "$MFILE_BENCH_SBATCH_LOG") + 900000 ))
case " $* " in *" --parsable "*) echo "$n";; *) echo "Submitted batch job $n";; esac
"""


@dataclass
class SbatchLog:
    """A PATH directory whose ``sbatch`` logs each call; read the log after the tool ran."""

    bindir: Path
    log: Path
    real: str | None

    def env(self, base: dict[str, str] | None = None, hold: bool = True) -> dict[str, str]:
        env = dict(base or os.environ)
        env["PATH"] = f"{self.bindir}:{env.get('PATH', '')}"
        env["MFILE_BENCH_SBATCH_LOG"] = str(self.log)
        if self.real:
            env["MFILE_BENCH_REAL_SBATCH"] = self.real
            if hold:
                # Every job is queued held (sbatch reads SBATCH_HOLD), so nothing runs on the
                # shared test cluster before the harness cancels it.
                env["SBATCH_HOLD"] = "1"
        else:
            env.pop("MFILE_BENCH_REAL_SBATCH", None)
        return env

    def calls(self) -> list[tuple[float, str]]:
        if not self.log.exists():
            return []
        out = []
        for line in self.log.read_text().splitlines():
            stamp, _, args = line.partition(" ")
            out.append((float(stamp), args))
        return out

    def job_ids(self) -> list[str]:
        ids_file = Path(f"{self.log}.ids")
        if not ids_file.exists():
            return []
        return [m.group(1) for m in re.finditer(r"^(?:Submitted batch job )?(\d+)", ids_file.read_text(), re.M)]

    def reset(self) -> None:
        for p in (self.log, Path(f"{self.log}.ids")):
            p.unlink(missing_ok=True)


def sbatch_logger(directory: Path, real: bool) -> SbatchLog:
    directory.mkdir(parents=True, exist_ok=True)
    bindir = directory / "bin"
    bindir.mkdir(exist_ok=True)
    wrapper = bindir / "sbatch"
    wrapper.write_text(_SBATCH_WRAPPER)
    wrapper.chmod(0o755)
    real_path = shutil.which("sbatch") if real else None
    log = SbatchLog(bindir, directory / "sbatch.log", real_path)
    log.reset()
    return log


def slurm_up() -> tuple[bool, str]:
    """Whether the local Slurm cluster (scripts/local-slurm.sh) answers, and why not."""
    script = REPO / "scripts" / "local-slurm.sh"
    if not script.exists():
        return False, "scripts/local-slurm.sh is missing"
    try:
        p = subprocess.run(["bash", str(script), "status"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as exc:
        return False, f"local-slurm.sh status failed: {exc}"
    if p.returncode == 0:
        return True, p.stdout.strip() or p.stderr.strip()
    why = (p.stdout.strip() or p.stderr.strip() or f"exit {p.returncode}").splitlines()[0]
    return False, f"local Slurm not running ({why}); start it with scripts/local-slurm.sh start"


def scancel(ids: Sequence[str]) -> None:
    for i in range(0, len(ids), 500):
        subprocess.run(["scancel", *ids[i : i + 500]], capture_output=True, check=False)


# --------------------------------------------------------------------------- machine


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return float("nan")


def machine(peers: Peers) -> dict[str, Any]:
    mfile_version = subprocess.run([*mfile_argv(), "--version"], capture_output=True, text=True).stdout.strip()
    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cores": os.cpu_count(),
        "memory_gib": round(_memory_gib(), 1),
        "cpu": _cpu_model(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "mfile": mfile_version,
        "load": " / ".join(f"{x:.1f}" for x in os.getloadavg()),  # 1, 5, 15 min, when the run began
        "peers": peers.versions if peers.ok else {"unavailable": peers.reason},
    }
