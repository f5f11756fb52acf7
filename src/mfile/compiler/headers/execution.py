"""The ``execution:`` section of a header and ``configure(resources={...})``: → ``ir.Resources``.

Both take the same keys and the same validation (DESIGN.md "Item headers"):

    container      str   Apptainer image (relative to the item dir, absolute, or "none")
    parallel       none | data
    nodes, tasks, cpus_per_task   int >= 1
    gpus           int >= 0 (per node)
    memory         "64G", "512M", "1T" (also "64GB", "64g"); a bare int means MB (Slurm's unit)
    time           "[D-]HH:MM:SS" or minutes (int or digits); stored as "[D-]HH:MM:SS"
    partition      a Slurm partition name
    environment    apptainer | modules: the profile's image or its module stack + venv
    device         cpu: run on CPU although gpus are asked for (otherwise a GPU task without
                   a CUDA device fails)
    env            mapping NAME: value, set for every rank (over the profile's [env]); a
                   configure() env adds to the header's
    requeue        bool
    sbatch_extra   list of extra sbatch options: long options on plan.sbatch.ALLOWED, matched
                   the way sbatch matches them (abbreviations included; E327/E328)

Values are refused when they contain control characters (they end up in batch scripts).
metaVariables are not substituted here: resources vary per task through configure().
"""

from __future__ import annotations

import re
from typing import Any, Mapping

from mfile.compiler.headers.messages import (
    AmbiguousSbatchOption,
    BadResource,
    FieldType,
    SbatchOptionNotAllowed,
    UnknownResource,
)
from mfile.compiler.headers.yamlnodes import YNode
from mfile.diagnostics import Reporter, Span, closest
from mfile.plan import sbatch
from mfile.plan.environment import env_name_problem
from mfile.plan.ir import Loc, Resources
from mfile.plan.units import clock_error, format_time, memory_parts, parse_time, time_parts

RESOURCE_KEYS = (
    "container", "parallel", "nodes", "tasks", "cpus_per_task", "gpus",
    "memory", "time", "partition", "environment", "device", "env", "requeue", "sbatch_extra",
)  # fmt: skip
_PARTITION = re.compile(r"^[A-Za-z0-9_.-]+$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _int(value: Any, minimum: int) -> tuple[Any, str | None]:
    if isinstance(value, bool) or not isinstance(value, int):
        return None, f"expected an integer >= {minimum}, got {value!r}"
    if value < minimum:
        return None, f"must be >= {minimum}, got {value}"
    return value, None


def _text(value: Any, what: str) -> tuple[Any, str | None]:
    if not isinstance(value, str) or not value.strip():
        return None, f"expected {what}, got {value!r}"
    if _CONTROL.search(value):
        return None, f"{what} may not contain control characters (newlines, tabs, NUL)"
    return value, None


def _time(value: Any) -> tuple[Any, str | None]:
    if isinstance(value, int) and not isinstance(value, bool) or isinstance(value, str) and value.isdigit():
        minutes = int(value)
        if minutes < 1:
            return None, "must be at least 1 minute"
        return format_time(minutes * 60), None
    if isinstance(value, str) and time_parts(value) is not None:
        problem = clock_error(value.strip())
        if problem:
            return None, problem
        total = parse_time(value)
        if total is None:
            return None, "must be longer than zero"
        return format_time(total), None
    return None, f"expected \"[D-]HH:MM:SS\" or a number of minutes, got {value!r}"


def _memory(value: Any) -> tuple[Any, str | None]:
    if isinstance(value, int) and not isinstance(value, bool):
        return (f"{value}M", None) if value > 0 else (None, f"must be > 0, got {value}")
    if isinstance(value, str):
        parts = memory_parts(value)
        if parts and parts[0] > 0:
            return f"{parts[0]}{parts[1] or 'M'}", None
    return None, f"expected a size like 64G, 512M or 1T, got {value!r}"


def _parallel(value: Any) -> tuple[Any, str | None]:
    if value in ("none", "data"):
        return value, None
    if value is None or value is False:  # YAML `parallel: no` / `none` written bare
        return "none", None
    return None, f"expected none or data, got {value!r}"


def _partition(value: Any) -> tuple[Any, str | None]:
    if isinstance(value, str) and _PARTITION.match(value):
        return value, None
    return None, f"expected a partition name of letters, digits, '.', '_' or '-', got {value!r}"


def _requeue(value: Any) -> tuple[Any, str | None]:
    return (value, None) if isinstance(value, bool) else (None, f"expected true or false, got {value!r}")


def _sbatch_extra(value: Any) -> tuple[Any, str | None]:
    if not isinstance(value, (list, tuple)):
        return None, f"expected a list of sbatch options like [\"--mail-type=END\"], got {value!r}"
    for option in value:
        if not isinstance(option, str) or not option.startswith("-"):
            return None, f"each entry must be an option starting with '-', got {option!r}"
        if _CONTROL.search(option):
            return None, f"option {option!r} contains control characters"
    return tuple(value), None


def _allowed_sbatch_options(options: tuple[str, ...], span: Span, reporter: Reporter) -> bool:
    """Each option as sbatch would read it (prefixes resolved) must be on the allowlist."""
    ok = True
    for option in options:
        verdict = sbatch.classify(option)
        if verdict.ok:
            continue
        ok = False
        if verdict.problem == "ambiguous":
            reporter.report(AmbiguousSbatchOption, span, option=option, reason=verdict.reason, allowed=sbatch.allowed_list())
        elif verdict.problem == "malformed":
            reporter.report(BadResource, span, key="sbatch_extra", reason=f"option {option!r}: {verdict.reason}")
        else:
            reads = verdict.reads
            hint = (f"use the resource field instead ({sbatch.RESERVED[verdict.name]})" if verdict.problem == "reserved" and verdict.name
                    else f"sbatch_extra accepts only: {sbatch.allowed_list()} (docs/security.md)")
            reporter.report(SbatchOptionNotAllowed, span, option=option, reads=reads, reason=verdict.reason, hint=hint)
    return ok


def _environment(value: Any) -> tuple[Any, str | None]:
    if value in ("apptainer", "modules"):
        return value, None
    return None, f"expected apptainer (the profile's image) or modules (its module stack and venv), got {value!r}"


def _device(value: Any) -> tuple[Any, str | None]:
    if value == "cpu":
        return value, None
    return None, f"expected cpu (run on CPU on purpose; leave it out to use the GPUs asked for), got {value!r}"


def _env(value: Any) -> tuple[Any, str | None]:
    if not isinstance(value, dict):
        return None, f"expected a mapping of variable names to values like {{\"NCCL_DEBUG\": \"INFO\"}}, got {value!r}"
    out: dict[str, str] = {}
    for name, item in value.items():
        why = env_name_problem(name)
        if why:
            return None, why
        if isinstance(item, bool) or not isinstance(item, (str, int, float)):
            return None, f"the value of {name} must be a string or a number, got {item!r}"
        if _CONTROL.search(str(item)):
            return None, f"the value of {name} may not contain control characters (newlines, tabs, NUL)"
        out[name] = str(item)
    return dict(sorted(out.items())), None


_CHECKS = {
    "container": lambda v: _text(v, "an image path or none"),
    "parallel": _parallel,
    "nodes": lambda v: _int(v, 1),
    "tasks": lambda v: _int(v, 1),
    "cpus_per_task": lambda v: _int(v, 1),
    "gpus": lambda v: _int(v, 0),
    "memory": _memory,
    "time": _time,
    "partition": _partition,
    "environment": _environment,
    "device": _device,
    "env": _env,
    "requeue": _requeue,
    "sbatch_extra": _sbatch_extra,
}


def resources_from_mapping(
    mapping: Mapping[str, Any],
    locs: Mapping[str, Span],
    reporter: Reporter,
    base: Resources | None = None,
    at: Span | None = None,
) -> Resources | None:
    """Validate ``mapping`` (resource key -> plain value) into Resources laid over ``base``.

    ``locs[key]`` is where the key was written (errors and ``Resources.origin`` use it;
    ``at`` is the fallback). Returns None if anything was wrong, after reporting all of it.
    """
    fallback = at or Span.whole_file("<resources>")
    values: dict[str, Any] = {}
    origin = dict(base.origin) if base else {}
    ok = True
    for key, value in mapping.items():
        span = locs.get(key, fallback)
        check = _CHECKS.get(key)
        if check is None:
            ok = False
            best = closest(str(key).replace("-", "_"), RESOURCE_KEYS)
            hint = f"did you mean {best!r}?" if best else "resources: " + ", ".join(RESOURCE_KEYS)
            reporter.report(UnknownResource, span, key=key, suggestion=hint)
            continue
        checked, why = check(value)
        if why:
            ok = False
            if isinstance(value, str) and "${" in value:
                why += " (metaVariables are not substituted in resources; set them with configure(resources=...))"
            reporter.report(BadResource, span, key=key, reason=why)
            continue
        if key == "sbatch_extra" and not _allowed_sbatch_options(checked, span, reporter):
            ok = False
            continue
        values[key] = checked
        origin[key] = Loc.of(span)
    if not ok:
        return None
    start = base or Resources()
    if "env" in values:  # configure(resources={"env": ...}) adds to the header's variables
        values["env"] = dict(sorted({**start.env, **values["env"]}.items()))
    return start.model_copy(update={**values, "origin": origin})


def resources_from_node(node: YNode | None, reporter: Reporter) -> Resources | None:
    """The header's ``execution:`` section (absent: all defaults)."""
    if node is None:
        return Resources()
    if node.kind != "map":
        reporter.report(FieldType, node.span, field="execution", expected="a mapping of resources", got=node.type_name)
        return None
    mapping: dict[str, Any] = {}
    locs: dict[str, Span] = {}
    for key, value in node.items():
        # YAML 1.1 reads an unquoted 02:00:00 as the sexagesimal integer 7200: keep the text.
        plain = value.text if value.kind == "scalar" and value.tag == "int" and ":" in value.text else value.to_plain()
        mapping[key.value] = plain
        locs[key.value] = value.span
    return resources_from_mapping(mapping, locs, reporter)
