"""``mfile lsp``: the language server for editors, over stdio (docs/editors.md)."""

from __future__ import annotations

from mfile.errors import UsageError


def lsp_command() -> int:
    try:
        from mfile.lsp.server import serve  # pygls is an optional extra: mfile[lsp]
    except ImportError as exc:
        raise UsageError(f"mfile lsp needs pygls ({exc}): pip install 'mfile[lsp]'") from None
    serve()
    return 0
