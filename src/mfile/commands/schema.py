"""``mfile schema header``: the JSON Schema of a MantikHeader, for editors (docs/editors.md)."""

from __future__ import annotations

import json
import sys
from typing import TextIO

from mfile.compiler.headers.schema import SCHEMAS
from mfile.errors import UsageError


def schema_command(what: str, out: TextIO | None = None) -> int:
    build = SCHEMAS.get(what)
    if build is None:
        raise UsageError(f"no schema {what!r}; known: {', '.join(SCHEMAS)}")
    (out or sys.stdout).write(json.dumps(build(), indent=2) + "\n")
    return 0
