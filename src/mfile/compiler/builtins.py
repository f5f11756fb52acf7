"""Diagnostics about names, calls and the builtins (E1xx), and the builtin catalogue.

Kept apart from the passes that report them so that docs and tests can list every code.
"""

from __future__ import annotations

from dataclasses import dataclass

# --------------------------------------------------------------------------- builtins


@dataclass(frozen=True)
class Signature:
    """A builtin callable: how many positional args, which keywords, which are required."""

    name: str
    min_args: int = 0
    max_args: int | None = 0  # None: any number (pipeline_component)
    keywords: tuple[str, ...] = ()
    required: tuple[str, ...] = ()

    @property
    def usage(self) -> str:
        parts = [f"{k}=..." for k in self.keywords]
        if self.max_args is None:
            parts.insert(0, "*steps")
        elif self.max_args:
            parts.insert(0, ", ".join(f"arg{i + 1}" for i in range(self.max_args)))
        return f"{self.name}({', '.join(parts)})"


FUNCTIONS: dict[str, Signature] = {
    s.name: s
    for s in (
        Signature("MantikItem", 0, 1, ("name", "reference"), ()),
        Signature("Item", 0, 1, ("name", "reference"), ()),
        Signature("HyperParameter", 0, 0, (), ()),
        Signature(
            "HyperParameterSearch",
            1, 1,
            ("hyperparameters", "metric", "mode", "max_parallel", "min_points", "reference"),
            ("hyperparameters", "metric"),
        ),  # fmt: skip
        Signature("pipeline_component", 1, None, ("reference",)),
        Signature("evaluate", 0, 0, ("metric", "label", "baseline", "reference"), ("metric",)),
        Signature("save_model", 0, 0, ("store", "reference")),
        Signature("join", 0, 0, ("inputs", "how", "on", "reference"), ("inputs",)),
        Signature(
            "train_test_split", 0, 0, ("data", "test_size", "by", "seed", "reference"), ("data",)
        ),
        Signature(
            "timelag",
            0, 0,
            ("timeline", "lag_column", "lag", "steps", "variables", "reference"),
            ("timeline",),
        ),  # fmt: skip
        Signature("MantikPipeline", 0, 0, ("stages", "reference"), ("stages",)),
        Signature("Pipeline", 0, 0, ("stages", "reference"), ("stages",)),
        Signature("makeMantikItem", 1, 1, ("reference",)),
    )
}

# ``dsl.builtins.X`` reaches the same functions.
DSL_BUILTINS = ("join", "train_test_split", "timelag", "evaluate", "save_model", "HyperParameter",
                "HyperParameterSearch", "pipeline_component", "makeMantikItem", "MantikItem",
                "MantikPipeline")  # fmt: skip
BUILTIN_NAMES = frozenset(FUNCTIONS) | {"dsl"}

METHODS: dict[str, Signature] = {
    s.name: s
    for s in (
        Signature("configure", 0, 0, ("params", "resources")),
        Signature("set_input", 0, None, ()),  # positional refs or port=ref keywords
        Signature("set_input_name", 1, 1, ()),
        Signature("get_output_reference", 0, 0, ()),
    )
}

# Builtins implemented by items shipped with mfile (namespace ``mfile``).
BUILTIN_ITEMS = {
    "join": "mfile/join",
    "train_test_split": "mfile/train_test_split",
    "timelag": "mfile/timelag",
    "evaluate": "mfile/evaluate",
    "save_model": "mfile/save_model",
}

# Metrics and whether smaller is better (used to pick the best point of a search).
METRIC_MODES = {"rmse": "min", "mae": "min", "mse": "min", "loss": "min", "accuracy": "max"}


# --------------------------------------------------------------------------- diagnostics


