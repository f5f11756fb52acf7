"""Diagnostics about names, calls and the builtins (E1xx), and the builtin catalogue.

Kept apart from the passes that report them so that docs and tests can list every code.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from mfile.diagnostics import Diagnostic, Severity


def did_you_mean(name: str, candidates: "list[str] | set[str] | tuple[str, ...]") -> str:
    """`` (did you mean 'x'?)`` for a close candidate, else the empty string."""
    close = difflib.get_close_matches(name, sorted(candidates), n=1, cutoff=0.7)
    return f" (did you mean {close[0]!r}?)" if close else ""


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
            ("hyperparameters", "metric", "mode", "max_parallel", "reference"),
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


class UndefinedName(Diagnostic):
    code = "E101"
    message = "name {name!r} is not defined{suggestion}"
    hint = "assign it first (`{name} = MantikItem(name=...)`), or bind it with reference=\"{name}\""


class UsedBeforeAssignment(Diagnostic):
    code = "E102"
    message = "name {name!r} is used before it is assigned on line {line}"
    hint = "M-Files run top to bottom: move the assignment above this line"


class RebindsBuiltin(Diagnostic):
    code = "E103"
    severity = Severity.WARNING
    message = "assignment to {name!r} hides the builtin of that name for the rest of the file"
    hint = "choose another name, e.g. `{name}_task = {name}(...)`"


class UnknownAttribute(Diagnostic):
    code = "E104"
    message = "{what} has no attribute {attr!r}{suggestion}"
    hint = "{available}"


class UnknownKeyword(Diagnostic):
    code = "E105"
    message = "{func}() got an unexpected keyword argument {keyword!r}{suggestion}"
    hint = "{func} takes: {usage}"


class WrongArgumentCount(Diagnostic):
    code = "E106"
    message = "{func}() takes {expected} positional argument(s), got {got}"
    hint = "{usage}"


class MissingArgument(Diagnostic):
    code = "E107"
    message = "{func}() needs the keyword argument {keyword!r}"
    hint = "{usage}"


class NotCallable(Diagnostic):
    code = "E108"
    message = "{what} cannot be called"
    hint = "only builtins and the methods configure, set_input, set_input_name and get_output_reference can be called"


class WrongArgumentType(Diagnostic):
    code = "E109"
    message = "{func}(): {argument} must be {expected}, got {got}"
    hint = None


class UnpackMismatch(Diagnostic):
    code = "E110"
    message = "cannot unpack {got} value(s) into {expected} name(s)"
    hint = "{detail}"


class DuplicateReference(Diagnostic):
    code = "E111"
    message = "reference name {name!r} is already bound on line {line}"
    hint = "each reference= name must be unique in the file"


class ConstantError(Diagnostic):
    code = "E112"
    message = "cannot compute this constant: {reason}"
    hint = "M-Files allow arithmetic on numbers only, within float range"


class DuplicateKey(Diagnostic):
    code = "E114"
    message = "key {key!r} appears twice in this dict (first on line {line})"
    hint = "remove one of them"


class NotAReference(Diagnostic):
    code = "E115"
    message = "{what} is not an output reference"
    hint = "pass a task's output, e.g. `{example}`"


class UselessStatement(Diagnostic):
    code = "E116"
    severity = Severity.WARNING
    message = "this statement has no effect"
    hint = "assign the value to a name, or use it in a pipeline stage"


class NotConstant(Diagnostic):
    code = "E117"
    message = "{what} must be a constant (string, number, bool, None, list or dict of those), got {got}"
    hint = "parameters travel to the item as data; compute values inside the item payload"


class ItemNameNotString(Diagnostic):
    code = "E118"
    message = "the item name must be a string like \"namespace/name:version\", got {got}"
    hint = 'MantikItem(name="mfile/normalize:1")'


class SetInputNameMisuse(Diagnostic):
    code = "E119"
    message = "set_input_name() names an input of a step inside pipeline_component(...); {reason}"
    hint = "component.step.set_input_name(\"data_train\")"
