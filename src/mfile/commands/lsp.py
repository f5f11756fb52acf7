"""``mfile lsp``: the language server for editors, over stdio (docs/editors.md)."""

from __future__ import annotations

from pathlib import Path

from mfile.commands.config import find_config
from mfile.errors import UsageError


def project_roots(path: Path) -> list[Path]:
    """Item roots from the project file above an M-File (UsageError when it is broken)."""
    return list(find_config(path).items)


def lsp_command() -> int:
    try:
        from mfile.lsp.server import serve  # pygls is an optional extra: mfile[lsp]
    except ImportError as exc:
        raise UsageError(f"mfile lsp needs pygls ({exc}): pip install 'mfile[lsp]'") from None
    serve(project_roots)
    return 0
