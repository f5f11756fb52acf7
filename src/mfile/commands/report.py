"""What every command shares: exit codes and writing diagnostics in the format asked for."""

from __future__ import annotations

import os
import sys
from typing import Any, Callable

from mfile import __version__
from mfile.diagnostics import Reporter, render

EXIT_OK, EXIT_ERRORS, EXIT_FAULT = 0, 1, 2

# emit_reports, or a stand-in with its signature: (reporter, sources, fmt, stream=stdout).
ReportEmitter = Callable[..., None]


def emit_reports(reporter: Reporter, sources: dict[str, str], fmt: str, stream: Any = None) -> None:
    stream = stream or sys.stdout
    colour = fmt == "text" and stream.isatty() and "NO_COLOR" not in os.environ
    text = render(fmt, reporter.sorted(), sources, __version__, colour=colour)
    if text:
        stream.write(text)
        stream.flush()
