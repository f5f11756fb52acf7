"""Who could have planted what: ownership checks for run directories and output roots on a
shared file system, and opens that never follow a symbolic link (docs/security.md, "Shared
file systems").

On JUWELS ``$SCRATCH`` and ``$PROJECT`` are shared by a project group: another member can
create ``OUT/<pipeline>/`` before the victim does, fill it with completion records, data and
symlinks, and wait. So a run directory is trusted only when it, and the directories mfile
reads state from inside it, are the current user's own and writable by nobody else. A user
who shares a run directory on purpose says so (``--trust-shared-dir``) and gets a warning
that names the risk. Inside a run directory nothing is reached through a symlink: paths are
checked component by component with ``lstat`` and files are created with
``O_NOFOLLOW | O_EXCL``.
"""

from __future__ import annotations

import os
import pwd
import stat
import sys
import uuid
from pathlib import Path
from typing import IO

from mfile.errors import UsageError

# The directories of a run directory that hold state someone else could forge.
STATE_DIRS = ("state", "data", "logs", "jobs")
RISK = ("anyone who can write there can plant completion records, outputs or symlinks "
        "that mfile and your jobs would trust")


class UntrustedDir(UsageError):
    """A run directory or output root that someone other than the user controls."""


def _owner(uid: int) -> str:
    try:
        return f"{pwd.getpwuid(uid).pw_name} (uid {uid})"
    except KeyError:
        return f"uid {uid}"


def problem(path: Path, *, root: bool = False) -> str | None:
    """Why ``path`` is not safe to trust, or None.

    A run directory (and its state directories) must be a real directory of the current
    user that neither group nor others can write. An output root (``root=True``) may also be
    a root-owned sticky directory such as ``/tmp``: there nobody can move or replace the
    user's own entries, and an entry someone else made is refused when it is checked itself.
    """
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        return f"cannot be inspected ({exc.strerror or exc})"
    if stat.S_ISLNK(st.st_mode):
        return "is a symbolic link"
    if not stat.S_ISDIR(st.st_mode):
        return "is not a directory"
    me = os.geteuid()
    sticky = bool(st.st_mode & stat.S_ISVTX)
    if root and sticky and st.st_uid in (me, 0):
        return None
    if st.st_uid != me:
        return f"belongs to {_owner(st.st_uid)}, not to you"
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        who = "its group and others" if st.st_mode & stat.S_IWOTH and st.st_mode & stat.S_IWGRP else (
            "others" if st.st_mode & stat.S_IWOTH else "its group")
        return f"can be written by {who} (mode {stat.S_IMODE(st.st_mode):04o})"
    return None


def check_run_dir(run_dir: Path, *, trust_shared: bool = False, out: IO[str] | None = None) -> None:
    """Refuse (UntrustedDir, exit 2) a run directory someone else controls; with
    ``trust_shared`` print a warning that names the risk and go on."""
    found = []
    why = problem(run_dir)
    if why:
        found.append(f"{run_dir} {why}")
    else:
        for name in STATE_DIRS:
            why = problem(run_dir / name)
            if why:
                found.append(f"{run_dir / name} {why}")
    _verdict(found, trust_shared, out)


def check_output_root(out_dir: Path, *, trust_shared: bool = False, out: IO[str] | None = None) -> None:
    """The ``-o`` directory: someone who may write it can rename the run directory away and put
    their own in its place between two mfile commands."""
    why = problem(out_dir, root=True)
    _verdict([f"the output directory {out_dir} {why}"] if why else [], trust_shared, out)


def _verdict(found: list[str], trust_shared: bool, out: IO[str] | None) -> None:
    if not found:
        return
    if not trust_shared:
        raise UntrustedDir(
            f"{found[0]}; refusing to use it: {RISK}. Compile to a directory of your own "
            "(mkdir -m 700), or pass --trust-shared-dir if you share it on purpose"
        )
    for line in found:
        print(f"mfile: warning: {line}; trusted because of --trust-shared-dir: {RISK}", file=out or sys.stderr)


def inside(base: Path, rel: Path | str) -> bool:
    """True when ``base/rel`` exists and no component after ``base`` is a symbolic link."""
    path = base
    for part in Path(rel).parts:
        if part in ("", ".", ".."):
            return False
        path = path / part
        try:
            st = os.lstat(path)
        except OSError:
            return False
        if stat.S_ISLNK(st.st_mode):
            return False
    return True


def no_symlink_on_the_way(base: Path, rel: Path | str) -> bool:
    """True when no existing component of ``base/rel`` after ``base`` is a symbolic link
    (missing components are fine: they will be created as directories)."""
    path = base
    for part in Path(rel).parts:
        path = path / part
        try:
            if stat.S_ISLNK(os.lstat(path).st_mode):
                return False
        except FileNotFoundError:
            return True
        except OSError:
            return False
    return True


def open_new(path: Path, mode: int = 0o666) -> int:
    """Create ``path`` for writing; fails if anything (a symlink included) is already there."""
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0), mode)


def write_atomic(path: Path, text: str, mode: int = 0o666) -> None:
    """Write ``text`` to a fresh temporary name beside ``path`` (never through a planted
    symlink), then rename it over ``path`` (a rename replaces a symlink, never its target)."""
    tmp = path.parent / f".{path.name}.tmp-{uuid.uuid4().hex[:12]}"
    fd = open_new(tmp, mode)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def open_lock(path: Path) -> int:
    """Open (or create) a lock file without following a symlink and without truncating."""
    return os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0), 0o666)
