"""Kubeflow Pipelines (KFP v2 SDK) twins of the benchmark M-Files (``gen_mfile.py``).

``planning_script(n)`` returns a self-contained Python program, run in the peers' venv,
that defines the same DAG with two container components (the images the M-File items
name) and compiles it to pipeline YAML: ``python pipeline.py OUT.yaml``. The fan-out is a
Python loop in the pipeline function, which is how KFP users build a static DAG of many
tasks (``dsl.ParallelFor`` would be one runtime loop, not N planned tasks).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gen_mfile import IMAGE_SOURCE, IMAGE_STEP, planning_shape, task_ids  # noqa: E402

_TEMPLATE = '''\
"""Benchmark workflow for KFP: a chain of {chain} tasks, then {members} members x {steps} steps."""
import sys

from kfp import compiler, dsl

CHAIN = {chain_names!r}
MEMBERS = {members}
MEMBER_STEPS = {member_names!r}


@dsl.container_component
def source(seed: int, output: dsl.Output[dsl.Dataset]):
    return dsl.ContainerSpec(
        image="{image_source}",
        command=["python", "-m", "bench.source"],
        args=["--seed", seed, output.path],
    )


@dsl.container_component
def step(scale: int, step: int, data: dsl.Input[dsl.Dataset], output: dsl.Output[dsl.Dataset]):
    return dsl.ContainerSpec(
        image="{image_step}",
        command=["python", "-m", "bench.step"],
        args=["--scale", scale, "--step", step, data.path, output.path],
    )


@dsl.pipeline(name="bench")
def bench():
    prev = source(seed=0).set_display_name(CHAIN[0])
    for i, name in enumerate(CHAIN[1:], start=1):
        prev = step(scale=i, step=0, data=prev.outputs["output"]).set_display_name(name)
    head = prev
    for m in range(MEMBERS):
        prev = head
        for s, name in enumerate(MEMBER_STEPS):
            prev = step(scale=m, step=s, data=prev.outputs["output"]).set_display_name(f"m{{m}}_{{name}}")


if __name__ == "__main__":
    compiler.Compiler().compile(bench, package_path=sys.argv[1])
'''


def planning_script(n: int) -> str:
    shape = planning_shape(n)
    chain, members = task_ids(shape)
    return _TEMPLATE.format(
        chain=shape.chain,
        members=shape.members,
        steps=shape.member_steps,
        chain_names=tuple(chain),
        member_names=tuple(name.split("_", 1)[1] for name in members[0]),
        image_source=IMAGE_SOURCE,
        image_step=IMAGE_STEP,
    )


if __name__ == "__main__":
    sys.stdout.write(planning_script(int(sys.argv[1])))
