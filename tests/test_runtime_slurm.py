"""A data-parallel task under a real `srun --mpi=pmix -n 2` (the local Slurm of scripts/local-slurm.sh)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "runtime_items"))
from rt_plans import GEN, VOID, bind, item, mpi_env, run, table, task, write_plan  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def _slurm_up() -> bool:
    if shutil.which("sbatch") is None:
        return False
    return subprocess.run(["sinfo", "-h"], capture_output=True, timeout=20).returncode == 0


pytestmark = [pytest.mark.e2e, pytest.mark.skipif(not _slurm_up(), reason="no local Slurm (scripts/local-slurm.sh start)")]


def test_srun_two_ranks_write_two_parts(tmp_path):
    gen = task("gen", item("gen", "dataset"), {"n": 31}, outputs=(("output", GEN),))
    z = task("z", item("zscore", "algorithm"), inputs=[bind("input", "gen", type=table(x="float64"), columns=("x",))],
             outputs=(("output", table(x="float64")), ("stats", VOID)), parallel="data", tasks=2)  # fmt: skip
    plan = write_plan(tmp_path / "p", [gen, z])
    assert run(plan, "gen").returncode == 0
    script = tmp_path / "z.sbatch"
    log = tmp_path / "z.log"
    script.write_text(
        "#!/bin/bash\n"
        f"#SBATCH -n 2 -o {log} -t 5\n"
        f"cd {REPO}\n"
        f"srun --mpi=pmix {sys.executable} -m mfile.runtime {plan} z\n"
    )
    env = {k: v for k, v in mpi_env().items() if not k.startswith("OMPI_MCA")}
    job = subprocess.run(["sbatch", "--parsable", str(script)], capture_output=True, text=True, env=env, check=True).stdout.strip()
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        state = subprocess.run(["squeue", "-h", "-j", job, "-o", "%T"], capture_output=True, text=True).stdout.strip()
        if not state:
            break
        time.sleep(1)
    text = log.read_text() if log.exists() else ""
    record = json.loads((tmp_path / "p" / "state" / "z.json").read_text())
    assert record["ranks"] == 2 and record["job_id"] == job, text
    assert sorted(p.name for p in (tmp_path / "p" / "data" / "z" / "output").glob("*.nc")) == ["part-0000.nc", "part-0001.nc"]
    stats = json.loads((tmp_path / "p" / "data" / "z" / "stats" / "stats.json").read_text())
    assert stats["ranks"] == 2 and stats["columns"]["x"]["n"] == 31
