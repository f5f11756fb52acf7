"""The one base of every model in the plan contract (IR, types, plan.json, profiles)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Frozen(BaseModel):
    """Immutable and strict: an unknown field in plan.json or a profile is an error, not ignored."""

    model_config = ConfigDict(frozen=True, extra="forbid")
