"""Typed item parameters: ``configure(params=...)`` values over the header's metaVariables.

The runtime passes the task's params; a payload that asks for a name missing there falls
back to the metaVariable's ``value`` in ``ctx.header``, then to the payload's default. Values
are cast by the metaVariable's declared type so that ``"64"`` from a YAML string and ``64``
from an M-File mean the same thing.
"""

from __future__ import annotations

from typing import Any

from mfile.runtime.context import ItemProblem


class ItemError(ItemProblem):
    """Bad data or parameters met by a payload: the message is what the user reads in the log."""


_INTS = {"int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"}
_FLOATS = {"float32", "float64"}


def _meta(ctx: Any) -> dict[str, dict[str, Any]]:
    header = getattr(ctx, "header", None) or {}
    found: dict[str, dict[str, Any]] = {}
    for entry in header.get("metaVariables") or []:
        if isinstance(entry, dict) and "name" in entry:
            found[str(entry["name"])] = entry
    return found


def _cast(name: str, value: Any, type_name: str | None) -> Any:
    if type_name is None or value is None:
        return value
    try:
        if type_name in _INTS:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError
            return int(value)
        if type_name in _FLOATS:
            return float(value)
        if type_name == "bool":
            if isinstance(value, str):
                return value.strip().lower() in ("1", "true", "yes", "on")
            return bool(value)
        if type_name == "string":
            return str(value)
    except (TypeError, ValueError):
        raise ItemError(f"parameter {name!r} must be {type_name}, got {value!r}") from None
    return value


def param(params: dict[str, Any], ctx: Any, name: str, default: Any = None) -> Any:
    """The value of ``name``: the task's params, else the header's metaVariable, else ``default``."""
    meta = _meta(ctx).get(name)
    type_name = str(meta["type"]) if meta and "type" in meta else None
    if name in params and params[name] is not None:
        return _cast(name, params[name], type_name)
    if meta is not None and meta.get("value") is not None:
        return _cast(name, meta["value"], type_name)
    return default


def param_list(params: dict[str, Any], ctx: Any, name: str, default: str = "") -> list[str]:
    """A comma-separated parameter (``"a, b"``) as a list of names; ``""`` is the empty list."""
    raw = param(params, ctx, name, default)
    if raw is None:
        return []
    if isinstance(raw, (list, tuple)):
        return [str(x).strip() for x in raw if str(x).strip()]
    return [part.strip() for part in str(raw).split(",") if part.strip()]


def choice(params: dict[str, Any], ctx: Any, name: str, options: tuple[str, ...], default: str) -> str:
    value = str(param(params, ctx, name, default))
    if value not in options:
        raise ItemError(f"parameter {name!r} must be one of {', '.join(options)}, got {value!r}")
    return value
