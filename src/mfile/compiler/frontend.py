"""``mfile check``: every check the compiler makes, over files and directories.

One process checks any number of files with one parser and one item catalogue per item-root
list (CI lint of a large repository must not start a process per file).
"""

from __future__ import annotations

import gc
from dataclasses import dataclass, field
from pathlib import Path

from mfile.compiler.headers.catalog import ItemCatalog
from mfile.compiler.lower import lower
from mfile.compiler.messages import NoPipelines, UnknownPipeline
from mfile.compiler.program import build_program
from mfile.compiler.scope import resolve
from mfile.compiler.typer import Typer
from mfile.diagnostics import (
    Reporter,
    Severity,
    Span,
    SymlinkOutsideSkipped,
    UnreadableFile,
    did_you_mean,
)
from mfile.mfile_grammar.parser import parse
from mfile.mfile_grammar.source import read_source
from mfile.plan import ir

SUFFIX = ".mfile"


@dataclass
class CheckResult:
    reporter: Reporter = field(default_factory=Reporter)
    sources: dict[str, str] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    programs: dict[str, ir.Program] = field(default_factory=dict)

    def summary(self) -> str:
        counts = {s: 0 for s in Severity}
        for r in self.reporter.reports:
            counts[r.severity] += 1
        n = len(self.files)
        return (
            f"{n} file{'s' if n != 1 else ''} checked: {counts[Severity.ERROR]} error(s), "
            f"{counts[Severity.WARNING]} warning(s)"
        )


def item_roots_for(file: Path, roots: list[Path]) -> list[Path]:
    """``--items`` roots, then an ``items/`` directory beside the M-File (if there is one)."""
    beside = file.parent / "items"
    return [*roots, beside] if beside.is_dir() and beside not in roots else list(roots)


class Checker:
    """Reusable across files: caches item catalogues per root list."""

    def __init__(self, roots: list[Path]) -> None:
        self.roots = roots
        self.catalogs: dict[tuple[Path, ...], ItemCatalog] = {}

    def catalog(self, file: Path) -> ItemCatalog:
        key = tuple(item_roots_for(file, self.roots))
        if key not in self.catalogs:
            beside = [root for root in key[len(self.roots):]]  # an items/ folder beside the M-File
            self.catalogs[key] = ItemCatalog(list(key[: len(self.roots)]), beside=beside)
        return self.catalogs[key]

    def check_text(self, text: str, file: Path, reporter: Reporter) -> ir.Program | None:
        name = str(file)
        module = parse(text, name, reporter)
        if module is None:
            return None
        resolve(module, reporter)
        typer = Typer(reporter)
        lowered = lower(module, self.catalog(file), reporter, typer)
        return build_program(lowered, name, text, reporter, typer)

    def check_file(self, file: Path, result: CheckResult) -> None:
        name = str(file)
        result.files.append(name)
        text = read_source(file, result.reporter)
        if text is None:
            return
        result.sources[name] = text
        program = self.check_text(text, file, result.reporter)
        if program is not None:
            result.programs[name] = program


def expand(paths: list[Path], reporter: Reporter, follow_symlinks: bool = False) -> list[Path]:
    """Files as given; directories searched recursively for ``*.mfile`` (sorted).

    In a directory (a pull request's checkout in CI), a file that is a symbolic link to
    something outside the directory is skipped with a warning (E904) unless
    ``follow_symlinks``: a link named ``a.mfile`` to a credentials file would otherwise have its
    lines printed in the diagnostics, into CI logs."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            files = sorted(p for p in path.rglob(f"*{SUFFIX}") if p.is_file())
            if not files:
                reporter.report(
                    UnreadableFile, Span.whole_file(str(path)), path=str(path), reason=f"no {SUFFIX} files in this directory"
                )
            if not follow_symlinks:
                files = [f for f in files if _within(f, path, reporter)]
            found.extend(files)
        else:
            found.append(path)
    return found


def _within(file: Path, directory: Path, reporter: Reporter) -> bool:
    try:
        inside = file.resolve().is_relative_to(directory.resolve())
    except (OSError, RuntimeError):  # a symlink loop
        inside = False
    if not inside:
        reporter.report(SymlinkOutsideSkipped, Span.whole_file(str(file)), path=str(file), directory=str(directory))
    return inside


def check_paths(paths: list[Path], roots: list[Path], follow_symlinks: bool = False) -> CheckResult:
    result = CheckResult()
    checker = Checker(roots)
    for file in expand(paths, result.reporter, follow_symlinks):
        check_file_guarded(checker, file, result)
    return result


def check_file_guarded(checker: Checker, file: Path, result: CheckResult) -> None:
    # Parsing allocates many small objects; pausing the collector keeps it linear.
    enabled = gc.isenabled()
    gc.disable()
    try:
        checker.check_file(file, result)
    finally:
        if enabled:
            gc.enable()


def check_source(text: str, file: str = "<string>", roots: list[Path] | None = None) -> Reporter:
    """Check M-File text (tests and benchmarks); returns the reporter."""
    reporter = Reporter()
    Checker(roots or []).check_text(text, Path(file), reporter)
    return reporter


def front_end(file: Path, roots: list[Path]) -> tuple[CheckResult, ir.Program | None]:
    """Parse, resolve, lower, type: the IR, or None when the M-File has errors."""
    result = CheckResult()
    check_file_guarded(Checker(roots), file, result)
    program = result.programs.get(str(file))
    if result.reporter.has_errors:
        return result, None
    return result, program


def select_pipelines(
    program: ir.Program, wanted: list[str], reporter: Reporter, file: Path
) -> list[ir.Pipeline]:
    names = [p.name for p in program.pipelines]
    if not names:
        reporter.report(NoPipelines, Span.whole_file(str(file)))
        return []
    chosen = []
    for name in wanted or names:
        if name not in names:
            reporter.report(
                UnknownPipeline, Span.whole_file(str(file)), name=name,
                suggestion=did_you_mean(name, names), available=", ".join(names),
            )  # fmt: skip
            continue
        chosen.append(next(p for p in program.pipelines if p.name == name))
    return chosen
