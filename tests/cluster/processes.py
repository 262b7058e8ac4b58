"""Daemons of the test cluster: started detached with a pid file and a log, stopped by pid file."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from tests.cluster.layout import Layout


class ClusterError(Exception):
    """Something the cluster needs did not happen; the message says what and where to look."""


def running_pid(layout: Layout, name: str) -> int | None:
    """The pid of ``name`` if its pid file names a live process running that program (a process
    still in exec shows an empty command line for a moment: it counts as running)."""
    try:
        pid = int(layout.pid_file(name).read_text())
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode()
    except (FileNotFoundError, ValueError, ProcessLookupError):
        return None
    if not _alive(pid):
        return None
    return pid if not command or Path(command).name == name or name in command else None


def start(layout: Layout, name: str, command: list[str], environment: dict[str, str] | None = None) -> int:
    """Start ``command`` in its own session unless it already runs; return its pid."""
    pid = running_pid(layout, name)
    if pid is not None:
        return pid
    log = layout.log_file(name).open("ab")
    process = subprocess.Popen(
        command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        env={**os.environ, "PATH": f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin", **(environment or {})},
    )
    log.close()
    layout.pid_file(name).write_text(str(process.pid))
    return process.pid


def stop(layout: Layout, name: str, grace_seconds: float = 20.0) -> None:
    """SIGTERM, then SIGKILL after ``grace_seconds``; the pid file goes either way."""
    pid = running_pid(layout, name)
    if pid is not None:
        _terminate(pid, grace_seconds)
    layout.pid_file(name).unlink(missing_ok=True)


def _terminate(pid: int, grace_seconds: float) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    if not wait_for(lambda: not _alive(pid), grace_seconds):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        wait_for(lambda: not _alive(pid), 10)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def kill_matching(fragment: str) -> list[int]:
    """Kill every process whose command line contains ``fragment`` (left-over shims); their pids."""
    killed = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        if fragment in command:
            try:
                os.kill(int(entry.name), signal.SIGKILL)
                killed.append(int(entry.name))
            except ProcessLookupError:
                pass
    for pid in killed:
        wait_for(lambda pid=pid: not _alive(pid), 10)
    return killed


def wait_for(condition: Callable[[], bool], timeout_seconds: float, interval: float = 0.2) -> bool:
    """Poll ``condition`` until it holds or the time is up; whether it held."""
    deadline = time.monotonic() + timeout_seconds
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def require(layout: Layout, name: str, condition: Callable[[], bool], timeout_seconds: float, what: str) -> None:
    """Wait for ``condition``; if it never holds, fail with the component's last log lines."""
    if wait_for(lambda: condition() or running_pid(layout, name) is None, timeout_seconds) and condition():
        return
    state = "exited" if running_pid(layout, name) is None else "still running"
    tail = _tail(layout.log_file(name), 15)
    raise ClusterError(f"{name} ({state}) did not become {what} within {timeout_seconds:.0f} s; "
                       f"its log is {layout.log_file(name)}:\n{tail}")


def _tail(path: Path, lines: int) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"
