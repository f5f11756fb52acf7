"""Safe YAML loading for MantikHeaders, keeping the position of every node.

We compose the document ourselves from PyYAML's event stream (libyaml when available)
instead of calling ``yaml.safe_load``, for three reasons:

* every value keeps its ``Span`` in the header file, so header diagnostics point at a
  line and column instead of dumping a pydantic error;
* only the standard tags are accepted (``!!str``, ``!!int``, ``!!float``, ``!!bool``,
  ``!!null``, ``!!map``, ``!!seq``; timestamps are kept as their text): ``!!python/...``
  and any other tag are refused with a diagnostic, never constructed;
* resource limits hold while composing, before anything is expanded: a header file may be
  at most ``MAX_BYTES`` (1 MiB), nest at most ``MAX_DEPTH`` (100) collections deep and
  expand to at most ``MAX_NODES`` (100,000) nodes *counting every alias expansion*; a plain
  integer is at most ``MAX_INT_CHARS`` (100) characters (sexagesimal ints cost quadratic time).
  Aliases share the already-built subtree (no copy), but their size is added to the
  count, so a "billion laughs" document stops after a few hundred events with E304.
  A self-referencing alias cannot be built (an anchor is registered only once its node
  is complete), so recursive structures are refused as undefined aliases.

PyYAML's own composer recurses once per nesting level (in C for libyaml), which is why
depth is checked on the event stream here and not left to it.
"""

from __future__ import annotations

import hashlib
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Literal

import yaml
from yaml.constructor import SafeConstructor
from yaml.resolver import Resolver

from mfile.compiler.headers.messages import (
    HeaderTooDeep,
    HeaderUnreadable,
    HeaderYamlError,
    UnsafeYamlTag,
    YamlDuplicateKey,
    YamlNonScalarKey,
)
from mfile.diagnostics import Reporter, Span

MAX_BYTES = 1024 * 1024
MAX_NODES = 100_000
MAX_DEPTH = 100
# YAML 1.1 integers: the sexagesimal form (1:0:0:...) is built by repeated multiplication, so
# its cost grows with the square of its length (a 1 MiB one took 40 s); CPython refuses
# decimal ones past 4,300 digits. No header needs an integer this long.
MAX_INT_CHARS = 100

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_TAG = "tag:yaml.org,2002:"
_SCALAR_TAGS = {f"{_TAG}{t}": t for t in ("str", "int", "float", "bool", "null", "timestamp")}
_COLLECTION_TAGS = {"seq": f"{_TAG}seq", "map": f"{_TAG}map"}
_resolver = Resolver()
_constructor = SafeConstructor()


@dataclass(frozen=True, slots=True, eq=False)
class YNode:
    """One YAML node with its position.

    ``value``: for a scalar the constructed Python value (str, int, float, bool, None);
    for a sequence a tuple of YNodes; for a mapping a tuple of (key YNode, value YNode)
    pairs in document order (keys are string scalars). ``text`` is a scalar's source text
    (``02:00:00`` stays readable even though YAML 1.1 reads it as the integer 7200).
    ``var`` is set on nodes that metaVariable substitution produced.
    """

    kind: Literal["scalar", "seq", "map"]
    span: Span
    value: Any
    text: str = ""
    tag: str = ""
    size: int = 1
    var: str | None = None

    def get(self, key: str) -> "YNode | None":
        if self.kind == "map":
            for k, v in self.value:
                if k.value == key:
                    return v
        return None

    def key_node(self, key: str) -> "YNode | None":
        if self.kind == "map":
            for k, _ in self.value:
                if k.value == key:
                    return k
        return None

    def items(self) -> Iterator[tuple["YNode", "YNode"]]:
        return iter(self.value) if self.kind == "map" else iter(())

    def keys(self) -> list[str]:
        return [k.value for k, _ in self.items()]

    def to_plain(self) -> Any:
        """Plain Python data (dicts, lists, scalars), as ``yaml.safe_load`` would give."""
        if self.kind == "scalar":
            return self.value
        if self.kind == "seq":
            return [n.to_plain() for n in self.value]
        return {k.value: v.to_plain() for k, v in self.value}

    @property
    def type_name(self) -> str:
        """What a user would call this value in an error message."""
        if self.kind == "map":
            return "a mapping"
        if self.kind == "seq":
            return "a list"
        return {"str": "a string", "int": "an integer", "float": "a number", "bool": "a boolean",
                "null": "null", "timestamp": "a date"}.get(self.tag, "a scalar")  # fmt: skip


@dataclass(frozen=True)
class LoadedYaml:
    root: YNode
    text: str
    sha256: str


def span_of(file: str, start: Any, end: Any) -> Span:
    return Span(file, start.line + 1, start.column + 1, end.line + 1, end.column + 1)


def load_yaml(path: Path, reporter: Reporter, display: str | None = None) -> LoadedYaml | None:
    """Read and compose ``path``; None (with diagnostics reported) if it is not usable."""
    file = display or str(path)
    whole = Span.whole_file(file)
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):  # a FIFO or /dev/zero would block or never end
            reporter.report(HeaderUnreadable, whole, path=file, reason="not a regular file")
            return None
        if info.st_size > MAX_BYTES:
            reporter.report(HeaderUnreadable, whole, path=file, reason=f"{info.st_size} bytes, over the limit of {MAX_BYTES}")
            return None
        with path.open("rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        reporter.report(HeaderUnreadable, whole, path=file, reason=exc.strerror or str(exc))
        return None
    if len(data) > MAX_BYTES:  # grew between stat and read
        reporter.report(HeaderUnreadable, whole, path=file, reason=f"over the limit of {MAX_BYTES} bytes")
        return None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        reporter.report(HeaderUnreadable, whole, path=file, reason=f"not UTF-8 (byte {exc.start})")
        return None
    root = compose(text, file, reporter)
    if root is None:
        return None
    return LoadedYaml(root=root, text=text, sha256=hashlib.sha256(data).hexdigest())


class _Stop(Exception):
    """Raised inside the composer once a diagnostic ends the load."""


class _Composer:
    def __init__(self, file: str, reporter: Reporter) -> None:
        self.file = file
        self.reporter = reporter
        self.anchors: dict[str, YNode] = {}
        self.nodes = 0

    def fail(self, kind: type, span: Span, **args: Any) -> "_Stop":
        self.reporter.report(kind, span, **args)
        return _Stop()

    def count(self, n: int, span: Span) -> None:
        self.nodes += n
        if self.nodes > MAX_NODES:
            raise self.fail(HeaderTooDeep, span, what=f"more than {MAX_NODES} nodes (counting alias expansions)")

    def node(self, event: Any, events: Iterator[Any], depth: int) -> YNode:
        span = span_of(self.file, event.start_mark, event.end_mark)
        if isinstance(event, yaml.AliasEvent):
            target = self.anchors.get(event.anchor)
            if target is None:
                raise self.fail(HeaderYamlError, span, reason=f"undefined alias *{event.anchor} (aliases must refer to an earlier, complete anchor)")
            self.count(target.size, span)
            return target
        if depth > MAX_DEPTH:
            raise self.fail(HeaderTooDeep, span, what=f"collections nested more than {MAX_DEPTH} deep")
        if isinstance(event, yaml.ScalarEvent):
            built = self.scalar(event, span)
        elif isinstance(event, yaml.SequenceStartEvent):
            self.check_collection_tag(event, "seq", span)
            self.count(1, span)
            children: list[YNode] = []
            size = 1
            for child in events:
                if isinstance(child, yaml.SequenceEndEvent):
                    span = Span(self.file, span.line, span.column, child.end_mark.line + 1, child.end_mark.column + 1)
                    break
                n = self.node(child, events, depth + 1)
                children.append(n)
                size += n.size
            built = YNode("seq", span, tuple(children), size=size)
        elif isinstance(event, yaml.MappingStartEvent):
            built = self.mapping(event, events, depth, span)
        else:  # pragma: no cover - the YAML parser guarantees node events here
            raise self.fail(HeaderYamlError, span, reason=f"unexpected {type(event).__name__}")
        if getattr(event, "anchor", None):
            self.anchors[event.anchor] = built
        return built

    def mapping(self, event: Any, events: Iterator[Any], depth: int, span: Span) -> YNode:
        self.check_collection_tag(event, "map", span)
        self.count(1, span)
        pairs: list[tuple[YNode, YNode]] = []
        seen: dict[str, YNode] = {}
        size = 1
        for key_event in events:
            if isinstance(key_event, yaml.MappingEndEvent):
                span = Span(self.file, span.line, span.column, key_event.end_mark.line + 1, key_event.end_mark.column + 1)
                break
            key = self.node(key_event, events, depth + 1)
            value = self.node(next(events), events, depth + 1)
            if key.kind != "scalar":
                raise self.fail(YamlNonScalarKey, key.span)
            # Keys are names: a key written 1 or true means the text "1" or "true".
            name = key.value if isinstance(key.value, str) else key.text
            key = YNode("scalar", key.span, name, text=key.text, tag="str")
            if name in seen:
                self.reporter.report(YamlDuplicateKey, key.span, key=name, line=seen[name].span.line)
                continue
            seen[name] = key
            pairs.append((key, value))
            size += 1 + value.size
        return YNode("map", span, tuple(pairs), size=size)

    def check_collection_tag(self, event: Any, kind: str, span: Span) -> None:
        if event.tag not in (None, "!", _COLLECTION_TAGS[kind]):
            raise self.fail(UnsafeYamlTag, span, tag=_short_tag(event.tag))

    def scalar(self, event: Any, span: Span) -> YNode:
        self.count(1, span)
        tag = event.tag
        if tag in (None, "!"):
            # A quoted or "!"-tagged scalar is a string; a plain one is resolved (YAML 1.1).
            tag = _resolver.resolve(yaml.ScalarNode, event.value, (event.implicit[0], False)) if tag is None else f"{_TAG}str"
            if tag is None or not event.implicit[0]:
                tag = f"{_TAG}str"
        short = _SCALAR_TAGS.get(tag)
        if tag == f"{_TAG}merge":
            raise self.fail(HeaderYamlError, span, reason="merge keys (<<) are not supported in MantikHeaders")
        if short is None:
            raise self.fail(UnsafeYamlTag, span, tag=_short_tag(tag))
        node = yaml.ScalarNode(tag, event.value)
        if short == "int" and len(event.value) > MAX_INT_CHARS:
            raise self.fail(HeaderTooDeep, span, what=f"an integer of {len(event.value):,} characters "
                                                      f"(at most {MAX_INT_CHARS}; quote it if it is text)")
        if short == "timestamp":
            value: Any = event.value  # dates stay text: JSON-serialisable, and as written
        else:
            try:
                value = _constructor.yaml_constructors[tag](_constructor, node)
            except (ValueError, yaml.YAMLError) as exc:
                raise self.fail(HeaderYamlError, span, reason=f"{event.value!r} is not a valid !!{short}: {exc}")
        return YNode("scalar", span, value, text=event.value, tag=short)


def _short_tag(tag: str) -> str:
    return "!!" + tag[len(_TAG) :] if tag.startswith(_TAG) else tag


def compose(text: str, file: str, reporter: Reporter) -> YNode | None:
    """One YAML document as a YNode tree, or None after reporting why not."""
    composer = _Composer(file, reporter)
    root: YNode | None = None
    documents = 0
    events = iter(yaml.parse(text, Loader=_Loader))
    try:
        for event in events:
            if isinstance(event, (yaml.StreamStartEvent, yaml.StreamEndEvent, yaml.DocumentEndEvent)):
                continue
            if isinstance(event, yaml.DocumentStartEvent):
                documents += 1
                if documents > 1:
                    raise composer.fail(
                        HeaderYamlError, span_of(file, event.start_mark, event.end_mark),
                        reason="a MantikHeader holds one YAML document; found a second one",
                        hint="remove this '---' and what follows, or move it to its own item",
                    )  # fmt: skip
                continue
            root = composer.node(event, events, 0)
    except _Stop:
        return None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        span = Span.point(file, mark.line + 1, mark.column + 1) if mark else Span.whole_file(file)
        reason = " ".join(str(p) for p in (exc.context, exc.problem) if p)
        reporter.report(HeaderYamlError, span, reason=reason or "invalid YAML")
        return None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        span = Span.point(file, mark.line + 1, mark.column + 1) if mark else Span.whole_file(file)
        reporter.report(HeaderYamlError, span, reason=str(exc).splitlines()[0] if str(exc) else "invalid YAML")
        return None
    if root is None:
        reporter.report(HeaderYamlError, Span.whole_file(file), reason="the file is empty")
    return root
