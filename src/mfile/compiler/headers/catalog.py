"""Item roots and item names: ``ns/name[:version]`` → a loaded header and an ``ItemRef``.

Layout: ``<root>/<namespace>/<name>/<version>/MantikHeader``, the payload beside it.
Roots, searched in this order: every ``--items DIR`` (as given), then the entries of
``$MFILE_ITEMS_PATH`` (colon-separated), then the built-in root shipped in the package
(``mfile/items``, namespace ``mfile``). Like ``$PATH``, the first root wins:

* ``ns/name:version`` is taken from the first root that has exactly that version;
* ``ns/name`` (or ``ns/name:latest`` when no version is called ``latest``) is the highest
  version in the first root that has ``ns/name`` at all; versions compare naturally
  (``v1 < v2 < v10``, ``1.2 < 1.10``) and ``ItemRef.version`` records the one chosen.

Names are checked before any path is built: each part matches ``[A-Za-z0-9._-]+``, no
``..``, no absolute paths; an item directory that is a symlink leading out of its root is
refused. The CLI's ``mfile items list`` and ``mfile items show`` live in ``mfile.commands.items``.
"""

from __future__ import annotations

import ast
import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import mfile
from mfile.compiler.headers import messages as header_messages
from mfile.compiler.headers.loader import Header, load_header
from mfile.diagnostics import Reporter, Span, closest
from mfile.plan.ir import ItemRef

BUILTIN_ROOT = Path(mfile.__file__).resolve().parent / "items"
BUILTIN_NAMESPACE = "mfile"
BESIDE = "items/ beside the M-File"
HEADER_FILE = "MantikHeader"
PAYLOAD_FILE = "payload.py"
_PART = re.compile(r"^[A-Za-z0-9._-]+$")
_PLACEHOLDER = re.compile(r"<[^<>]*>")
_NATURAL = re.compile(r"(\d+)")


def version_key(version: str) -> tuple[tuple[int, int, str], ...]:
    """Natural order: digit runs compare as numbers (v2 < v10, 1.2 < 1.10)."""
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in _NATURAL.split(version) if p)


@dataclass(frozen=True)
class ItemName:
    namespace: str
    name: str
    version: str | None

    @property
    def qualified(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class Root:
    path: Path
    origin: str  # "--items", BESIDE, "$MFILE_ITEMS_PATH" or "built-in"


@dataclass(frozen=True, eq=False)
class ResolvedItem:
    header: Header
    ref: ItemRef
    root: Path
    requested: str  # the name as written in the M-File
    latest: bool  # True when the version was chosen as the highest one


class ItemCatalog:
    def __init__(self, roots: list[Path], environ: Mapping[str, str] = os.environ, builtin: bool = True,
                 beside: list[Path] = ()) -> None:
        self.roots = [Root(Path(p), "--items") for p in roots] + [Root(Path(p), BESIDE) for p in beside]
        for entry in environ.get("MFILE_ITEMS_PATH", "").split(os.pathsep):
            if entry:
                self.roots.append(Root(Path(entry), "$MFILE_ITEMS_PATH"))
        self.builtin = builtin
        if builtin:
            self.roots.append(Root(BUILTIN_ROOT, "built-in"))
        self._usable: list[Root] | None = None
        self._cache: dict[str, ResolvedItem] = {}
        self._headers: dict[Path, Header | None] = {}
        self._payloads_checked: set[Path] = set()
        self._names: dict[Path, list[str]] = {}

    # ------------------------------------------------------------------ roots

    def usable_roots(self, reporter: Reporter, span: Span) -> list[Root]:
        """Roots that exist; a missing one is reported once (at the first use's ``span``)."""
        if self._usable is None:
            self._usable = []
            for root in self.roots:
                reason = None if root.path.is_dir() else ("is not a directory" if root.path.exists() else "does not exist")
                if reason is None:
                    self._usable.append(root)
                elif root.origin == "$MFILE_ITEMS_PATH":
                    reporter.report(header_messages.ItemPathEntryMissing, span, root=str(root.path), reason=reason)
                else:
                    reporter.report(header_messages.ItemRootMissing, span, root=str(root.path), origin=root.origin, reason=reason)
        return self._usable

    def names_in(self, root: Path) -> list[str]:
        """``ns/name`` of every item directory in ``root`` (cached)."""
        if root not in self._names:
            found: list[str] = []
            for ns in _subdirs(root):
                found.extend(f"{ns.name}/{item.name}" for item in _subdirs(ns))
            self._names[root] = found
        return self._names[root]

    def versions_in(self, root: Path, qualified: str) -> list[str]:
        item_dir = root / qualified
        return sorted((v.name for v in _subdirs(item_dir) if (v / HEADER_FILE).is_file()), key=version_key)

    # ------------------------------------------------------------------ resolution

    def resolve(self, name: str, reporter: Reporter, span: Span) -> ResolvedItem | None:
        if name in self._cache:
            return self._cache[name]
        roots = self.usable_roots(reporter, span)
        parsed = self.parse_name(name, roots, reporter, span)
        if parsed is None:
            return None
        found = self._find(parsed, roots, reporter, span)
        if found is None:
            return None
        root, version, latest = found
        item = self._load(root, parsed, version, reporter, span)
        if item is None:
            return None
        resolved = ResolvedItem(header=item[0], ref=item[1], root=root.path, requested=name, latest=latest)
        self._cache[name] = resolved
        return resolved

    def parse_name(self, name: str, roots: list[Root], reporter: Reporter, span: Span) -> ItemName | None:
        placeholder = _PLACEHOLDER.search(name)
        if placeholder:
            tail = name[placeholder.end():].lstrip("/").split(":")[0]
            matches = [q for r in roots for q in self.names_in(r.path) if q.split("/")[-1] == tail]
            hint = (f"items named {tail!r} here: {', '.join(sorted(set(matches)))}" if matches
                    else f"replace {placeholder.group()} with the namespace directory of your item root")  # fmt: skip
            reporter.report(header_messages.PlaceholderItemName, span, name=name, placeholder=placeholder.group(), suggestion=hint)
            return None
        reason = _name_problem(name)
        if reason:
            extra = {}
            if reason.startswith("missing the namespace"):
                matches = sorted({q for r in roots for q in self.names_in(r.path) if q.split("/")[-1] == name.split(":")[0]})
                if matches:
                    extra["hint"] = f"did you mean {matches[0]!r}?" if len(matches) == 1 else f"one of: {', '.join(matches)}"
            reporter.report(header_messages.BadItemName, span, name=name, reason=reason, **extra)
            return None
        base, _, version = name.partition(":")
        namespace, item = base.split("/")
        return ItemName(namespace, item, version or None)

    def _find(self, parsed: ItemName, roots: list[Root], reporter: Reporter, span: Span) -> tuple[Root, str, bool] | None:
        q = parsed.qualified
        if parsed.namespace == BUILTIN_NAMESPACE and self.builtin:
            # An items/ folder beside an M-File (which a pull request may add) cannot replace the
            # code behind join, evaluate or normalize; roots the user names (--items,
            # $MFILE_ITEMS_PATH) still may, on purpose.
            for other in roots:
                if other.origin == BESIDE and self.versions_in(other.path, q):
                    reporter.report(header_messages.ShadowedBuiltin, span, name=q, root=str(other.path))
            roots = [r for r in roots if r.origin != BESIDE]
        having = [r for r in roots if self.versions_in(r.path, q)]
        if not having:
            known = sorted({n for r in roots for n in self.names_in(r.path)})
            best = closest(q, known)
            namespace_dir = next((r for r in roots if _holds_item(r.path / parsed.name)), None)
            if namespace_dir is not None:  # --items items/ns instead of --items items
                hint = (f"{namespace_dir.path} is the namespace directory {parsed.namespace!r} itself; "
                        f"an item root holds namespaces: pass --items {namespace_dir.path.parent}")  # fmt: skip
            else:
                hint = (f"did you mean {best!r}?" if best else
                        f"searched {', '.join(str(r.path) for r in roots) or 'no roots'}; see `mfile items list`")  # fmt: skip
            reporter.report(header_messages.UnknownItem, span, name=q, suggestion=hint)
            return None
        version = parsed.version
        if version is not None and not (version == "latest" and not any((r.path / q / "latest").is_dir() for r in having)):
            for root in having:
                if version in self.versions_in(root.path, q):
                    return root, version, False
            versions = self.versions_in(having[0].path, q)
            reporter.report(header_messages.UnknownItemVersion, span, name=q, version=version, versions=", ".join(versions))
            return None
        return having[0], self.versions_in(having[0].path, q)[-1], True

    def _load(self, root: Root, parsed: ItemName, version: str, reporter: Reporter, span: Span) -> tuple[Header, ItemRef] | None:
        q = parsed.qualified
        directory = root.path / q / version
        try:
            real_root, real = root.path.resolve(), directory.resolve()
            target = (directory / HEADER_FILE).resolve()
        except (OSError, RuntimeError):  # a symlink loop appearing between listing and loading
            real_root, real, target = Path("/nonexistent-root"), directory, directory
        if not real.is_relative_to(real_root) or not target.is_relative_to(real_root):
            reporter.report(header_messages.ItemOutsideRoot, span, name=f"{q}:{version}", target=str(real), root=str(root.path))
            return None
        payload_sha256, payload_target = _payload_digest(directory / PAYLOAD_FILE)
        if payload_target is not None and not payload_target.is_relative_to(real_root):
            reporter.report(header_messages.ItemOutsideRoot, span, name=f"{q}:{version}", target=str(payload_target), root=str(root.path))
            return None
        path = directory / HEADER_FILE
        if path not in self._headers:
            header = load_header(path, reporter)
            self._headers[path] = header
            if header is not None:
                _check_identity(header, parsed.name, version, reporter)
        header = self._headers[path]
        if header is None:
            return None
        if path not in self._payloads_checked:
            self._payloads_checked.add(path)
            _check_payload(directory / PAYLOAD_FILE, header.kind, f"{q}:{version}", reporter)
        ref = ItemRef(
            name=q, version=version, kind=header.kind, directory=str(directory.absolute()),
            header_sha256=header.sha256, bridge=header.bridge, header=header.raw, payload_sha256=payload_sha256,
        )  # fmt: skip
        return header, ref

    def all(self, reporter: Reporter) -> list[ResolvedItem]:
        """Every loadable item, first root first; a version shadowed by an earlier root is skipped."""
        span = Span.whole_file("<item roots>")
        seen: set[str] = set()
        out: list[ResolvedItem] = []
        for root in self.usable_roots(reporter, span):
            for q in sorted(self.names_in(root.path)):
                if q.startswith(BUILTIN_NAMESPACE + "/") and root.origin == BESIDE and self.builtin:
                    continue  # never used: see _find
                for version in self.versions_in(root.path, q):
                    ref = f"{q}:{version}"
                    if ref in seen:
                        continue
                    seen.add(ref)
                    namespace, name = q.split("/")
                    item_span = Span.whole_file(str(root.path / q / version))
                    loaded = self._load(root, ItemName(namespace, name, version), version, reporter, item_span)
                    if loaded is not None:
                        out.append(ResolvedItem(loaded[0], loaded[1], root.path, ref, False))
        return out


# The functions the runtime calls, by kind (docs/architecture.md, payload API); `predict` is
# needed only where a trained item is used for prediction, which the header cannot tell.
PAYLOAD_FUNCTIONS: dict[str, tuple[tuple[str, str], ...]] = {
    "dataset": (("load", "(params, ctx)"),),
    "algorithm": (("apply", "(inputs, params, ctx)"),),
    "trainable": (("train", "(inputs, params, ctx)"), ("save", "(model, directory, params, ctx)")),
    "deployment": (("deploy", "(model, params, ctx)"),),
}


def payload_names(source: str) -> set[str] | None:
    """Top-level names a payload defines (functions, classes, assignments, imports, also inside
    top-level if/try); None when that cannot be told without running it (a star import)."""
    tree = ast.parse(source)
    names: set[str] = set()
    body = list(tree.body)
    while body:
        node = body.pop(0)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            if any(alias.name == "*" for alias in node.names):
                return None
            names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name))
        elif isinstance(node, (ast.If, ast.Try, ast.With)):
            body += [*node.body, *getattr(node, "orelse", []), *getattr(node, "finalbody", [])]
            body += [n for h in getattr(node, "handlers", []) for n in h.body]
    return names


def _check_payload(path: Path, kind: str, name: str, reporter: Reporter) -> None:
    """A payload that lacks the function its kind needs fails before any job is queued. The file
    is parsed, never imported (importing would run the item's code in the compiler)."""
    try:
        names = payload_names(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, SyntaxError, ValueError):
        return  # no payload (a header-only item) or one Python reports itself when the job loads it
    if names is None:
        return
    for function, signature in PAYLOAD_FUNCTIONS.get(kind, ()):
        if function not in names:
            reporter.report(header_messages.PayloadLacksFunction, Span.point(str(path)), item_kind=kind, name=name,
                            function=function, signature=signature, payload=str(path))


def _holds_item(directory: Path) -> bool:
    """A ``<name>/<version>/MantikHeader`` directory (what an item root holds one level deeper)."""
    return any((version / HEADER_FILE).is_file() for version in _subdirs(directory))


def _subdirs(path: Path) -> list[Path]:
    try:
        entries = sorted(path.iterdir())
    except OSError:
        return []
    return [e for e in entries if _PART.match(e.name) and not e.name.startswith(".") and e.is_dir()]


def _name_problem(name: str) -> str | None:
    if not name:
        return "it is empty"
    if name.startswith(("/", "\\", "~")) or re.match(r"^[A-Za-z]:[\\/]", name):
        return "an absolute path is not an item name"
    if ".." in name:
        return "'..' is not allowed in item names"
    if name.count(":") > 1:
        return "more than one ':' (write namespace/name:version)"
    base, _, version = name.partition(":")
    parts = base.split("/")
    if len(parts) == 1:
        return "missing the namespace (write namespace/name[:version])"
    if len(parts) > 2:
        return "too many '/' (write namespace/name[:version])"
    for part, what in ((parts[0], "namespace"), (parts[1], "name"), *(((version, "version"),) if ":" in name else ())):
        if not part:
            return f"the {what} is empty"
        if not _PART.match(part) or part in (".", ".."):
            bad = sorted({c for c in part if not re.match(r"[A-Za-z0-9._-]", c)})
            return f"the {what} {part!r} contains {' '.join(repr(c) for c in bad) or 'only dots'}"
    return None


def _check_identity(header: Header, name: str, version: str, reporter: Reporter) -> None:
    for field, said, directory in (("name", header.name, name), ("version", header.version, version)):
        if said is not None and said != directory:
            key = header.root.get(field)
            span = key.span if key is not None else Span.whole_file(str(header.path))
            reporter.report(header_messages.ItemNameMismatch, span, field=field, header_value=said, dir_value=directory)


def _payload_digest(path: Path) -> tuple[str | None, Path | None]:
    """(sha256 of the payload file, where it really is) or (None, None) when there is none.
    The target is returned even when unreadable, so a link out of the root is still refused."""
    try:
        target = path.resolve()
    except (OSError, RuntimeError):
        return None, None
    if not path.is_symlink() and not path.exists():
        return None, None
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest(), target
    except OSError:
        return None, target
