"""Slurm's units, once: walltimes (``[D-]HH:MM:SS`` and its short forms) and memory sizes.

Headers, ``configure(resources=...)``, profiles, codegen and the budget table all read times
and sizes through these functions, so a value means the same wherever it is written.
"""

from __future__ import annotations

import math
import re

# Slurm's --time forms: M, M:S, H:M:S, D-H, D-H:M, D-H:M:S.
_TIME = re.compile(r"^(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?$")
_MEMORY = re.compile(r"^(\d+)\s*([KMGT]?)B?$", re.IGNORECASE)
_MB_PER_UNIT = {"": 1, "K": 1 / 1024, "M": 1, "G": 1024, "T": 1024 * 1024}


def time_parts(text: str) -> tuple[int, int, int, int] | None:
    """(days, hours, minutes, seconds) as written in one of Slurm's forms; None if not one."""
    m = _TIME.fullmatch(text.strip()) if isinstance(text, str) else None
    if not m:
        return None
    days, a, b, c = m.groups()
    if days is None:
        if b is None:
            return 0, 0, int(a), 0
        if c is None:
            return 0, 0, int(a), int(b)
        return 0, int(a), int(b), int(c)
    return int(days), int(a), int(b or 0), int(c or 0)


def parse_time(text: str) -> int | None:
    """Slurm's time formats -> seconds; None if invalid or zero."""
    parts = time_parts(text)
    if parts is None:
        return None
    days, hours, minutes, secs = parts
    seconds = ((days * 24 + hours) * 60 + minutes) * 60 + secs
    return seconds if seconds > 0 else None


def clock_error(text: str) -> str | None:
    """Why a written ``[D-]H:MM:SS`` is out of range (minutes and seconds < 60, hours < 24 after a day)."""
    parts = time_parts(text)
    if parts is None:
        return None
    days, hours, minutes, secs = parts
    has_hours = "-" in text or text.count(":") == 2
    if has_hours and (minutes > 59 or secs > 59) or "-" in text and hours > 23:
        return f"{text!r} is not a valid time (minutes and seconds < 60, hours < 24 after a day count)"
    return None


def format_time(seconds: int) -> str:
    """Seconds -> ``[D-]HH:MM:SS`` (what the scripts carry, whatever the user wrote)."""
    days, rest = divmod(seconds, 86400)
    text = f"{rest // 3600:02d}:{rest % 3600 // 60:02d}:{rest % 60:02d}"
    return f"{days}-{text}" if days else text


def parse_memory(text: str) -> int | None:
    """``64G``, ``512M``, ``1T``, ``800`` (MB, Slurm's default unit) -> MB; None if invalid."""
    m = _MEMORY.fullmatch(text.strip()) if isinstance(text, str) else None
    if not m:
        return None
    mb = math.ceil(int(m.group(1)) * _MB_PER_UNIT[m.group(2).upper()])
    return mb if mb > 0 else None


def memory_parts(text: str) -> tuple[int, str] | None:
    """(number, unit letter or "") as written; None if not a size."""
    m = _MEMORY.fullmatch(text.strip()) if isinstance(text, str) else None
    return (int(m.group(1)), m.group(2).upper()) if m else None
