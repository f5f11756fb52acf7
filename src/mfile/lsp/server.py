"""``mfile lsp``: the language server (pygls, LSP over stdio).

Diagnostics are ``mfile check``'s (same codes, spans and hints; a hint becomes the message's
second line), published when a document opens or is saved and, while it is edited, once the
typing pauses for ``debounceMs`` (default 300 ms). A header problem found while checking an
M-File is published on the header's own file. Hover, completion and go-to-definition come
from ``analysis.py``.

Item roots and site profile: ``initializationOptions`` ``{"items": ["path", ...], "profile":
"juwels-booster"}`` (paths relative to the workspace root), replaced by
``workspace/didChangeConfiguration`` ``{"mfile": {...}}``; without them, the project file's
(``mfile.toml`` or ``[tool.mfile]`` above the M-File); then ``$MFILE_ITEMS_PATH`` and the
built-in items, and an ``items/`` directory beside each M-File, as on the command line. With a
profile, the E4xx resource checks run too, as ``mfile check --profile``. Only documents whose name ends in ``.mfile`` are checked: editors
without an M-File language send their Python files too.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any, Callable

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.uris import from_fs_path
from pygls.workspace import TextDocument
from pygls.workspace.position_codec import PositionCodec, ServerTextPosition, ServerTextRange

from mfile import __version__
from mfile.compiler.frontend import SUFFIX
from mfile.diagnostics import Report, Severity, Span
from mfile.lsp.analysis import Analysis, Completion, SiteCheck, Symbol, analyse, complete, definition, hover, symbols

DEBOUNCE_MS = 300
SEVERITY = {
    Severity.ERROR: types.DiagnosticSeverity.Error,
    Severity.WARNING: types.DiagnosticSeverity.Warning,
    Severity.INFO: types.DiagnosticSeverity.Information,
}
KIND = {
    "item": types.CompletionItemKind.Module,
    "param": types.CompletionItemKind.Property,
    "resource": types.CompletionItemKind.Property,
    "builtin": types.CompletionItemKind.Function,
    "keyword": types.CompletionItemKind.Keyword,
    "name": types.CompletionItemKind.Variable,
    "method": types.CompletionItemKind.Method,
    "port": types.CompletionItemKind.Field,
    "stage": types.CompletionItemKind.Field,
    "module": types.CompletionItemKind.Module,
}
log = logging.getLogger("mfile.lsp")


# For an M-File, given the client's roots and profile (None: not given): the item roots and the
# site check to use, after the project file. The command supplies it (commands/lsp.py): the
# project file and the profiles live above this layer.
Settings = Callable[[Path, "list[Path] | None", "str | None"], "tuple[list[Path], SiteCheck | None]"]


class MfileServer(LanguageServer):
    def __init__(self, settings: Settings | None = None) -> None:
        super().__init__("mfile", __version__)
        self.settings = settings
        self.roots: list[Path] | None = None  # None: the project file's, per M-File
        self.profile: str | None = None  # None: the project file's, if any
        self.warned: set[str] = set()
        self.debounce = DEBOUNCE_MS / 1000
        self.analyses: dict[str, tuple[int | None, Analysis]] = {}  # uri -> (document version, analysis)
        self.parsed: dict[str, Analysis] = {}  # uri -> the last analysis whose text parsed
        self.pending: dict[str, asyncio.TimerHandle] = {}
        self.elsewhere: dict[str, set[str]] = {}  # uri -> other files' uris it published on

    # ------------------------------------------------------------------ configuration

    def configure(self, options: Any) -> None:
        if not isinstance(options, dict):
            return
        base = Path(self.workspace.root_path) if self.workspace.root_path else Path.cwd()
        items = options.get("items")
        if isinstance(items, str):
            items = [items]
        if isinstance(items, list):
            self.roots = [base / Path(p).expanduser() for p in items if isinstance(p, str) and p]
        profile = options.get("profile")
        if isinstance(profile, str):
            self.profile = profile or None
        delay = options.get("debounceMs")
        if isinstance(delay, (int, float)) and not isinstance(delay, bool) and 0 <= delay <= 10_000:
            self.debounce = delay / 1000

    # ------------------------------------------------------------------ analysis

    def analysis(self, uri: str) -> Analysis | None:
        """The analysis of the document as it is now (re-checked if an edit is pending)."""
        document = self.workspace.get_text_document(uri)
        known = self.analyses.get(uri)
        if known is not None and known[0] == document.version and known[1].text == document.source:
            return known[1]
        return self.check(uri)

    def check(self, uri: str) -> Analysis | None:
        timer = self.pending.pop(uri, None)
        if timer is not None:
            timer.cancel()
        document = self.workspace.get_text_document(uri)
        path = Path(document.path)
        if path.suffix != SUFFIX:  # an editor that maps *.mfile to Python sends every .py file too
            return None
        roots, site_check = self.project(path)
        try:
            result = analyse(document.source, path, roots, site_check)
        except Exception:  # a fault of ours: keep serving the editor, say it once on stderr
            log.exception("mfile lsp: checking %s failed (please report it)", path)
            known = self.analyses.get(uri)
            return known[1] if known is not None else None
        self.analyses[uri] = (document.version, result)
        if result.module is not None:
            self.parsed[uri] = result
        self.publish(uri, document, result)
        return result

    def project(self, path: Path) -> tuple[list[Path], SiteCheck | None]:
        """Item roots and site check: the client's when it gave them (as ``--items`` and
        ``--profile``), else the project file's."""
        if self.settings is None:
            return list(self.roots or []), None
        try:
            return self.settings(path, self.roots, self.profile)
        except Exception as exc:  # a broken mfile.toml or profile: say so once, check without them
            message = f"mfile: {exc}"
            if message not in self.warned:
                self.warned.add(message)
                self.window_show_message(types.ShowMessageParams(type=types.MessageType.Warning, message=message))
            return list(self.roots or []), None

    def schedule(self, uri: str) -> None:
        timer = self.pending.pop(uri, None)
        if timer is not None:
            timer.cancel()
        loop = asyncio.get_running_loop()
        self.pending[uri] = loop.call_later(self.debounce, self._checked_later, uri)

    def _checked_later(self, uri: str) -> None:
        self.pending.pop(uri, None)
        if uri in self.workspace.text_documents:
            self.check(uri)

    def publish(self, uri: str, document: TextDocument, result: Analysis) -> None:
        mine = str(result.path)
        by_file: dict[str, list[Report]] = {}
        for report in result.reports:
            target = report.span.file
            if target != mine and not Path(target).is_file():
                target = mine  # "<item roots>" and the like: shown on the M-File
            by_file.setdefault(target, []).append(report)
        ours = [self.diagnostic(r, document.lines, document.position_codec, on_self=r.span.file == mine)
                for r in by_file.pop(mine, [])]  # fmt: skip
        self.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(uri=uri, diagnostics=ours, version=document.version)
        )
        others: set[str] = set()
        for file, reports in by_file.items():
            other_uri = from_fs_path(str(Path(file).resolve())) or file
            lines = _file_lines(Path(file))
            found = [self.diagnostic(r, lines, document.position_codec) for r in reports]
            self.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=other_uri, diagnostics=found))
            others.add(other_uri)
        for gone in self.elsewhere.get(uri, set()) - others:  # fixed since: clear them
            self.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=gone, diagnostics=[]))
        self.elsewhere[uri] = others

    @staticmethod
    def diagnostic(report: Report, lines: Any, codec: PositionCodec, on_self: bool = True) -> types.Diagnostic:
        span = report.span if on_self else Span.point(report.span.file)
        message = report.message + (f"\nhint: {report.hint}" if report.hint else "")
        if not on_self:
            message = f"{report.span.file}:{report.span.line}:{report.span.column}: {message}"
        return types.Diagnostic(
            range=_range(span, lines, codec),
            message=message,
            severity=SEVERITY[report.severity],
            code=report.code,
            source="mfile",
            data={"hint": report.hint} if report.hint else None,
        )

    def forget(self, uri: str) -> None:
        timer = self.pending.pop(uri, None)
        if timer is not None:
            timer.cancel()
        self.analyses.pop(uri, None)
        self.parsed.pop(uri, None)
        for other in self.elsewhere.pop(uri, set()):
            self.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=other, diagnostics=[]))
        self.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=uri, diagnostics=[]))


def _file_lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8", errors="replace").splitlines(True)
    except OSError:
        return []


def _range(span: Span, lines: Any, codec: PositionCodec) -> types.Range:
    """An mfile span (1-based, characters, end exclusive) in the client's units (0-based)."""
    start = ServerTextPosition(max(span.line - 1, 0), max(span.column - 1, 0))
    end = ServerTextPosition(max(span.end_line - 1, 0), max(span.end_column - 1, 0))
    if not lines:
        return types.Range(types.Position(start.line, start.character), types.Position(end.line, end.character))
    return codec.range_to_client_units(lines, ServerTextRange(start, end))


def _position(document: TextDocument, position: types.Position) -> tuple[int, int]:
    """The client's position as mfile's (1-based line and column in characters)."""
    at = document.position_from_client_units(position)
    return at.line + 1, at.character + 1


def _location(span: Span, document: TextDocument) -> types.Location:
    path = Path(span.file)
    if path.resolve() == Path(document.path).resolve():
        lines = document.lines
    else:
        lines = _file_lines(path)
    return types.Location(uri=from_fs_path(str(path.resolve())) or str(path), range=_range(span, lines, document.position_codec))


def _completion_item(c: Completion, document: TextDocument, line: int, column: int) -> types.CompletionItem:
    text = c.insert or c.label
    edit = None
    if c.start is not None:
        rng = _range(Span(str(document.path), c.start[0], c.start[1], line, column), document.lines, document.position_codec)
        edit = types.TextEdit(range=rng, new_text=text)
    return types.CompletionItem(
        label=c.label,
        kind=KIND.get(c.kind, types.CompletionItemKind.Text),
        detail=c.detail or None,
        documentation=types.MarkupContent(kind=types.MarkupKind.Markdown, value=c.doc) if c.doc else None,
        text_edit=edit,
        insert_text=None if edit else text,
    )


SYMBOL_KIND = {
    "task": types.SymbolKind.Function,
    "search": types.SymbolKind.Function,
    "component": types.SymbolKind.Class,
    "hyperparameter": types.SymbolKind.Variable,
    "pipeline": types.SymbolKind.Module,
    "stage": types.SymbolKind.Namespace,
}


def _document_symbol(symbol: Symbol, document: TextDocument) -> types.DocumentSymbol:
    where = _range(symbol.span, document.lines, document.position_codec)
    return types.DocumentSymbol(
        name=symbol.name, kind=SYMBOL_KIND[symbol.kind], detail=symbol.detail, range=where, selection_range=where,
        children=[_document_symbol(c, document) for c in symbol.children] or None,
    )  # fmt: skip


def build_server(settings: Settings | None = None) -> MfileServer:
    server = MfileServer(settings)

    @server.feature(types.INITIALIZE)
    def initialize(ls: MfileServer, params: types.InitializeParams) -> None:
        ls.configure(params.initialization_options)

    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    def changed_configuration(ls: MfileServer, params: types.DidChangeConfigurationParams) -> None:
        settings = params.settings.get("mfile", params.settings) if isinstance(params.settings, dict) else None
        ls.configure(settings)
        for uri in list(ls.workspace.text_documents):
            ls.check(uri)

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: MfileServer, params: types.DidOpenTextDocumentParams) -> None:
        ls.check(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: MfileServer, params: types.DidChangeTextDocumentParams) -> None:
        ls.schedule(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_SAVE)
    def did_save(ls: MfileServer, params: types.DidSaveTextDocumentParams) -> None:
        ls.check(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: MfileServer, params: types.DidCloseTextDocumentParams) -> None:
        ls.forget(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_HOVER)
    def on_hover(ls: MfileServer, params: types.HoverParams) -> types.Hover | None:
        document = ls.workspace.get_text_document(params.text_document.uri)
        result = ls.analysis(params.text_document.uri)
        found = hover(result, *_position(document, params.position)) if result is not None else None
        if found is None:
            return None
        text, span = found
        return types.Hover(
            contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value=text),
            range=_range(span, document.lines, document.position_codec),
        )

    @server.feature(
        types.TEXT_DOCUMENT_COMPLETION,
        types.CompletionOptions(trigger_characters=[".", '"', "'", "(", ",", "{"]),
    )
    def on_completion(ls: MfileServer, params: types.CompletionParams) -> types.CompletionList:
        uri = params.text_document.uri
        document = ls.workspace.get_text_document(uri)
        if Path(document.path).suffix != SUFFIX:
            return types.CompletionList(is_incomplete=False, items=[])
        line, column = _position(document, params.position)
        current = ls.analysis(uri)
        known = current if current is not None and current.module is not None else ls.parsed.get(uri)
        items = [_completion_item(c, document, line, column) for c in complete(document.source, line, column, known)]
        return types.CompletionList(is_incomplete=False, items=items)

    @server.feature(types.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
    def on_symbols(ls: MfileServer, params: types.DocumentSymbolParams) -> list[types.DocumentSymbol]:
        document = ls.workspace.get_text_document(params.text_document.uri)
        result = ls.analysis(params.text_document.uri)
        return [_document_symbol(x, document) for x in symbols(result)] if result is not None else []

    @server.feature(types.TEXT_DOCUMENT_DEFINITION)
    def on_definition(ls: MfileServer, params: types.DefinitionParams) -> types.Location | None:
        document = ls.workspace.get_text_document(params.text_document.uri)
        result = ls.analysis(params.text_document.uri)
        span = definition(result, *_position(document, params.position)) if result is not None else None
        return _location(span, document) if span is not None else None

    return server


class OneLine(logging.Formatter):
    """A log record as one line on stderr (the editor's output panel): pygls logs a client's
    malformed message with its traceback; what went wrong fits on the line."""

    def format(self, record: logging.LogRecord) -> str:
        text = f"mfile lsp: {record.levelname.lower()}: {record.getMessage()}"
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            text += f" ({type(exc).__name__}: {exc})"
        return text


def serve(settings: Settings | None = None, debug: bool = False) -> None:
    """Talk LSP on stdin/stdout until the client says exit; ``debug`` logs tracebacks too."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter() if debug else OneLine())
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING, handlers=[handler], force=True)
    build_server(settings).start_io()
