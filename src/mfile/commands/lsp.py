"""``mfile lsp``: the language server for editors, over stdio (docs/editors.md).

The server (``mfile.lsp``) sits below the commands; what it needs from this floor, the project
file and the site checks of ``mfile check --profile``, it is handed as ``project_settings``.
"""

from __future__ import annotations

from pathlib import Path

from mfile.codegen.profile import ProfileError, load_profile
from mfile.commands.site import check_site
from mfile.commands.config import find_config
from mfile.compiler.frontend import CheckResult
from mfile.errors import UsageError
from mfile.lsp.analysis import SiteCheck


def project_settings(path: Path, roots: list[Path] | None, profile: str | None) -> tuple[list[Path], SiteCheck | None]:
    """Item roots and site check for an M-File: the client's (as flags), else the project
    file's. Raises UsageError for a broken project file or an unknown profile."""
    config = find_config(path)
    chosen = config.profile_or(profile, None)
    if chosen is None:
        return (roots if roots is not None else list(config.items)), None
    try:
        site = load_profile(chosen)
    except ProfileError as exc:
        raise UsageError(str(exc)) from None

    def site_check(result: CheckResult) -> None:
        check_site(result, site)

    return (roots if roots is not None else list(config.items)), site_check


def lsp_command(debug: bool = False) -> int:
    try:
        from mfile.lsp.server import serve  # pygls is an optional extra: mfile[lsp]
    except ImportError as exc:
        raise UsageError(f"mfile lsp needs pygls ({exc}): pip install 'mfile[lsp]'") from None
    serve(project_settings, debug=debug)
    return 0
