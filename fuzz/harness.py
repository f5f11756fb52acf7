"""What one fuzz input goes through, and what must hold afterwards (shared by the CI fuzz tests
and ``fuzz/run_long.py``).

* ``check_bytes``: the bytes of a file through ``decode_source`` and the whole ``check``
  (parse, names, lowering, items, types) with the test item roots;
* ``load_header_text``: a MantikHeader through the header loader;
* ``compile_text``: ``mfile compile`` in-process into a temporary directory with the local
  profile, then every generated script through ``bash -n`` (when asked) and the job-name rule.

Each returns normally when the input was handled; an exception or a broken invariant is a
finding. Invariants: every report has a registered code, a position >= 1:1 and no unfilled
``{placeholder}``; no input takes longer than ``SECONDS_PER_INPUT``; nothing is executed (the
hostile strings try to create ``MARKER``).
"""

from __future__ import annotations

import contextlib
import io
import re
import subprocess
import tempfile
import time
from pathlib import Path

from mfile.compiler.frontend import Checker
from mfile.diagnostics import Diagnostic, Reporter
from mfile.mfile_grammar.source import decode_source
from mfile.plan import sbatch

REPO = Path(__file__).resolve().parent.parent
ROOTS = [REPO / "tests" / "cases" / "items", REPO / "tests" / "fixtures" / "security_items"]
MARKER = Path("/tmp/mfile-fuzz-marker")
SECONDS_PER_INPUT = 10.0
_JOB_NAME = re.compile(r"^#SBATCH --job-name=([A-Za-z0-9_.-]+)$", re.MULTILINE)
_PLACEHOLDER = re.compile(r"(?<!\{)\{[a-z_]+\}(?!\})")

_checker: Checker | None = None


class Finding(AssertionError):
    """An invariant that does not hold for this input."""


def checker() -> Checker:
    global _checker
    if _checker is None:
        _checker = Checker(list(ROOTS))
    return _checker


def validate(reporter: Reporter) -> None:
    for r in reporter.reports:
        if r.code not in Diagnostic.registry:
            raise Finding(f"unregistered code {r.code}")
        if r.span.line < 1 or r.span.column < 1:
            raise Finding(f"{r.code} at {r.span.line}:{r.span.column}")
        if _PLACEHOLDER.search(r.message) and "{" not in _source_values(r.message):
            raise Finding(f"{r.code}: unfilled placeholder in {r.message!r}")
    if MARKER.exists():
        raise Finding(f"{MARKER} exists: something was executed")


def _source_values(message: str) -> str:
    # A placeholder-looking text inside quotes comes from the user's input (a string '{name}').
    return "".join(re.findall(r"'[^']*'|\"[^\"]*\"", message))


def check_bytes(data: bytes, file: str = "fuzz.mfile") -> Reporter:
    reporter = Reporter()
    start = time.perf_counter()
    text = decode_source(data, file, reporter)
    if text is not None:
        checker().check_text(text, Path(file), reporter)
    elapsed = time.perf_counter() - start
    if elapsed > SECONDS_PER_INPUT:
        raise Finding(f"check took {elapsed:.1f} s")
    validate(reporter)
    return reporter


def load_header_text(text: str | bytes, directory: Path) -> Reporter:
    from mfile.compiler.headers.loader import load_header

    path = directory / "MantikHeader"
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass"))
    reporter = Reporter()
    start = time.perf_counter()
    header = load_header(path, reporter)
    elapsed = time.perf_counter() - start
    if elapsed > SECONDS_PER_INPUT:
        raise Finding(f"header load took {elapsed:.1f} s")
    if header is None and not reporter.has_errors:
        raise Finding("header refused without an error")
    validate(reporter)
    return reporter


def compile_text(text: str, directory: Path, bash_check: bool = False) -> tuple[int, Reporter]:
    """``mfile compile`` of ``text`` into ``directory/out``; (exit code, reports)."""
    from mfile.cli import UsageError
    from mfile.commands.compile import compile_command

    source = directory / "fuzz.mfile"
    source.write_text(text, encoding="utf-8", errors="surrogatepass")
    out = directory / "out"
    seen = Reporter()

    def emit(reporter: Reporter, sources: dict, fmt: str, stream=None) -> None:
        seen.reports[:] = list(reporter.reports)

    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        try:
            code = compile_command(source, list(ROOTS), "local", [], out, "run-dir", False, "json", emit)
        except UsageError:
            code = 2
    elapsed = time.perf_counter() - start
    if elapsed > SECONDS_PER_INPUT:
        raise Finding(f"compile took {elapsed:.1f} s")
    validate(seen)
    if code == 0:
        for script in sorted(out.glob("*/jobs/*.sbatch")):
            body = script.read_text(encoding="utf-8")
            names = _JOB_NAME.findall(body)
            if len(names) != 1:
                raise Finding(f"{script.name}: job name not sanitised")
            extra = body.split("# sbatch_extra of the task:\n", 1)[1] if "# sbatch_extra of the task:" in body else ""
            for line in extra.splitlines():
                if not line.startswith("#SBATCH "):
                    break
                if not sbatch.classify(line[len("#SBATCH "):]).ok:
                    raise Finding(f"{script.name}: sbatch option outside the allowlist reached the script: {line}")
            if bash_check:
                result = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
                if result.returncode != 0:
                    raise Finding(f"{script.name}: bash -n: {result.stderr}")
        if bash_check:
            for script in sorted(out.glob("*/submit.sh")):
                result = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
                if result.returncode != 0:
                    raise Finding(f"{script}: bash -n: {result.stderr}")
    elif code == 1 and not seen.has_errors:
        raise Finding("compile failed without an error")
    return code, seen


@contextlib.contextmanager
def scratch():
    with tempfile.TemporaryDirectory(prefix="mfile-fuzz-") as tmp:
        yield Path(tmp)
