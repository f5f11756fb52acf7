"""The compute-budget estimate ``mfile compile`` prints: what the plan costs at the requested
walltimes, since JUWELS projects run on a budget.

Node-hours = nodes x walltime (x array elements). Core-hours are JSC's accounting unit:
physical cores (a Booster node-hour is charged as 48 core-hours), every core of a node where
the site gives nodes whole, else the cores behind the CPUs asked for (Slurm's CPUs are hardware
threads: 2 per core on JUWELS). GPU-hours count the GPUs asked for.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from mfile.codegen.jobs import plan_jobs
from mfile.codegen.profile import Profile
from mfile.plan.manifest import Plan
from mfile.plan.units import parse_time


@dataclass(frozen=True)
class Cost:
    job: str
    partition: str
    elements: int
    nodes: int
    time: str
    node_hours: float
    core_hours: float
    gpu_hours: float


def job_costs(plan: Plan, profile: Profile) -> list[Cost]:
    costs = []
    by_id = {t.id: t for t in plan.pipeline.tasks}
    for job in plan_jobs(plan, profile):
        res = by_id[job.task].resources
        if job.kind == "select":
            partition, nodes, cores, gpus, time = profile.cpu_partition, 1, 1, 0, profile.select_time
        else:
            partition, nodes, time = res.partition or profile.cpu_partition, res.nodes or 1, res.time or profile.default_time
            cpus = (res.tasks or 1) // nodes * (res.cpus_per_task or 1)
            gpus = res.gpus or 0
        part = profile.partitions[partition]
        if job.kind != "select":
            # Slurm's CPUs are hardware threads; JSC charges physical cores (a Booster node-hour = 48).
            cores = math.ceil(cpus / part.threads_per_core)
        if profile.exclusive_nodes:
            cores = part.cores_per_node
        hours = (parse_time(time) or 0) / 3600 * job.elements
        costs.append(Cost(job.name, partition, job.elements, nodes, time, nodes * hours, nodes * cores * hours, nodes * gpus * hours))
    return costs


def budget_table(plan: Plan, profile: Profile) -> str:
    """A plain-text table, one row per job and a total (at most, if every job runs to its limit)."""
    costs = job_costs(plan, profile)
    header = ("job", "partition", "jobs", "nodes", "time", "node-h", "core-h", "GPU-h")
    rows = [
        (c.job, c.partition, str(c.elements), str(c.nodes), c.time, f"{c.node_hours:.2f}", f"{c.core_hours:.1f}", f"{c.gpu_hours:.1f}")
        for c in costs
    ]
    total = (
        "total", "", str(sum(c.elements for c in costs)), "", "",
        f"{sum(c.node_hours for c in costs):.2f}", f"{sum(c.core_hours for c in costs):.1f}", f"{sum(c.gpu_hours for c in costs):.1f}",
    )
    table = [header, *rows, total]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    right = {2, 3, 5, 6, 7}

    def fmt(row: tuple[str, ...]) -> str:
        return "  ".join(cell.rjust(w) if i in right else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths))).rstrip()

    rule = "  ".join("-" * w for w in widths)
    lines = [f"budget estimate for {plan.pipeline.name} on {profile.name} (requested walltimes):", fmt(header), rule]
    lines += [fmt(r) for r in rows] + [rule, fmt(total)]
    return "\n".join(lines) + "\n"
