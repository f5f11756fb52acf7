"""The ``mfile`` command line: check | compile | submit | run | status | graph | items | schema | lsp.

Exit codes (DESIGN.md): 0 clean, 1 the M-File (or plan) has errors, 2 usage error or a
fault of ours. No traceback reaches a user unless ``--debug`` is given. Only click lives
here: each command parses its arguments and calls its module in ``mfile.commands``.

Commands are imported when they run, not with this module: ``mfile check`` must not load
codegen, jinja2 or the Slurm layer that ``compile``, ``submit`` and ``status`` need.
"""

from __future__ import annotations

import functools
import os
import sys
import traceback
from pathlib import Path
from typing import Any, Callable

import click

from mfile import __version__
from mfile.commands.config import ProjectConfig, find_config
from mfile.commands.report import EXIT_FAULT, EXIT_OK, emit_reports
from mfile.diagnostics import FORMATS, terminal_safe
from mfile.errors import UsageError


def _guarded(command: Callable[..., int]) -> Callable[..., None]:
    """Turn a command's return value into the exit code; faults become one line (exit 2)."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        debug = click.get_current_context().find_root().params.get("debug", False)
        try:
            code = command(*args, **kwargs)
        except UsageError as exc:
            click.echo(f"mfile: error: {terminal_safe(str(exc))}", err=True)  # paths are user text
            sys.exit(EXIT_FAULT)
        except KeyboardInterrupt:
            click.echo("mfile: interrupted", err=True)
            sys.exit(130)
        except BrokenPipeError:
            # The reader went away (`mfile check . | head`): not a fault; exit as SIGPIPE would,
            # with stdout on /dev/null so the interpreter's final flush stays quiet too.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(141)
        except (click.exceptions.Exit, click.ClickException, SystemExit):
            raise
        except BaseException as exc:  # a fault of ours: one line, traceback only on request
            if debug:
                traceback.print_exc()
            else:
                click.echo(
                    f"mfile: internal error: {type(exc).__name__}: {terminal_safe(str(exc))} "
                    "(run with --debug for the traceback, and please report it)",
                    err=True,
                )
            sys.exit(EXIT_FAULT)
        sys.exit(code or EXIT_OK)

    return wrapper


def _project(start: Path) -> ProjectConfig:
    """The project file (mfile.toml or [tool.mfile]) above ``start``; flags override what it says."""
    return find_config(start)


items_option = click.option(
    "--items",
    "items",
    multiple=True,
    metavar="DIR",
    help="An item root (repeatable); searched before $MFILE_ITEMS_PATH and the built-in items. "
    "Default: items in the project file (mfile.toml or [tool.mfile] in pyproject.toml).",
)


class _Group(click.Group):
    """Usage errors (unknown option, missing argument, bad choice) as one line, exit 2."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["standalone_mode"] = False
        try:
            return super().main(*args, **kwargs)
        except click.UsageError as exc:
            where = exc.ctx.command_path if exc.ctx is not None else "mfile"
            click.echo(f"mfile: error: {exc.format_message()} (see `{where} --help`)", err=True)
            sys.exit(EXIT_FAULT)
        except click.ClickException as exc:
            click.echo(f"mfile: error: {exc.format_message()}", err=True)
            sys.exit(exc.exit_code)
        except click.exceptions.Abort:
            click.echo("mfile: interrupted", err=True)
            sys.exit(130)


trust_option = click.option(
    "--trust-shared-dir", "trust_shared", is_flag=True,
    help="Use a run directory or output directory that others own or can write (they could plant "
         "records, outputs and symlinks that mfile and your jobs would trust).",
)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mfile")
@click.option("--debug", is_flag=True, help="Show tracebacks of internal errors.")
def main(debug: bool) -> None:
    """Compile M-File ML workflows into Slurm batch jobs (or run them on this machine)."""


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@items_option
@click.option("--profile", default=None, help="Also check resources against this site profile (E4xx). Default: the project file's.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True)
@click.option("--follow-symlinks", is_flag=True,
              help="In directories, also check *.mfile links to files outside the directory (skipped by default).")
@_guarded
def check(files: tuple[Path, ...], items: tuple[str, ...], profile: str | None, fmt: str, follow_symlinks: bool) -> int:
    """Lint M-Files (directories are searched for *.mfile). Exit 0 clean, 1 errors."""
    from mfile.commands.check import check_command  # see "Commands are imported" above

    project = _project(files[0])
    return check_command(list(files), project.item_roots(items), fmt, emit_reports, project.profile_or(profile, None),
                         follow_symlinks=follow_symlinks)


@main.command("compile")
@click.argument("file", type=click.Path(path_type=Path))
@items_option
@click.option("--profile", default=None, help="Site profile name or a path to a TOML file. Default: the project file's, else local.")
@click.option("--pipeline", "pipelines", multiple=True, metavar="P", help="Pipeline to compile (default: all).")
@click.option("-o", "--output", "out", type=click.Path(path_type=Path), default=None, help="Default: the project file's output, else runs.")
@click.option("--emit", type=click.Choice(["run-dir", "ir"]), default="run-dir", show_default=True)
@click.option("--force", is_flag=True, help="Replace completed outputs and records in an existing run directory.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True)
@trust_option
@_guarded
def compile_(
    file: Path,
    items: tuple[str, ...],
    profile: str | None,
    pipelines: tuple[str, ...],
    out: Path | None,
    emit: str,
    force: bool,
    fmt: str,
    trust_shared: bool,
) -> int:
    """Compile an M-File into run directories OUT/<pipeline> (or print the IR)."""
    from mfile.commands.compile import compile_command  # see "Commands are imported" above

    project = _project(file)
    return compile_command(
        file, project.item_roots(items), project.profile_or(profile, "local"), list(pipelines),
        project.output_or(out, Path("runs")), emit, force, fmt, emit_reports, trust_shared=trust_shared,
    )


@main.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--dry-run", is_flag=True, help="Print every sbatch command; queue nothing.")
@click.option("--resume", is_flag=True, help="Queue only tasks that are not done.")
@click.option("--stage", default=None, metavar="S", help="Queue only this stage and what it needs.")
@trust_option
@_guarded
def submit(run_dir: Path, dry_run: bool, resume: bool, stage: str | None, trust_shared: bool) -> int:
    """Queue a compiled run directory on Slurm; prints job ids."""
    from mfile.commands.submit import submit_command  # see "Commands are imported" above

    return submit_command(run_dir, dry_run=dry_run, resume=resume, stage=stage, trust_shared=trust_shared)


@main.command()
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--pipeline", default=None, metavar="P", help="Pipeline to run (may be left out when the file defines one).")
@items_option
@click.option("-o", "--output", "out", type=click.Path(path_type=Path), default=None, help="Default: the project file's output, else runs.")
@click.option("--resume/--no-resume", default=True, show_default=True, help="Skip tasks whose completion record matches.")
@click.option("-j", "--jobs", default=None, type=int, help="Concurrent tasks (default: cores).")
@click.option("--stage", default=None, metavar="S", help="Run only this stage and what it needs that is not done.")
@trust_option
@_guarded
def run(
    file: Path, pipeline: str | None, items: tuple[str, ...], out: Path | None, resume: bool, jobs: int | None,
    stage: str | None, trust_shared: bool,
) -> int:
    """Compile with the local profile and run the whole plan on this machine (no Slurm)."""
    from mfile.commands.run import run_command  # see "Commands are imported" above

    project = _project(file)
    return run_command(
        file, project.item_roots(items), pipeline, project.output_or(out, Path("runs")), resume, jobs, emit_reports,
        stage, trust_shared=trust_shared,
    )


@main.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--watch", is_flag=True, help="Refresh until every task is final.")
@click.option("--interval", default=5.0, show_default=True, help="Seconds between refreshes with --watch.")
@trust_option
@_guarded
def status(run_dir: Path, watch: bool, interval: float, trust_shared: bool) -> int:
    """Per task: pending / running / completed / failed / cancelled, job id, time, node."""
    from mfile.commands.status import status_command  # see "Commands are imported" above

    return status_command(run_dir, watch=watch, interval=interval, trust_shared=trust_shared)


@main.command()
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--pipeline", default=None, metavar="P", help="Pipeline to draw (may be left out when the file defines one).")
@items_option
@click.option("--format", "fmt", type=click.Choice(["dot", "mermaid"]), default="dot", show_default=True)
@_guarded
def graph(file: Path, pipeline: str | None, items: tuple[str, ...], fmt: str) -> int:
    """Draw a pipeline: tasks, edges labelled with data types, stages as clusters."""
    from mfile.commands.compile import graph_command  # see "Commands are imported" above

    return graph_command(file, _project(file).item_roots(items), pipeline, fmt, emit_reports)


@main.group()
def items() -> None:
    """List and inspect items (MantikHeaders) in the item roots."""


@items.command("list")
@items_option
@_guarded
def items_list(items: tuple[str, ...]) -> int:
    """Every item found, with kind and version."""
    from mfile.commands.items import list_items  # see "Commands are imported" above

    return list_items(_project(Path.cwd()).item_roots(items))


@items.command("show")
@click.argument("name")
@items_option
@_guarded
def items_show(name: str, items: tuple[str, ...]) -> int:
    """An item's header with its types after substitution."""
    from mfile.commands.items import show_item  # see "Commands are imported" above

    return show_item(name, _project(Path.cwd()).item_roots(items))


@main.command()
@click.argument("what", type=click.Choice(["header"]))
@_guarded
def schema(what: str) -> int:
    """Print a JSON Schema: `header` (MantikHeader), for editors' YAML support."""
    from mfile.commands.schema import schema_command  # see "Commands are imported" above

    return schema_command(what)


@main.command()
@click.option("--stdio", is_flag=True, default=True, hidden=True, help="Talk LSP over stdin/stdout (the default).")
@_guarded
def lsp(stdio: bool) -> int:
    """Run the language server (LSP over stdio) for editors: needs `pip install 'mfile[lsp]'`."""
    from mfile.commands.lsp import lsp_command  # see "Commands are imported" above

    return lsp_command(debug=click.get_current_context().find_root().params.get("debug", False))


if __name__ == "__main__":
    # `python -m mfile.cli`: run the imported module's main, so the UsageError that other
    # modules import from mfile.cli is the one _guarded catches (not a __main__ copy).
    from mfile.cli import main as _main

    _main()
