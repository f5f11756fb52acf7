"""The port tables: which named inputs and outputs a task has, by item kind or builtin.

Compiler, codegen and runtime agree on these names (docs/architecture.md, "Ports").
"""

from __future__ import annotations

from mfile.compiler.values import TaskDef

MULTI_OUTPUT = {
    "mfile/train_test_split": ("train", "test"),
    "mfile/evaluate": ("metrics",),
    "mfile/normalize": ("output", "stats"),
    "mfile/save_model": ("model",),
}
# Inputs an item can do without (normalize reuses saved statistics when given them).
OPTIONAL_INPUTS = {"mfile/normalize": ("stats",)}
KIND_OUTPUTS = {
    "dataset": ("output",),
    "algorithm": ("output",),
    "trainable": ("model", "stats"),
    "deployment": ("model",),
}


def output_ports(task: TaskDef) -> tuple[str, ...] | None:
    if task.mode == "predict":
        return ("output",)
    if task.item is None:
        return None
    return MULTI_OUTPUT.get(task.item.ref.name) or KIND_OUTPUTS[task.item.ref.kind]


def input_ports(task: TaskDef, count: int = 1) -> tuple[str, ...] | None:
    """Input ports in positional order; ``count`` is how many a variadic builtin gets."""
    if task.mode == "predict":
        return ("input",)
    if task.item is None:
        return None
    name = task.item.ref.name
    if name == "mfile/join":
        return tuple(f"input_{i}" for i in range(count))
    if name == "mfile/evaluate":
        return ("model", "data")
    if name in OPTIONAL_INPUTS:
        return ("input", *OPTIONAL_INPUTS[name])
    return {
        "dataset": (),
        "algorithm": ("input",),
        "trainable": ("input",),
        "deployment": ("model",),
    }[task.item.ref.kind]
