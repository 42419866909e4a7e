"""Who drives a batch, and whether that driver is still there.

A `nianbao batch` process drives its batch: nobody else reads the files it registered by path
(SQLite) or moves them into the queue (PostgreSQL). Killed (SIGKILL, a closed terminal, a lost
machine), it cannot say so; whoever looks next decides from what it recorded:

- on the same host, the process is gone when its pid is gone, or when that pid now belongs to
  another process (pids are reused): the start token is the boot id and the process's start time
  (/proc), which a new process under the same pid does not share;
- on another host (or without /proc), when its heartbeat, renewed every HEARTBEAT_SECONDS, is
  older than STALE_SECONDS.

A live driver is never taken for dead: its pid and token match, and its heartbeat is fresh.
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

HEARTBEAT_SECONDS = 5.0
# A heartbeat older than this (on another host) means the driver is gone: twelve missed beats.
STALE_SECONDS = 60.0

_PROC = Path("/proc")
# Where /proc is missing, a token unique to this process (it cannot be checked for another pid).
_FALLBACK_TOKEN = "run:" + uuid.uuid4().hex


@dataclass(frozen=True)
class Driver:
    host: str
    pid: int
    token: str


def this_process() -> Driver:
    """This process, as a batch records its driver."""
    pid = os.getpid()
    return Driver(host=hostname(), pid=pid, token=start_token(pid) or _FALLBACK_TOKEN)


def hostname() -> str:
    return socket.gethostname()[:255]


def start_token(pid: int) -> str | None:
    """`proc:<boot id>:<start time in clock ticks since boot>` of the process, None when it does
    not exist (or has exited and waits to be reaped) or there is no /proc to ask."""
    try:
        boot = (_PROC / "sys" / "kernel" / "random" / "boot_id").read_text().strip()
        stat = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: count fields after the last ')'.
    fields = stat.rsplit(")", 1)[-1].split()
    if len(fields) <= 19 or fields[0] in ("Z", "X"):
        return None  # a zombie (killed, not yet reaped by its parent) is gone too
    return f"proc:{boot}:{fields[19]}"


def alive(host: str | None, pid: int | None, token: str | None, heartbeat_at: datetime | None,
          now: datetime) -> bool:
    """Whether the recorded driver still runs (see the module docstring)."""
    if pid is None:
        return False
    fresh = heartbeat_at is not None and now - _aware(heartbeat_at) < timedelta(seconds=STALE_SECONDS)
    if host != hostname():
        return fresh
    if token is not None and token.startswith("proc:") and _PROC.joinpath("self").exists():
        return start_token(pid) == token
    return _pid_exists(pid) and fresh


def _pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: it exists
    return True


def _aware(moment: datetime) -> datetime:
    """SQLite hands datetimes back without their zone; they were stored in UTC."""
    from datetime import UTC

    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
