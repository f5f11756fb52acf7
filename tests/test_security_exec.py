"""Nothing in an M-File or a header is ever evaluated by ``check``/``compile``.

* Statically: the modules on the check/compile path call no ``eval``/``exec``/``compile``/
  ``__import__``, no pickle/marshal/shelve, no ``yaml.load`` family, no shell (``os.system``,
  ``shell=True``). (The runtime imports item payloads by design; it is not on this path.)
* Dynamically: headers with ``!!python/...`` tags (in every place a tag can go) and M-Files that
  try ``__import__``/``eval``/``open`` end in diagnostics, and the marker file their payload
  would create never appears.
* lark caches the compiled grammar as a pickle; a cache in a directory others can write is
  never read (a planted pickle would run as the user).
"""

from __future__ import annotations

import ast
import re
import json
import os
import pickle
from pathlib import Path

import pytest

from mfile.compiler.frontend import check_paths, check_source
from security_support import CASE_ITEMS, REPO, run_mfile

SRC = REPO / "src" / "mfile"
CHECK_PATH = [SRC / "cli.py", SRC / "diagnostics.py",
              *(p for package in ("mfile_grammar", "compiler", "codegen", "plan", "slurm", "commands")
                for p in sorted((SRC / package).rglob("*.py")))]
BANNED_CALLS = {"eval", "exec", "compile", "__import__", "execfile", "input"}
BANNED_MODULES = {"pickle", "cPickle", "marshal", "shelve", "dill", "cloudpickle"}
BANNED_ATTRS = {("yaml", "load"), ("yaml", "load_all"), ("yaml", "unsafe_load"), ("yaml", "full_load"),
                ("yaml", "unsafe_load_all"), ("os", "system"), ("os", "popen"), ("os", "execv"),
                ("os", "execvp"), ("subprocess", "getoutput"), ("subprocess", "getstatusoutput")}


def _problems(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    found = []
    for node in ast.walk(tree):
        where = f"{path.name}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] + ([node.module] if isinstance(node, ast.ImportFrom) and node.module else [])
            for name in names:
                if name.split(".")[0] in BANNED_MODULES:
                    found.append(f"{where}: imports {name}")
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name) and func.id in BANNED_CALLS:
            found.append(f"{where}: calls {func.id}()")
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
            if (func.value.id, func.attr) in BANNED_ATTRS:
                found.append(f"{where}: calls {func.value.id}.{func.attr}()")
        for kw in node.keywords:
            if kw.arg == "shell" and not (isinstance(kw.value, ast.Constant) and kw.value.value is False):
                found.append(f"{where}: shell=")
    return found


def test_no_eval_pickle_unsafe_yaml_or_shell_on_the_check_and_compile_path() -> None:
    assert len(CHECK_PATH) > 20
    problems = [p for path in CHECK_PATH for p in _problems(path)]
    assert problems == []


def test_the_scanner_finds_what_it_looks_for(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import pickle\nimport yaml, os, subprocess\nyaml.load(x)\neval('1')\nos.system('id')\n"
                   "subprocess.run('id', shell=True)\n")
    found = _problems(bad)
    assert len(found) == 5


PYTHON_TAGS = [
    "!!python/object/apply:os.system ['touch {m}']",
    "!!python/object/new:os.system ['touch {m}']",
    "!!python/name:os.system",
    "!<tag:yaml.org,2002:python/object/apply:os.system> ['touch {m}']",
    "!!python/object/apply:subprocess.call [['touch', '{m}']]",
]
PLACES = {
    "meta value": "name: evil\nkind: dataset\nmetaVariables:\n  - name: n\n    type: string\n    value: {tag}\ntype:\n  columns:\n    x: float64\n",
    "top-level field": "name: evil\nkind: dataset\nnote: {tag}\ntype:\n  columns:\n    x: float64\n",
    "column type": "name: evil\nkind: dataset\ntype:\n  columns:\n    x: {tag}\n",
    "execution": "name: evil\nkind: dataset\nexecution:\n  tasks: {tag}\ntype:\n  columns:\n    x: float64\n",
    "mapping key": "name: evil\nkind: dataset\n? {tag}\n: 1\ntype:\n  columns:\n    x: float64\n",
}


@pytest.mark.parametrize("place", sorted(PLACES))
@pytest.mark.parametrize("tag", PYTHON_TAGS, ids=[t.split()[0][:40] for t in PYTHON_TAGS])
def test_python_yaml_tags_are_a_diagnostic_and_never_run(tmp_path: Path, place: str, tag: str) -> None:
    marker = tmp_path / "PWNED"
    item = tmp_path / "items" / "x" / "evil" / "1"
    item.mkdir(parents=True)
    (item / "MantikHeader").write_text(PLACES[place].format(tag=tag.format(m=marker)))
    src = tmp_path / "flow.mfile"
    src.write_text('e = MantikItem(name="x/evil:1")\np = MantikPipeline(stages={"s": [e]})\n')
    result = check_paths([src], [tmp_path / "items"])
    assert "E302" in {r.code for r in result.reporter.reports}
    assert not marker.exists()
    if place == "meta value":  # the whole CLI too, check and compile, in a fresh process
        for command in (["check", str(src)], ["compile", str(src), "-o", str(tmp_path / "out")]):
            done = run_mfile(*command, "--format", "json", "--items", str(tmp_path / "items"))
            assert done.returncode == 1, done.stderr
            assert "E302" in {d["code"] for d in json.loads(done.stdout)}
        assert not (tmp_path / "out").exists()
    assert not marker.exists()


@pytest.mark.parametrize("line", [
    '__import__("os").system("touch {m}")',
    'eval("__import__(\'os\').system(\'touch {m}\')")',
    'exec("import os")',
    'open("{m}", "w")',
    'x = MantikItem.__class__.__init__.__globals__',
    'x = getattr(MantikItem, "__class__")',
    'import os\nos.system("touch {m}")',
    'x = f"{{__import__(\'os\').system(\'touch {m}\')}}"',
    'x = lambda: __import__("os").system("touch {m}")',
    'x = [__import__("os").system("touch {m}") for _ in [1]]',
])
def test_python_in_an_m_file_is_a_diagnostic_and_never_runs(tmp_path: Path, line: str) -> None:
    marker = tmp_path / "PWNED"
    text = line.format(m=marker) + "\n"
    assert check_source(text, str(tmp_path / "flow.mfile"), [CASE_ITEMS]).has_errors
    if line.startswith("__import__"):  # and once through the CLI
        src = tmp_path / "flow.mfile"
        src.write_text(text)
        compiled = run_mfile("compile", str(src), "--items", str(CASE_ITEMS), "-o", str(tmp_path / "out"))
        assert compiled.returncode == 1
    assert not marker.exists()


class _Boom:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_planted_grammar_cache_in_a_shared_directory_is_never_unpickled(tmp_path: Path) -> None:
    cache_home = tmp_path / "cache"
    env = {"XDG_CACHE_HOME": str(cache_home)}
    src = tmp_path / "flow.mfile"
    src.write_text("x = 1\n")
    assert run_mfile("check", str(src), env=env).returncode == 0
    caches = list((cache_home / "mfile").glob("grammar-*.cache"))
    assert caches, "mfile writes its private grammar cache"
    assert (cache_home / "mfile").stat().st_mode & 0o077 == 0
    # Someone else could write here now: a cache file whose header matches, then a pickle.
    marker = tmp_path / "PWNED"
    (cache_home / "mfile").chmod(0o777)
    for cache in caches:
        first_line = cache.read_bytes().split(b"\n", 1)[0]
        cache.write_bytes(first_line + b"\n" + pickle.dumps(_Boom(str(marker))))
    result = run_mfile("check", str(src), env=env)
    assert result.returncode == 0, result.stderr
    assert not marker.exists()


def test_no_shell_pickle_or_unsafe_yaml_anywhere_in_the_package() -> None:
    """The runtime, status and Slurm queries too (they import item payloads by design, so only
    eval/exec-style calls are allowed there: the shell, pickles and yaml.load are not)."""
    everything = sorted(p for p in SRC.rglob("*.py") if "items" not in p.relative_to(SRC).parts[:1])
    problems = [p for path in everything for p in _problems(path)
                if not re.search(r"calls (compile|__import__|exec|eval)\(\)", p)]
    assert problems == []
