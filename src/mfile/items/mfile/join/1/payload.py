"""mfile/join: align inputs on coordinates (inner/outer) and merge their columns."""

from __future__ import annotations

import re
from typing import Any

import xarray as xr

from mfile.itemlib.data import sample_dim, with_sample_dim
from mfile.itemlib.params import ItemError, choice, param_list


def _ports(inputs: dict[str, Any]) -> list[str]:
    ports = sorted((int(m.group(1)), k) for k in inputs if (m := re.fullmatch(r"input_(\d+)", k)))
    return [k for _, k in ports]


def apply(inputs: dict[str, Any], params: dict[str, Any], ctx: Any) -> xr.Dataset:
    ports = _ports(inputs)
    if not ports:
        raise ItemError("join: no inputs input_0, input_1, ...")
    how = choice(params, ctx, "how", ("inner", "outer"), "inner")
    datasets = [inputs[p] for p in ports]
    owner: dict[str, str] = {}
    for port, ds in zip(ports, datasets):
        for name in map(str, ds.data_vars):
            if name in owner:
                raise ItemError(f"join: column {name!r} is in both {owner[name]} and {port}; rename one of them before joining")
            owner[name] = port
    on = param_list(params, ctx, "on")
    shared = set.intersection(*(set(map(str, ds.dims)) for ds in datasets))
    if on:
        for port, ds in zip(ports, datasets):
            missing = [c for c in on if c not in ds.coords]
            if missing:
                raise ItemError(f"join: {port} has no coordinate {missing} to join on (coordinates: {sorted(map(str, ds.coords))})")
    else:
        on = sorted(shared)
        if not on:
            raise ItemError("join: the inputs share no dimension to join on")
    every_dim = set.union(*(set(map(str, ds.dims)) for ds in datasets))
    try:
        aligned = xr.align(*datasets, join=how, exclude=sorted(every_dim - set(on)))
        merged = xr.merge(aligned, join="exact", compat="no_conflicts", combine_attrs="drop_conflicts")
    except ValueError as err:
        raise ItemError(f"join: the inputs disagree outside the join coordinates {on}: {err}") from None
    dim = sample_dim(datasets[0])
    if dim in on and merged.sizes.get(dim, 0) == 0:
        raise ItemError(f"join: the {how} join on {on} leaves no sample (the inputs share no {dim!r} values)")
    ctx.log(f"join ({how} on {', '.join(on)}): {len(ports)} inputs, {len(merged.data_vars)} columns")
    return with_sample_dim(merged, dim)
