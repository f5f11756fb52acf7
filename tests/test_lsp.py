"""``mfile lsp`` driven by a real LSP client (pygls' LanguageClient) over stdio, as an editor
drives it: initialize with item roots, open and edit documents, wait for diagnostics, ask for
hover, completion and definitions."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Awaitable, Callable

import pytest

pytest.importorskip("pygls", reason="the lsp extra (pip install 'mfile[lsp]')")
from lsprotocol import types  # noqa: E402
from pygls.lsp.client import LanguageClient  # noqa: E402
from pygls.uris import from_fs_path  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
MNIST = ROOT / "examples" / "mnist"
E2E_ITEMS = ROOT / "tests" / "fixtures" / "e2e" / "items"
ENV = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
TIMEOUT = 30.0


class Session:
    """One server process and the client talking to it; diagnostics collected per uri."""

    def __init__(self, client: LanguageClient) -> None:
        self.client = client
        self.diagnostics: dict[str, list[types.Diagnostic]] = {}
        self.arrivals: dict[str, list[float]] = {}
        self.changed = asyncio.Event()

        @client.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        def on_diagnostics(params: types.PublishDiagnosticsParams) -> None:
            self.diagnostics[params.uri] = list(params.diagnostics)
            self.arrivals.setdefault(params.uri, []).append(time.monotonic())
            self.changed.set()

    async def wait_for(self, uri: str, count: int = 1) -> list[types.Diagnostic]:
        """Until ``uri`` has had ``count`` publications."""
        deadline = time.monotonic() + TIMEOUT
        while len(self.arrivals.get(uri, [])) < count:
            self.changed.clear()
            await asyncio.wait_for(self.changed.wait(), max(0.01, deadline - time.monotonic()))
        return self.diagnostics[uri]

    def open(self, path: Path, text: str | None = None) -> str:
        uri = from_fs_path(str(path))
        assert uri is not None
        self.client.text_document_did_open(types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=uri, language_id="python", version=1,
                                                 text=path.read_text(encoding="utf-8") if text is None else text)))  # fmt: skip
        return uri

    def replace(self, uri: str, version: int, text: str) -> None:
        self.client.text_document_did_change(types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)]))  # fmt: skip


def lsp(options: dict[str, Any] | None, body: Callable[[Session], Awaitable[None]], root: Path = ROOT) -> None:
    async def main() -> None:
        client = LanguageClient("mfile-tests", "1")
        session = Session(client)
        await client.start_io(sys.executable, "-m", "mfile.cli", "lsp", env=ENV, cwd=str(root))
        try:
            await asyncio.wait_for(client.initialize_async(types.InitializeParams(
                capabilities=types.ClientCapabilities(), root_uri=from_fs_path(str(root)),
                initialization_options=options)), TIMEOUT)  # fmt: skip
            client.initialized(types.InitializedParams())
            await body(session)
        finally:
            await asyncio.wait_for(client.shutdown_async(None), TIMEOUT)
            client.exit(None)
            await asyncio.wait_for(client.stop(), TIMEOUT)

    asyncio.run(main())


def at(text: str, needle: str, delta: int = 0) -> types.Position:
    """The 0-based position ``delta`` characters into the first ``needle``."""
    offset = text.index(needle) + delta
    line = text.count("\n", 0, offset)
    return types.Position(line=line, character=offset - (text.rfind("\n", 0, offset) + 1))


def check_json(path: Path, *items: Path) -> list[dict[str, Any]]:
    args = [sys.executable, "-m", "mfile.cli", "check", str(path), "--format", "json"]
    for root in items:
        args += ["--items", str(root)]
    out = subprocess.run(args, capture_output=True, text=True, env=ENV).stdout
    return json.loads(out)


BROKEN = '''src = MantikItem(name="e2e/numbers:1").configure(params={"m": 3})
norm = MantikItem(name="mfile/normalize:1")
chain = MantikPipeline(stages={"load": [src], "work": [norm.set_input(sr.output)]})
'''


def test_diagnostics_are_mfile_checks(tmp_path: Path) -> None:
    path = tmp_path / "broken.mfile"
    path.write_text(BROKEN, encoding="utf-8")
    want = [(d["code"], d["line"] - 1, d["column"] - 1, d["end_line"] - 1, d["end_column"] - 1, d.get("hint"))
            for d in check_json(path, E2E_ITEMS)]  # fmt: skip
    assert {w[0] for w in want} == {"E317", "E101"}

    async def body(s: Session) -> None:
        uri = s.open(path)
        got = await s.wait_for(uri)
        seen = sorted((d.code, d.range.start.line, d.range.start.character, d.range.end.line, d.range.end.character,
                       d.data["hint"] if d.data else None) for d in got)  # fmt: skip
        assert seen == sorted(want)
        assert all(d.source == "mfile" and d.severity == types.DiagnosticSeverity.Error for d in got)
        e101 = next(d for d in got if d.code == "E101")
        assert e101.message.splitlines()[1].startswith("hint: ")

    lsp({"items": [str(E2E_ITEMS)]}, body)


def test_edits_are_debounced_and_fixes_clear_the_diagnostics(tmp_path: Path) -> None:
    path = tmp_path / "typing.mfile"
    path.write_text(BROKEN, encoding="utf-8")

    async def body(s: Session) -> None:
        uri = s.open(path)
        assert len(await s.wait_for(uri)) == 2
        text = BROKEN
        start = time.monotonic()
        for version, fixed in enumerate(["{\"n\": 3}", "sr.output" ], start=2):  # two quick edits
            text = text.replace('{"m": 3}', fixed) if version == 2 else text.replace("(sr.output)", "(src.output)")
            s.replace(uri, version, text)
        got = await s.wait_for(uri, 2)
        latency = s.arrivals[uri][1] - start
        assert got == [] and len(s.arrivals[uri]) == 2  # one publication for both edits
        assert 0.3 <= latency < 5.0, latency
        print(f"diagnostics {latency * 1000:.0f} ms after the last edit (debounce 300 ms)")

    lsp({"items": [str(E2E_ITEMS)]}, body)


def test_hover_completion_and_definition_on_the_mnist_example() -> None:
    path = MNIST / "mnist.mfile"
    text = path.read_text(encoding="utf-8")

    async def body(s: Session) -> None:
        uri = s.open(path)
        codes = [d.code for d in await s.wait_for(uri)]
        assert codes == ["E203"]  # the example's one info, as `mfile check` says
        doc = types.TextDocumentIdentifier(uri=uri)

        async def hover(needle: str, delta: int = 0) -> str:
            found = await s.client.text_document_hover_async(types.HoverParams(text_document=doc, position=at(text, needle, delta)))
            assert found is not None, needle
            assert isinstance(found.contents, types.MarkupContent)
            return found.contents.value

        task = await hover("pre_process.set_input(get_data.output)", 24)  # get_data
        assert "item `mnist/digits:1` (dataset)" in task and "`image`: `tensor[8, 8] of float32`" in task
        port = await hover("pre_process.set_input(get_data.output)", 33)  # .output
        assert port.startswith("**get_data.output**: output port") and "`label`: `int32`" in port
        search = await hover("hyperparameter_search.set_input(", 3)
        assert "3 points over batch_size" in search and "`best_model`" in search
        item = await hover('"mfile/mlp:1"', 3)
        assert item.startswith("**mfile/mlp:1** (trainable)") and "`batch_size`: int32" in item
        param = await hover('"learning_rate"', 2)
        assert param.startswith("metaVariable `learning_rate` of `mfile/mlp:1`: float32")
        train = await hover("split.output.train", 15)
        assert train.startswith("**split.train**: output port") and "`tensor[64] of float32`" in train
        stage = await hover("batch_pipeline.stage3.deploy", 17)
        assert stage == "**batch_pipeline.stage3**: stage of `deploy`"
        deploy = await hover("batch_pipeline.stage3.deploy", 23)
        assert deploy.startswith("**deploy**: task, item `mfile/save_model:1` (deployment)")
        builtin = await hover("evaluate(metric", 2)
        assert builtin.startswith("`evaluate(metric=..., label=..., baseline=..., reference=...)`")

        # go to definition: a name to where it was bound, reference="split" too
        async def define(needle: str, delta: int = 0) -> types.Location:
            found = await s.client.text_document_definition_async(types.DefinitionParams(text_document=doc, position=at(text, needle, delta)))
            assert isinstance(found, types.Location), needle
            return found

        use = await define("set_input(get_data.output)", 11)
        assert use.uri == uri and use.range.start == at(text, "get_data = MantikItem")
        split = await define("split.output.train", 1)
        assert split.range.start == at(text, '"split"')
        header = await define('"mnist/digits:1"', 2)
        assert header.uri == from_fs_path(str((MNIST / "items/mnist/digits/1/MantikHeader").resolve()))
        own = await define("get_data = MantikItem")  # on the binding itself: the item's header
        assert own.uri == header.uri
        deploy = await define("batch_pipeline.stage3.deploy.model", 24)  # through pipeline and stage
        assert deploy.range.start == at(text, "deploy = save_model()")
        mv = await define('"learning_rate"', 2)
        assert mv.uri.endswith("/items/mfile/mlp/1/MantikHeader") and mv.range.start.line > 0

        # the outline: tasks, search, component, pipelines with their stages
        outline = await s.client.text_document_document_symbol_async(types.DocumentSymbolParams(text_document=doc))
        assert outline is not None
        names = [(x.name, x.kind) for x in outline if isinstance(x, types.DocumentSymbol)]
        assert names[:3] == [("get_data", types.SymbolKind.Function), ("pre_process", types.SymbolKind.Function),
                             ("batch_size", types.SymbolKind.Variable)]  # fmt: skip
        batch = next(x for x in outline if isinstance(x, types.DocumentSymbol) and x.name == "batch_pipeline")
        assert batch.kind == types.SymbolKind.Module and [c.name for c in batch.children or []] == ["stage1", "stage2", "stage3"]
        assert ("split", types.SymbolKind.Function) in names  # bound by reference="split"

        # completion while typing: the text is not a valid M-File any more
        typed = text + '\nextra = MantikItem(name="mnist/'
        s.replace(uri, 2, typed)
        end = types.Position(line=typed.count("\n"), character=len(typed.splitlines()[-1]))
        listed = await s.client.text_document_completion_async(types.CompletionParams(text_document=doc, position=end))
        assert isinstance(listed, types.CompletionList)
        labels = [i.label for i in listed.items]
        assert {"mnist/digits:1", "mnist/pre-processor:1", "mnist/mnist_linear:1", "mfile/mlp:1"} <= set(labels)
        edit = listed.items[labels.index("mnist/digits:1")].text_edit
        assert isinstance(edit, types.TextEdit) and edit.range.start.character == end.character - len("mnist/")

        async def completions(typed: str) -> list[str]:
            s.replace(uri, 3, text + typed)
            lines = (text + typed).split("\n")
            listed = await s.client.text_document_completion_async(types.CompletionParams(
                text_document=doc, position=types.Position(line=len(lines) - 1, character=len(lines[-1]))))  # fmt: skip
            assert isinstance(listed, types.CompletionList)
            return [i.label for i in listed.items]

        assert await completions('\ntrain.configure(params={"epochs": 3, "') == [
            "feature", "label", "label_type", "task", "hidden", "batch_size", "learning_rate", "seed", "threads"]
        assert "gpus" in await completions('\ntrain.configure(resources={"')
        assert (await completions("\nx = evaluate(metric=\"rmse\", "))[:3] == ["label=", "baseline=", "reference="]
        assert await completions("\nbatch_pipeline.stage3.") == ["deploy"]
        assert (await completions("\nhyperparameter_search.set_input(data_test=split.output.test, "))[0] == "data_train="
        assert (await completions("\nget_data."))[:2] == ["output", "configure"]
        everything = await completions("\nx = ")
        assert {"MantikItem", "HyperParameterSearch", "dsl", "get_data", "batch_pipeline"} <= set(everything)

    lsp(None, body, root=MNIST)


def test_item_roots_come_from_initialization_options_relative_to_the_workspace(tmp_path: Path) -> None:
    path = tmp_path / "uses_e2e.mfile"
    path.write_text('src = MantikItem(name="e2e/numbers:1")\np = MantikPipeline(stages={"s": [src]})\n', encoding="utf-8")
    shutil.copytree(E2E_ITEMS, tmp_path / "roots")

    async def without(s: Session) -> None:
        assert [d.code for d in await s.wait_for(s.open(path))] == ["E334"]

    async def with_roots(s: Session) -> None:
        uri = s.open(path)
        assert await s.wait_for(uri) == []
        s.client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings={"mfile": {"items": ["nowhere"]}}))
        assert [d.code for d in await s.wait_for(uri, 2)] == ["E332", "E334"]

    lsp(None, without, root=tmp_path)
    lsp({"items": ["roots"]}, with_roots, root=tmp_path)


def test_a_header_problem_is_published_on_the_header(tmp_path: Path) -> None:
    item = tmp_path / "items" / "my" / "thing" / "1"
    item.mkdir(parents=True)
    (item / "MantikHeader").write_text("kind: dataset\ntype: {columns: {x: float33}}\n", encoding="utf-8")
    path = tmp_path / "uses.mfile"
    path.write_text('t = MantikItem(name="my/thing:1")\np = MantikPipeline(stages={"s": [t]})\n', encoding="utf-8")

    async def body(s: Session) -> None:
        s.open(path)
        header_uri = from_fs_path(str((item / "MantikHeader").resolve()))
        assert header_uri is not None
        found = await s.wait_for(header_uri)
        assert [d.code for d in found] == ["E312"] and found[0].range.start.line == 1

    lsp(None, body, root=tmp_path)


def test_python_files_are_left_alone(tmp_path: Path) -> None:
    """Editors that map *.mfile to Python send every .py file to the server too."""
    script = tmp_path / "script.py"
    script.write_text("import os\nfor x in []: pass\n", encoding="utf-8")
    path = tmp_path / "real.mfile"
    path.write_text("import os\n", encoding="utf-8")

    async def body(s: Session) -> None:
        python = s.open(script)
        assert [d.code for d in await s.wait_for(s.open(path))] == ["E014"]  # the .py file came first
        assert python not in s.arrivals
        hovered = await s.client.text_document_hover_async(types.HoverParams(
            text_document=types.TextDocumentIdentifier(uri=python), position=types.Position(line=0, character=8)))  # fmt: skip
        assert hovered is None
        listed = await s.client.text_document_completion_async(types.CompletionParams(
            text_document=types.TextDocumentIdentifier(uri=python), position=types.Position(line=1, character=0)))  # fmt: skip
        assert isinstance(listed, types.CompletionList) and not listed.items

    lsp(None, body, root=tmp_path)


def test_mfile_lsp_without_pygls_says_what_to_install(tmp_path: Path) -> None:
    blocker = tmp_path / "pygls.py"
    blocker.write_text("raise ImportError('No module named pygls')\n", encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "mfile.cli", "lsp"], capture_output=True, text=True, stdin=subprocess.DEVNULL,
                            env={**ENV, "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT / 'src'}"})  # fmt: skip
    assert result.returncode == 2
    assert "pip install 'mfile[lsp]'" in result.stderr and "Traceback" not in result.stderr


def test_positions_are_in_the_clients_utf16_units(tmp_path: Path) -> None:
    """mfile counts characters; LSP clients count UTF-16 units: an emoji is two of them."""
    path = tmp_path / "emoji.mfile"
    text = 'src = MantikItem(name="e2e/numbers:1")\np = MantikPipeline(stages={"😀 load": [src, nope]})\n'
    path.write_text(text, encoding="utf-8")

    async def body(s: Session) -> None:
        (d,) = await s.wait_for(s.open(path))
        line = text.splitlines()[1]
        utf16 = len(line[: line.index("nope")].encode("utf-16-le")) // 2
        assert d.code == "E101" and (d.range.start.line, d.range.start.character) == (1, utf16)
        assert utf16 == line.index("nope") + 1

    lsp({"items": [str(E2E_ITEMS)]}, body)


def test_without_client_roots_the_project_file_gives_them(tmp_path: Path) -> None:
    shutil.copytree(E2E_ITEMS, tmp_path / "roots")
    (tmp_path / "mfile.toml").write_text('items = ["roots"]\n', encoding="utf-8")
    (tmp_path / "deep" / "er").mkdir(parents=True)
    path = tmp_path / "deep" / "er" / "uses.mfile"
    path.write_text('src = MantikItem(name="e2e/numbers:1")\np = MantikPipeline(stages={"s": [src]})\n', encoding="utf-8")
    messages: list[str] = []

    async def body(s: Session) -> None:
        s.client.feature(types.WINDOW_SHOW_MESSAGE)(lambda params: messages.append(params.message))
        uri = s.open(path)
        assert await s.wait_for(uri) == []  # found upwards from the M-File, relative to mfile.toml
        (tmp_path / "mfile.toml").write_text('itmes = ["roots"]\n', encoding="utf-8")
        s.client.text_document_did_save(types.DidSaveTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=uri)))
        assert [d.code for d in await s.wait_for(uri, 2)] == ["E334"]
        assert len(messages) == 1 and "unknown setting 'itmes'" in messages[0]

    lsp(None, body, root=tmp_path / "deep")


def test_a_profile_adds_the_resource_checks_as_mfile_check_profile_does(tmp_path: Path) -> None:
    path = tmp_path / "greedy.mfile"
    path.write_text(BROKEN.replace('.configure(params={"m": 3})', '.configure(resources={"gpus": 8})').replace("(sr.output)", "(src.output)"),
                    encoding="utf-8")  # fmt: skip
    args = [sys.executable, "-m", "mfile.cli", "check", str(path), "--items", str(E2E_ITEMS), "--profile", "juwels-booster", "--format", "json"]
    want = [(d["code"], d["line"] - 1, d["column"] - 1) for d in json.loads(subprocess.run(args, capture_output=True, text=True, env=ENV).stdout)]
    assert [w[0] for w in want] == ["E403"]

    async def body(s: Session) -> None:
        got = await s.wait_for(s.open(path))
        assert [(d.code, d.range.start.line, d.range.start.character) for d in got] == want

    lsp({"items": [str(E2E_ITEMS)], "profile": "juwels-booster"}, body, root=tmp_path)


def test_a_malformed_message_is_one_line_on_stderr_and_the_server_goes_on() -> None:
    bad = b"Content-Length: 5\r\n\r\n{bad}"
    init = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"capabilities": {}}}).encode()
    framed = bad + b"Content-Length: %d\r\n\r\n" % len(init) + init
    result = subprocess.run([sys.executable, "-m", "mfile.cli", "lsp"], input=framed, capture_output=True, env=ENV, timeout=60)
    assert result.returncode == 0
    assert b'"id": 1' in result.stdout and b"capabilities" in result.stdout  # answered after the bad one
    err = result.stderr.decode()
    assert "Traceback" not in err and "JSONDecodeError" in err and len(err.strip().splitlines()) == 1


def test_incremental_edits_are_applied_before_checking(tmp_path: Path) -> None:
    path = tmp_path / "incremental.mfile"
    path.write_text(BROKEN, encoding="utf-8")

    async def body(s: Session) -> None:
        uri = s.open(path)
        assert sorted(d.code for d in await s.wait_for(uri)) == ["E101", "E317"]
        where = at(BROKEN, "sr.output", 2)  # insert the missing "c" of src
        s.client.text_document_did_change(types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
            content_changes=[types.TextDocumentContentChangePartial(range=types.Range(start=where, end=where), text="c")]))  # fmt: skip
        assert [d.code for d in await s.wait_for(uri, 2)] == ["E317"]

    lsp({"items": [str(E2E_ITEMS)], "debounceMs": 50}, body)
