"""A JSON Schema (draft-07) of the MantikHeader, for editors (``mfile schema header``).

The header is read by hand-written checks (``loader.py``, ``types.py``, ``execution.py``), not
by pydantic models, so the schema is built here from the same tables those checks use:
``KNOWN_FIELDS`` and ``KINDS``, the type names and type fields, the resource keys. What a
schema cannot say stays with ``mfile check`` (metaVariable substitution inside types, near
misses of field names, a param's value against its type after ``configure``). The schema
accepts what mfile accepts: unknown top-level fields pass through to the payload, unknown
fields inside a type are warnings (E324); an unknown resource key is an error (E321).

``"${name}"`` (a metaVariable reference) is accepted wherever mfile substitutes one.
"""

from __future__ import annotations

from typing import Any

from mfile import __version__
from mfile.compiler.headers.execution import RESOURCE_KEYS
from mfile.compiler.headers.loader import KINDS, KNOWN_FIELDS, MANTIK_KINDS
from mfile.compiler.headers.types import IMAGE_CHANNELS, IMAGE_FORMATS, TYPE_FIELDS, TYPE_NAMES
from mfile.plan.types import FUNDAMENTALS

DRAFT = "http://json-schema.org/draft-07/schema#"  # what editors' YAML and JSON support read everywhere
VARIABLE = r"^\$\{[^{}$]+\}$"  # values.py's reference(): the whole string is "${name}"
# plan/units.py's grammars, as ECMA-262 patterns: Slurm times and memory sizes.
TIME = r"^\s*(\d+-)?\d+(:\d+)?(:\d+)?\s*$"
MEMORY = r"^\s*\d+\s*[KMGTkmgt]?[Bb]?\s*$"
PARTITION = r"^[A-Za-z0-9_.-]+$"

FIELD_DOCS = {
    "name": "The item's name (its directory name under the namespace).",
    "version": "The item's version (its directory name under the item).",
    "author": "Who wrote the item (passed through).",
    "authorEmail": "The author's address (passed through).",
    "account": "Mantik's account field (passed through).",
    "kind": "dataset | algorithm | trainable | deployment (absent: algorithm).",
    "bridge": "Mantik's bridge; mfile runs the payload in the execution container instead (passed through).",
    "trainedBridge": "Mantik's bridge of the trained item (passed through).",
    "metaVariables": "Parameters: each {name, type, value[, fix]}; set per task with configure(params={...}) and used in types as \"${name}\".",
    "type": "dataset: the data type it produces; algorithm/trainable/deployment: {input: <type>, output: <type>}.",
    "trainingType": "trainable: the data type it trains on.",
    "statType": "trainable: the data type of its training statistics (absent: void).",
    "execution": "mfile's HPC extension: how a task of this item runs on Slurm (overridable with configure(resources={...})).",
}
RESOURCE_DOCS = {
    "container": "Apptainer image: relative to the item directory, absolute, or \"none\".",
    "parallel": "none (default) | data: MPI ranks, the input split along samples.",
    "nodes": "Nodes for one task.",
    "tasks": "srun tasks in total (MPI ranks / DDP processes).",
    "cpus_per_task": "CPUs per srun task, counted as the site's Slurm counts them.",
    "gpus": "GPUs per node (not in total).",
    "memory": "Memory per node: 64G, 512M, 1T; a bare number is MB (Slurm's unit).",
    "time": "Walltime: \"[D-]HH:MM:SS\" (quote it: YAML 1.1 reads 02:00:00 as a number) or minutes.",
    "partition": "A Slurm partition; normally left to the site profile.",
    "environment": "apptainer (the profile's image) | modules (its module stack and venv); default: the profile's.",
    "device": "cpu: run on CPU although gpus are asked for; otherwise a task with gpus and no CUDA device fails.",
    "env": "Variables every rank gets, over the profile's [env] (names Slurm or mfile set are refused).",
    "requeue": "Let Slurm requeue the job after a node failure.",
    "sbatch_extra": "Extra sbatch options, each starting with '-'.",
}
_INTEGERS = {"int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"}
_JSON_TYPE = {"float32": "number", "float64": "number", "bool": "boolean", "string": "string"}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/definitions/{name}"}


def _or_variable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, _ref("variable")]}


def _type_mapping() -> dict[str, Any]:
    """``{type: <name>, ...}`` and ``{columns: ...}``: the fields each form needs, by its tag."""
    forms: dict[str, dict[str, Any]] = {
        "tabular": {"properties": {"columns": _ref("columns"), "rowCount": _or_variable({"type": ["integer", "null"]})}},
        "tensor": {
            "required": ["shape", "componentType"],
            "properties": {"shape": _ref("shape"), "componentType": _ref("componentType")},
        },
        "image": {
            "required": ["width", "height", "components"],
            "properties": {
                "width": _ref("dimension"),
                "height": _ref("dimension"),
                "components": {
                    "type": "object",
                    "minProperties": 1,
                    "propertyNames": {"enum": list(IMAGE_CHANNELS)},
                    "additionalProperties": {
                        "type": "object",
                        "required": ["componentType"],
                        "properties": {"componentType": _ref("componentType")},
                    },
                },
                "format": {"enum": list(IMAGE_FORMATS)},
            },
        },
        "nullable": {"required": ["underlying"], "properties": {"underlying": _ref("dataType")}},
        "array": {"required": ["underlying"], "properties": {"underlying": _ref("dataType")}},
        "struct": {"required": ["fields"], "properties": {"fields": _ref("columns")}},
    }
    assert set(forms) == set(TYPE_NAMES) and all(
        set(form.get("properties", {})) | {"type"} == set(TYPE_FIELDS[name]) for name, form in forms.items()
    ), "types.py's type forms changed: update the schema"
    rules: list[dict[str, Any]] = [
        {  # without a tag, a mapping is a table
            "if": {"not": {"required": ["type"]}},
            "then": {"required": ["columns"], "properties": {"columns": _ref("columns")}},
        },
        {
            "if": {"required": ["columns"], "not": {"required": ["type"]}},
            "then": forms["tabular"],
        },
    ]
    for name, form in forms.items():
        rules.append({"if": {"required": ["type"], "properties": {"type": {"const": name}}}, "then": form})
    return {
        "type": "object",
        "description": "A type mapping: {columns: {...}} (a table), or {type: tensor|image|nullable|array|struct|<scalar>, ...}. "
        "Unknown fields are warned about by mfile (E324) and ignored.",
        "properties": {"type": {"enum": [*TYPE_NAMES, *FUNDAMENTALS]}},
        "allOf": rules,
    }


def _meta_variable() -> dict[str, Any]:
    rules = []
    for name in FUNDAMENTALS:
        if name == "void":
            continue
        value: dict[str, Any] = {"type": "integer"} if name in _INTEGERS else {"type": _JSON_TYPE[name]}
        if name.startswith("uint"):
            value["minimum"] = 0
        rules.append({"if": {"properties": {"type": {"const": name}}}, "then": {"properties": {"value": value}}})
    return {
        "type": "object",
        "description": "A parameter of the item: set per task with configure(params={name: value}).",
        "required": ["name", "type", "value"],
        "properties": {
            "name": {"type": "string", "minLength": 1},
            "type": {
                "description": "A scalar type name, or an array, nullable or tensor of them.",
                "anyOf": [{"enum": [f for f in FUNDAMENTALS if f != "void"]}, _ref("typeMapping")],
            },
            "value": {"description": "Its default value, of its type."},
            "fix": {"type": "boolean", "description": "true: configure(params=...) may not change it."},
        },
        "allOf": rules,
    }


def _execution() -> dict[str, Any]:
    count = {"type": "integer", "minimum": 1}
    properties: dict[str, dict[str, Any]] = {
        "container": {"type": "string", "minLength": 1},
        "parallel": {"enum": ["none", "data", None, False]},
        "nodes": dict(count),
        "tasks": dict(count),
        "cpus_per_task": dict(count),
        "gpus": {"type": "integer", "minimum": 0},
        "memory": {"anyOf": [{"type": "integer", "minimum": 1}, {"type": "string", "pattern": MEMORY}]},
        # An integer also stands for YAML 1.1's reading of an unquoted 02:00:00 (7200), which
        # mfile reads back as the time written.
        "time": {"anyOf": [{"type": "integer", "minimum": 1}, {"type": "string", "pattern": TIME}]},
        "partition": {"type": "string", "pattern": PARTITION},
        "environment": {"enum": ["apptainer", "modules"]},
        "device": {"enum": ["cpu"]},
        "env": {
            "type": "object",
            "propertyNames": {"pattern": "^[A-Za-z_][A-Za-z0-9_]*$"},
            "additionalProperties": {"type": ["string", "number"]},
        },
        "requeue": {"type": "boolean"},
        "sbatch_extra": {"type": "array", "items": {"type": "string", "pattern": "^-"}},
    }
    assert tuple(properties) == RESOURCE_KEYS, "execution.py's resource keys changed: update the schema"
    for key, schema in properties.items():
        schema["description"] = RESOURCE_DOCS[key]
    return {
        "type": "object",
        "description": FIELD_DOCS["execution"],
        "properties": properties,
        "additionalProperties": False,
    }


def header_schema() -> dict[str, Any]:
    """The JSON Schema of a MantikHeader, as plain data (``json.dumps`` it)."""
    scalar = {"type": ["string", "number"]}
    properties: dict[str, Any] = {
        "name": {"type": "string"},
        "version": dict(scalar),
        "author": {"type": "string"},
        "authorEmail": {"type": "string"},
        "account": {"type": "string"},
        "kind": {"enum": list(KINDS)},
        "bridge": {"type": "string"},
        "trainedBridge": {"type": "string"},
        "metaVariables": {"type": ["array", "null"], "items": _ref("metaVariable")},
        "type": {},  # by kind, below
        "trainingType": _ref("dataType"),
        "statType": _ref("dataType"),
        "execution": _ref("execution"),
    }
    assert tuple(properties) == KNOWN_FIELDS, "loader.py's KNOWN_FIELDS changed: update the schema"
    for key, schema in properties.items():
        schema["description"] = FIELD_DOCS[key]
    properties["kind"]["description"] += " Mantik's " + ", ".join(MANTIK_KINDS) + " kinds have mfile replacements (E309)."
    function = {"if": {"anyOf": [{"not": {"required": ["kind"]}}, {"properties": {"kind": {"enum": ["algorithm", "trainable", "deployment"]}}}]},
                "then": {"properties": {"type": _ref("functionType")}}}  # fmt: skip
    return {
        "$schema": DRAFT,
        "title": "MantikHeader",
        "description": f"An item's header for mfile {__version__} (Mantik's format plus the execution section). "
        "Validated in full by `mfile check`; this schema is for editors.",
        "type": "object",
        "properties": properties,
        "additionalProperties": True,  # passed through to the payload (files, options, ...)
        "allOf": [
            function,
            {"if": {"properties": {"kind": {"const": "dataset"}}, "required": ["kind"]},
             "then": {"required": ["type"], "properties": {"type": _ref("dataType")}}},
            {"if": {"anyOf": [{"not": {"required": ["kind"]}}, {"properties": {"kind": {"const": "algorithm"}}}]},
             "then": {"required": ["type"]}},
            {"if": {"properties": {"kind": {"const": "trainable"}}, "required": ["kind"]},
             "then": {"required": ["type", "trainingType"]}},
        ],  # fmt: skip
        "definitions": {
            "variable": {
                "type": "string",
                "pattern": VARIABLE,
                "description": "A metaVariable reference, replaced by the variable's value before the type is read.",
            },
            "scalarType": {"enum": list(FUNDAMENTALS)},
            "componentType": _or_variable({"enum": [f for f in FUNDAMENTALS if f != "void"]}),
            "dimension": _or_variable({"type": ["integer", "null"], "minimum": 0}),
            "shape": _or_variable({"type": "array", "items": _ref("dimension")}),
            "columns": {"type": "object", "additionalProperties": _ref("dataType")},
            "typeMapping": _type_mapping(),
            "dataType": {"anyOf": [_ref("scalarType"), _ref("variable"), _ref("typeMapping")]},
            "functionType": {
                "type": "object",
                "required": ["input", "output"],
                "properties": {"input": _ref("dataType"), "output": _ref("dataType")},
            },
            "metaVariable": _meta_variable(),
            "execution": _execution(),
        },
    }


SCHEMAS = {"header": header_schema}
