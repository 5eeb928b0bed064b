"""CPU time and resident memory of a process and its descendants, from /proc (Linux). The
bench divides CPU seconds by operations to say which process a lifecycle's cost lives in:
on a machine with N cores, throughput can't exceed N / (CPU seconds per operation)."""

from __future__ import annotations

import os
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def _stat(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name (field 2) may contain spaces; everything after its ')' is fixed.
    return raw[raw.rindex(")") + 2 :].split()


def tree(pid: int) -> list[int]:
    """``pid`` and every live descendant (PostgreSQL's backends, uvicorn's workers)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))) is not None:
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def cpu_seconds(pid: int) -> float:
    """User + system CPU of the tree, including its reaped children (fields 14-17)."""
    total = 0
    for p in tree(pid):
        if (fields := _stat(p)) is not None:
            # utime + stime, and cutime + cstime: children that already exited (a backend
            # whose connection closed) were reaped by their parent and count there.
            total += sum(int(f) for f in fields[11:15])
    return total / _TICKS


def rss_bytes(pid: int) -> int:
    total = 0
    for p in tree(pid):
        if (fields := _stat(p)) is not None:
            total += int(fields[21]) * _PAGE
    return total


def child_running(fragment: str) -> int | None:
    """The pid of this process's child whose command line contains ``fragment`` (the bench's
    bare worker, started by bench.floors without handing its pid out)."""
    me = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or (fields := _stat(int(entry.name))) is None:
            continue
        if int(fields[1]) != me:
            continue
        try:
            argv = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if fragment in argv:
            return int(entry.name)
    return None
