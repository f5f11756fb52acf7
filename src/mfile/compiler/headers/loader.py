"""MantikHeaders: load, validate and resolve (metaVariable substitution + types).

``load_header`` reads one header (safely, with positions: ``yamlnodes``), validates the
fields mfile uses and checks that the types parse with the metaVariables' own values.
``Header.resolve`` applies an M-File's ``configure(params=...)`` and returns the types of
the item's ports. Fields mfile does not know pass through untouched in ``Header.raw`` (the
runtime hands them to the payload); near misses of known fields get a warning.

Kinds: dataset | algorithm | trainable | deployment (absent: algorithm). Mantik's
``combiner``, ``pipeline`` and ``bridge`` kinds are refused with the mfile replacement.

Diagnostic codes (classes in ``messages.py``; W = warning):

    E300  cannot read the header (missing, over 1 MiB, not UTF-8)
    E301  invalid YAML (syntax, several documents, undefined alias, merge keys)
    E302  a YAML tag other than the standard ones (!!python/object, !custom, ...)
    E303  limits: more than 100,000 nodes counting alias expansions, or nesting > 100
    E304  duplicate key in a mapping (also after substituting a key)
    E305  a mapping key that is a list or mapping
    E306  the document is not a mapping of fields
    E307  a field has the wrong YAML type (name not a string, metaVariables not a list, ...)
    E308  unknown kind
    E309  Mantik-only kind (combiner, pipeline, bridge) with its mfile replacement
    E310  W unknown top-level field close to a known one (did you mean)
    E311  a required field is missing (type, trainingType, metaVariable name/type/value)
    E312  a data type does not parse (unknown type name, missing shape, bad channel, ...)
    E313  a bad shape entry (not an int >= 0, null or "${var}")
    E314  undefined "${var}"
    E315  a metaVariable's type is not allowed or its value does not match its type
    E316  a metaVariable defined twice
    E317  configure(params=...) names no metaVariable of the item (did you mean)
    E318  configure(params=...) sets a metaVariable declared fix: true
    E319  configure(params=...) value has the wrong type for the metaVariable
    E320  a param value makes the header's type invalid (e.g. componentType "${dtype}")
    E321  unknown resource key in execution: / configure(resources=...)
    E322  bad resource value (time, memory, counts, partition, sbatch_extra)
    E323  W "${var}" inside a longer string is not substituted
    E324  W unknown field inside a type mapping (ignored)
    E325  W a field that the item's kind does not use (e.g. trainingType on an algorithm)
    E326  a mapping key "${var}" whose value is not a name
    E330  invalid item name (.., absolute path, characters outside [A-Za-z0-9._-])
    E331  item name with a documentation placeholder such as <user>
    E332  an --items root that does not exist or is not a directory
    E333  W a $MFILE_ITEMS_PATH root that does not exist (skipped)
    E334  unknown item (did you mean)
    E335  unknown version of a known item
    E336  item directory is a symlink out of its root
    E337  W header name/version differs from its directory
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from mfile.compiler.headers import messages as header_messages
from mfile.compiler.headers.execution import resources_from_mapping, resources_from_node
from mfile.compiler.headers.types import parse_type, suggestion
from mfile.compiler.headers.values import (
    METAVARIABLE_TYPES,
    check_value,
    coerce,
    substitute,
    valid_metavariable_type,
)
from mfile.compiler.headers.yamlnodes import YNode, load_yaml
from mfile.diagnostics import Reporter, Severity, Span, closest
from mfile.plan.ir import Resources
from mfile.plan.types import VOID, DataType

__all__ = ["Header", "MetaVariable", "ResolvedHeader", "check_value", "load_header", "resources_from_mapping", "KNOWN_FIELDS"]

Kind = Literal["dataset", "algorithm", "trainable", "deployment"]
KINDS = ("dataset", "algorithm", "trainable", "deployment")
MANTIK_KINDS = {
    "combiner": "mfile has no combiner items: use the builtins join(...) and train_test_split(...) in the M-File",
    "pipeline": "write the pipeline in the M-File with MantikPipeline(stages={...}) instead of a pipeline item",
    "bridge": "a bridge is not an item in mfile: set execution: container (and parallel, gpus, ...) in the item's header",
}
TYPE_FIELDS = {"type", "trainingType", "statType"}
# Fields mfile reads, plus Mantik's common metadata (never warned about).
KNOWN_FIELDS = (
    "name", "version", "author", "authorEmail", "account", "kind", "bridge", "trainedBridge",
    "metaVariables", "type", "trainingType", "statType", "execution",
)  # fmt: skip
_STRING_FIELDS = ("name", "version", "author", "bridge", "trainedBridge")


@dataclass(frozen=True)
class MetaVariable:
    name: str
    type: DataType
    value: Any
    fix: bool
    span: Span
    value_span: Span


@dataclass(frozen=True)
class ResolvedHeader:
    params: dict[str, Any]
    dataset_type: DataType | None = None
    input: DataType | None = None
    output: DataType | None = None
    training: DataType | None = None
    stats: DataType | None = None
    # The whole header after substitution (plain data), for display and payloads.
    header: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)  # identity: one object per loaded file
class Header:
    path: Path
    sha256: str
    name: str | None
    version: str | None
    author: str | None
    kind: Kind
    bridge: str | None
    trained_bridge: str | None
    meta_variables: tuple[MetaVariable, ...]
    execution: Resources
    raw: dict[str, Any]
    # Un-substituted YAML of the whole header (type nodes live under type/trainingType/statType).
    root: YNode = field(repr=False)
    type_node: YNode | None = field(default=None, repr=False)
    training_type_node: YNode | None = field(default=None, repr=False)
    stat_type_node: YNode | None = field(default=None, repr=False)
    text: str = field(default="", repr=False)

    @property
    def display_name(self) -> str:
        """``ns/name:version`` from the item directory layout, else the header's name."""
        parts = self.path.parts
        if self.path.name == "MantikHeader" and len(parts) >= 4:
            return f"{parts[-4]}/{parts[-3]}:{parts[-2]}"
        return self.name or self.path.name

    def meta_variable(self, name: str) -> MetaVariable | None:
        for mv in self.meta_variables:
            if mv.name == name:
                return mv
        return None

    def defaults(self) -> dict[str, Any]:
        return {mv.name: mv.value for mv in self.meta_variables}

    def resolve(self, overrides: dict[str, tuple[Any, Span]], reporter: Reporter, at: Span) -> ResolvedHeader | None:
        """Types of the item's ports with ``overrides`` (param -> (value, M-File span)) applied.

        Problems with a param are reported at its span; ``at`` (the task in the M-File) is
        where a type error that no single param explains is reported.
        """
        item = self.display_name
        params = self.defaults()
        ok = True
        for name, (value, span) in overrides.items():
            mv = self.meta_variable(name)
            if mv is None:
                ok = False
                known = [m.name for m in self.meta_variables]
                fallback = "its metaVariables: " + ", ".join(known) if known else "it has no metaVariables"
                reporter.report(header_messages.UnknownParam, span, item=item, name=name, suggestion=suggestion(name, known, fallback))
                continue
            if mv.fix:
                ok = False
                where = f"{mv.span.file}:{mv.span.line}"
                reporter.report(header_messages.FixedParam, span, name=name, item=item, where=where, value=mv.value)
                continue
            why = check_value(value, mv.type)
            if why:
                ok = False
                reporter.report(header_messages.ParamType, span, name=name, item=item, reason=why, type=str(mv.type))
                continue
            params[name] = coerce(value, mv.type)
        if not ok:
            return None
        scratch = Reporter()
        result, used = _resolve_types(self, params, scratch)
        for report in scratch.reports:
            if report.severity.value != "error":
                continue  # warnings were reported when the header was loaded
            var = used.get(report.span)
            where = f"{report.span.file}:{report.span.line}:{report.span.column}"
            if var in overrides:
                value, span = overrides[var]
                reporter.report(header_messages.ParamBreaksType, span, name=var, value=value, reason=report.message, where=where)
            else:  # not traceable to one param (the defaults load fine): point at the configure call
                names = ", ".join(overrides) or "(none)"
                reporter.report(header_messages.ParamBreaksType, at, name=names, value="...", reason=report.message, where=where)
        return None if scratch.has_errors else result


def _substitutable(root: YNode) -> YNode:
    """The header without metaVariables and execution (never substituted)."""
    pairs = tuple((k, v) for k, v in root.items() if k.value not in ("metaVariables", "execution"))
    return YNode("map", root.span, pairs, size=root.size)


def _resolve_types(
    header: Header, params: dict[str, Any], reporter: Reporter, warn: bool = False
) -> tuple[ResolvedHeader | None, dict[Span, str]]:
    """The port types with ``params``, and which variable each substituted span came from."""
    body, sub = substitute(_substitutable(header.root), params, reporter, warn_embedded=warn)
    if not sub.ok:
        return None, sub.used
    types: dict[str, DataType | None] = {}
    ok = True
    kind = header.kind
    if kind == "dataset":
        node = body.get("type")
        types["dataset_type"] = parse_type(node, reporter) if node is not None else None
        ok = types["dataset_type"] is not None
    elif kind in ("algorithm", "trainable") or (kind == "deployment" and body.get("type") is not None):
        io = _input_output(body.get("type"), reporter)
        ok = io is not None
        if io is not None:
            types["input"], types["output"] = io
    if kind == "trainable":
        training = body.get("trainingType")
        types["training"] = parse_type(training, reporter) if training is not None else None
        stats = body.get("statType")
        types["stats"] = parse_type(stats, reporter) if stats is not None else VOID
        ok = ok and types["training"] is not None and types["stats"] is not None
    if not ok:
        return None, sub.used
    plain = {**body.to_plain()}
    for key in ("metaVariables", "execution"):
        if key in header.raw:
            plain[key] = header.raw[key]
    return ResolvedHeader(params=params, header=plain, **types), sub.used  # type: ignore[arg-type]


def _input_output(node: YNode | None, reporter: Reporter) -> tuple[DataType, DataType] | None:
    if node is None:  # reported by the field checks at load time
        return None
    if node.kind != "map" or node.get("input") is None or node.get("output") is None:
        reporter.report(header_messages.BadDataType, node.span, reason="this kind's 'type' is {input: <type>, output: <type>}")
        return None
    for key, _ in node.items():
        if key.value not in ("input", "output"):
            reporter.report(header_messages.UnknownTypeField, key.span, field=key.value, what="function", suggestion="a function type has input and output")
    inp = parse_type(node.get("input"), reporter)  # type: ignore[arg-type]
    out = parse_type(node.get("output"), reporter)  # type: ignore[arg-type]
    return None if inp is None or out is None else (inp, out)


# --------------------------------------------------------------------------- loading


def load_header(path: Path, reporter: Reporter) -> Header | None:
    """Load and validate the header at ``path``; None if it has errors (all reported)."""
    before = _errors(reporter)
    loaded = load_yaml(path, reporter)
    if loaded is None:
        return None
    root = loaded.root
    if root.kind != "map":
        reporter.report(header_messages.HeaderNotMapping, root.span, got=root.type_name)
        return None
    _check_top_level(root, reporter)
    strings = {f: _string_field(root, f, reporter) for f in _STRING_FIELDS}
    kind = _kind(root, reporter)
    meta = _meta_variables(root.get("metaVariables"), reporter)
    execution = resources_from_node(root.get("execution"), reporter)
    if kind is None or meta is None or execution is None or _errors(reporter) > before:
        return None
    _check_kind_fields(root, kind, reporter)
    header = Header(
        path=path, sha256=loaded.sha256, name=strings["name"], version=strings["version"],
        author=strings["author"], kind=kind, bridge=strings["bridge"],
        trained_bridge=strings["trainedBridge"] or strings["bridge"], meta_variables=meta,
        execution=execution, raw=root.to_plain(), root=root, type_node=root.get("type"),
        training_type_node=root.get("trainingType"), stat_type_node=root.get("statType"),
        text=loaded.text,
    )  # fmt: skip
    if _resolve_types(header, header.defaults(), reporter, warn=True)[0] is None or _errors(reporter) > before:
        return None
    return header


def _errors(reporter: Reporter) -> int:
    return sum(1 for r in reporter.reports if r.severity is Severity.ERROR)


def _check_top_level(root: YNode, reporter: Reporter) -> None:
    for key, _ in root.items():
        if key.value in KNOWN_FIELDS:
            continue
        best = closest(key.value, KNOWN_FIELDS, cutoff=0.8)
        if best is not None:
            reporter.report(header_messages.FieldNearMiss, key.span, field=key.value, suggestion=best)


def _string_field(root: YNode, name: str, reporter: Reporter) -> str | None:
    node = root.get(name)
    if node is None or node.value is None and node.kind == "scalar":
        return None
    if node.kind != "scalar":
        reporter.report(header_messages.FieldType, node.span, field=name, expected="a string", got=node.type_name)
        return None
    # version: 1.10 is text "1.10", not the float 1.1.
    return node.value if isinstance(node.value, str) else node.text


def _kind(root: YNode, reporter: Reporter) -> Kind | None:
    node = root.get("kind")
    if node is None:
        return "algorithm"
    if node.kind != "scalar" or not isinstance(node.value, str):
        reporter.report(header_messages.FieldType, node.span, field="kind", expected="a string", got=node.type_name)
        return None
    if node.value in KINDS:
        return node.value  # type: ignore[return-value]
    if node.value in MANTIK_KINDS:
        reporter.report(header_messages.MantikOnlyKind, node.span, value=node.value, replacement=MANTIK_KINDS[node.value])
        return None
    best = closest(node.value, KINDS)
    reporter.report(header_messages.UnknownKind, node.span, value=node.value, **({"hint": f"did you mean {best!r}?"} if best else {}))
    return None


def _check_kind_fields(root: YNode, kind: Kind, reporter: Reporter) -> None:
    needed = {"dataset": ("type",), "algorithm": ("type",), "trainable": ("type", "trainingType"), "deployment": ()}
    for name in needed[kind]:
        if root.get(name) is None:
            reporter.report(header_messages.MissingField, root.key_node("kind").span if root.key_node("kind") else root.span,  # type: ignore[union-attr]
                            what=f"a {kind} item", field=name)  # fmt: skip
    if kind != "trainable":
        for name in ("trainingType", "statType"):
            key = root.key_node(name)
            if key is not None:
                hint = "add kind: trainable if this item is trained" if root.get("kind") is None else "remove it"
                reporter.report(header_messages.KindFieldIgnored, key.span, field=name, item_kind=kind, suggestion=hint)


def _meta_variables(node: YNode | None, reporter: Reporter) -> tuple[MetaVariable, ...] | None:
    if node is None or node.kind == "scalar" and node.value is None:
        return ()
    if node.kind != "seq":
        reporter.report(header_messages.FieldType, node.span, field="metaVariables", expected="a list of {name, type, value}", got=node.type_name)
        return None
    out: list[MetaVariable] = []
    ok = True
    for entry in node.value:
        mv = _meta_variable(entry, reporter)
        if mv is None:
            ok = False
            continue
        first = next((m for m in out if m.name == mv.name), None)
        if first is not None:
            ok = False
            reporter.report(header_messages.DuplicateMetaVariable, mv.span, name=mv.name, line=first.span.line)
            continue
        out.append(mv)
    return tuple(out) if ok else None


def _meta_variable(entry: YNode, reporter: Reporter) -> MetaVariable | None:
    if entry.kind != "map":
        reporter.report(header_messages.FieldType, entry.span, field="a metaVariables entry", expected="a mapping {name, type, value}", got=entry.type_name)
        return None
    for field_name in ("name", "type", "value"):
        if entry.key_node(field_name) is None:
            reporter.report(header_messages.MissingField, entry.span, what="a metaVariable", field=field_name)
            return None
    name_node, type_node, value_node = entry.get("name"), entry.get("type"), entry.get("value")
    assert name_node is not None and type_node is not None and value_node is not None
    if name_node.kind != "scalar" or not isinstance(name_node.value, str) or not name_node.value:
        reporter.report(header_messages.FieldType, name_node.span, field="a metaVariable's name", expected="a string", got=name_node.type_name)
        return None
    name = name_node.value
    datatype = parse_type(type_node, reporter)
    if datatype is None:
        return None
    if not valid_metavariable_type(datatype):
        reporter.report(header_messages.BadMetaVariable, type_node.span, name=name, reason=f"type {datatype} is not allowed; use {METAVARIABLE_TYPES}")
        return None
    fix_node = entry.get("fix")
    if fix_node is not None and not isinstance(fix_node.value, bool):
        reporter.report(header_messages.FieldType, fix_node.span, field="fix", expected="true or false", got=fix_node.type_name)
        return None
    value = value_node.to_plain()
    why = check_value(value, datatype)
    if why:
        reporter.report(header_messages.BadMetaVariable, value_node.span, name=name, reason=f"value {value!r} does not match its type {datatype}: {why}")
        return None
    return MetaVariable(
        name=name, type=datatype, value=coerce(value, datatype), fix=bool(fix_node and fix_node.value),
        span=entry.span, value_span=value_node.span,
    )  # fmt: skip
