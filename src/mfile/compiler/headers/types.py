"""MantikHeader data types (YAML, after metaVariable substitution) → ``types.DataType``.

Accepted forms (the Mantik engine's, plus ``null`` shape entries):

* a fundamental name: ``int8 ... uint64 float32 float64 bool string void``
  (also ``{type: float32}``);
* tabular: ``{columns: {name: type, ...}}`` with optional ``type: tabular`` (and Mantik's
  optional ``rowCount``); column order is kept;
* ``{type: tensor, shape: [...], componentType: T}``; shape entries are ints >= 0 or null;
* ``{type: image, width, height, components: {black|red|green|blue: {componentType}}, format}``
  typed as a tensor [height, width, n_components], or [height, width] for one component;
* ``{type: nullable, underlying: T}``, ``{type: array, underlying: T}``,
  ``{type: struct, fields: {name: type, ...}}``.

Unknown fields inside a type are warned about (E324) and ignored, so headers written for
newer Mantik versions still load.
"""

from __future__ import annotations

from typing import Any

from mfile.compiler.headers.messages import BadDataType, BadShape, UnknownTypeField
from mfile.compiler.headers.yamlnodes import YNode
from mfile.diagnostics import Reporter, closest
from mfile.plan.types import (
    FUNDAMENTALS,
    Array,
    Column,
    DataType,
    Fundamental,
    Nullable,
    Struct,
    Tabular,
    Tensor,
)

IMAGE_CHANNELS = ("black", "red", "green", "blue")
IMAGE_FORMATS = ("plain", "png", "jpeg")
TYPE_NAMES = ("tabular", "tensor", "image", "nullable", "array", "struct")
TYPE_FIELDS = {
    "tabular": ("type", "columns", "rowCount"),
    "tensor": ("type", "shape", "componentType"),
    "image": ("type", "width", "height", "components", "format"),
    "nullable": ("type", "underlying"),
    "array": ("type", "underlying"),
    "struct": ("type", "fields"),
}


def suggestion(word: str, choices: Any, fallback: str = "") -> str:
    best = closest(word, choices)
    return f"did you mean {best!r}?" if best else fallback


class TypeParser:
    """Parses type nodes, reporting every problem at its node; returns None on error."""

    def __init__(self, reporter: Reporter) -> None:
        self.reporter = reporter

    def parse(self, node: YNode) -> DataType | None:
        if node.kind == "scalar":
            return self.fundamental(node)
        if node.kind == "seq":
            return self.fail(node, "expected a type name or a mapping, got a list")
        tag = node.get("type")
        if tag is None:
            if node.get("columns") is not None:
                return self.tabular(node)
            return self.fail(node, "a type mapping needs 'columns:' (a table) or 'type:' (tensor, image, ...)")
        if tag.kind != "scalar" or not isinstance(tag.value, str):
            return self.fail(tag, f"'type' must be a type name, got {tag.type_name}")
        name = tag.value
        if name in FUNDAMENTALS:
            self.unknown_fields(node, ("type",), name)
            return Fundamental(name=name)  # type: ignore[arg-type]
        handler = getattr(self, name, None) if name in TYPE_NAMES else None
        if handler is None:
            best = closest(name, TYPE_NAMES + FUNDAMENTALS)
            extra = f"; did you mean {best!r}?" if best else f" (known: {', '.join(TYPE_NAMES)})"
            return self.fail(tag, f"unknown type {name!r}{extra}")
        result: DataType | None = handler(node)
        return result

    # ------------------------------------------------------------------ forms

    def fundamental(self, node: YNode) -> DataType | None:
        if not isinstance(node.value, str):
            return self.fail(node, f"expected a type name, got {node.type_name} {node.text!r}")
        if node.value in FUNDAMENTALS:
            return Fundamental(name=node.value)  # type: ignore[arg-type]
        if node.value in TYPE_NAMES:
            return self.fail(node, f"{node.value!r} needs a mapping: {{type: {node.value}, ...}}")
        best = closest(node.value, FUNDAMENTALS)
        extra = f"; did you mean {best!r}?" if best else ""
        return self.fail(node, f"unknown type {node.value!r}{extra}")

    def tabular(self, node: YNode) -> DataType | None:
        self.unknown_fields(node, TYPE_FIELDS["tabular"], "tabular")
        columns = self.named_types(node, "columns")
        return None if columns is None else Tabular(columns=columns)

    def struct(self, node: YNode) -> DataType | None:
        self.unknown_fields(node, TYPE_FIELDS["struct"], "struct")
        fields = self.named_types(node, "fields")
        return None if fields is None else Struct(fields=fields)

    def named_types(self, node: YNode, field: str) -> tuple[Column, ...] | None:
        body = node.get(field)
        if body is None:
            return self.fail(node, f"missing {field!r}")
        if body.kind != "map":
            return self.fail(body, f"{field!r} must map names to types, got {body.type_name}")
        out: list[Column] = []
        ok = True
        for key, value in body.items():
            parsed = self.parse(value)
            if parsed is None:
                ok = False
            else:
                out.append(Column(name=key.value, type=parsed))
        return tuple(out) if ok else None

    def tensor(self, node: YNode) -> DataType | None:
        self.unknown_fields(node, TYPE_FIELDS["tensor"], "tensor")
        component = self.component(node, "tensor")
        shape_node = node.get("shape")
        if shape_node is None:
            return self.fail(node, "a tensor needs 'shape' (a list; [] for a scalar)")
        if shape_node.kind != "seq":
            return self.fail(shape_node, f"'shape' must be a list, got {shape_node.type_name}")
        dims = [self.dimension(entry) for entry in shape_node.value]
        if component is None or any(d is False for d in dims):
            return None
        return Tensor(shape=tuple(dims), component=component)  # type: ignore[arg-type]

    def image(self, node: YNode) -> DataType | None:
        self.unknown_fields(node, TYPE_FIELDS["image"], "image")
        ok = True
        dims: list[int | None] = []
        for field in ("height", "width"):
            entry = node.get(field)
            if entry is None:
                ok = bool(self.fail(node, f"an image needs {field!r}"))
                continue
            dim = self.dimension(entry)
            if dim is False:
                ok = False
            else:
                dims.append(dim)  # type: ignore[arg-type]
        components = node.get("components")
        component_types: list[str] = []
        if components is None or components.kind != "map" or not components.value:
            got = "nothing" if components is None else components.type_name
            self.fail(components or node, f"an image needs 'components' (e.g. {{black: {{componentType: uint8}}}}), got {got}")
            ok = False
        else:
            for key, value in components.items():
                if key.value not in IMAGE_CHANNELS:
                    best = closest(key.value, IMAGE_CHANNELS)
                    self.fail(key, f"unknown image channel {key.value!r}" + (f"; did you mean {best!r}?" if best else f" (known: {', '.join(IMAGE_CHANNELS)})"))
                    ok = False
                    continue
                if value.kind != "map":
                    self.fail(value, f"channel {key.value!r} needs {{componentType: ...}}, got {value.type_name}")
                    ok = False
                    continue
                self.unknown_fields(value, ("componentType",), "image channel")
                comp = self.component(value, "image channel")
                if comp is None:
                    ok = False
                else:
                    component_types.append(comp)
        fmt = node.get("format")
        if fmt is not None and (fmt.kind != "scalar" or fmt.value not in IMAGE_FORMATS):
            self.fail(fmt, f"image format must be one of {', '.join(IMAGE_FORMATS)}, got {fmt.text or fmt.type_name}")
            ok = False
        if ok and len(set(component_types)) > 1:
            return self.fail(components, f"image channels with different component types ({', '.join(component_types)}) cannot be one tensor")  # type: ignore[arg-type]
        if not ok:
            return None
        shape = tuple(dims) + ((len(component_types),) if len(component_types) > 1 else ())
        return Tensor(shape=shape, component=component_types[0])  # type: ignore[arg-type]

    def nullable(self, node: YNode) -> DataType | None:
        self.unknown_fields(node, TYPE_FIELDS["nullable"], "nullable")
        inner = self.underlying(node)
        return None if inner is None else Nullable(underlying=inner)

    def array(self, node: YNode) -> DataType | None:
        self.unknown_fields(node, TYPE_FIELDS["array"], "array")
        inner = self.underlying(node)
        return None if inner is None else Array(underlying=inner)

    # ------------------------------------------------------------------ parts

    def underlying(self, node: YNode) -> DataType | None:
        inner = node.get("underlying")
        if inner is None:
            return self.fail(node, "missing 'underlying' (the element type)")
        return self.parse(inner)

    def component(self, node: YNode, what: str) -> str | None:
        comp = node.get("componentType")
        if comp is None:
            return self.fail(node, f"a {what} needs 'componentType' (e.g. float32)")
        if comp.kind != "scalar" or comp.value not in FUNDAMENTALS or comp.value == "void":
            best = closest(str(comp.value), FUNDAMENTALS) if comp.kind == "scalar" else None
            extra = f"; did you mean {best!r}?" if best and best != "void" else ""
            return self.fail(comp, f"componentType must be a scalar type name other than void, got {comp.text or comp.type_name!r}{extra}")
        return str(comp.value)

    def dimension(self, entry: YNode) -> int | None | bool:
        """An int, None for any size, or False after reporting a bad entry."""
        if entry.kind == "scalar" and entry.value is None:
            return None
        if entry.kind == "scalar" and type(entry.value) is int and entry.value >= 0:
            return int(entry.value)
        got = repr(entry.value) if entry.kind == "scalar" else entry.type_name
        if entry.var:
            got += f" (from metaVariable {entry.var!r})"
        self.reporter.report(BadShape, entry.span, got=got)
        return False

    def unknown_fields(self, node: YNode, known: tuple[str, ...], what: str) -> None:
        present = set(node.keys())
        for key, _ in node.items():
            if key.value not in known:
                best = closest(key.value, [k for k in known if k not in present])
                self.reporter.report(
                    UnknownTypeField, key.span, field=key.value, what=what,
                    suggestion=f"did you mean {best!r}?" if best else f"{what} fields: {', '.join(known)}",
                )  # fmt: skip

    def fail(self, node: YNode, reason: str) -> None:
        if node.var:
            reason += f" (after substituting metaVariable {node.var!r})"
        self.reporter.report(BadDataType, node.span, reason=reason)
        return None


def parse_type(node: YNode, reporter: Reporter) -> DataType | None:
    return TypeParser(reporter).parse(node)
