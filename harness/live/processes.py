"""Child processes you can trust to go away: own process group, bounded stop, no orphans.

Every child is started in its own session (so its own process group), which lets a stop reach
the whole tree (an Airflow scheduler's task runners, log servers) and keeps a terminal's Ctrl-C
from reaching it before we are ready. A `ProcessRegistry` stops all of them:

- on normal exit and on exceptions (it is a context manager),
- on Ctrl-C and SIGTERM (while it is entered in the main thread it handles both: it stops the
  children first, then raises KeyboardInterrupt, or SystemExit(143) for SIGTERM),
- at interpreter exit (atexit), for registries never closed,
- and, with `die_with_parent` (the default, via util-linux `setpriv --pdeathsig`), even when
  our own process is killed with SIGKILL: the kernel kills the child when its parent thread
  dies. Start such children from a thread that lives as long as they should (the main one).

A stop sends SIGTERM to the group (and SIGCONT, in case a fault froze it), waits up to
`term_timeout_s`, then SIGKILLs the group and waits up to `kill_timeout_s`. All waits are
bounded.

Ports: `free_port()` binds port 0 on loopback and returns what the kernel chose. The port is
free when returned, but nothing holds it: start the server soon and retry on a bind failure.
"""

from __future__ import annotations

import atexit
import contextlib
import http.client
import os
import shutil
import signal
import socket
import subprocess
import threading
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType, TracebackType
from typing import IO, Any
from urllib.parse import urlsplit

from harness.live import clock

LOOPBACK = "127.0.0.1"


class ReadinessTimeout(TimeoutError):
    """A wait-until-ready ran out of time."""


# Ports ---------------------------------------------------------------------------------------


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port on `host` that was free a moment ago (the kernel's pick for port 0)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def port_is_free(port: int, host: str = LOOPBACK) -> bool:
    """True when nothing listens on `host:port` and it can be bound."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def port_accepts(port: int, host: str = LOOPBACK, timeout_s: float = 0.5) -> bool:
    """True when a TCP connection to `host:port` succeeds."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


# Bounded waits -------------------------------------------------------------------------------


def wait_until(
    predicate: Callable[[], bool],
    timeout_s: float,
    *,
    interval_s: float = 0.02,
    what: str = "condition",
) -> None:
    """Poll `predicate` until it is true; raise ReadinessTimeout after `timeout_s`."""
    deadline = clock.Deadline.after(timeout_s)
    while True:
        if predicate():
            return
        if deadline.expired():
            raise ReadinessTimeout(f"{what} not reached within {timeout_s:.1f} s")
        clock.sleep(min(interval_s, deadline.remaining()))


def http_status(url: str, timeout_s: float = 1.0, method: str = "GET") -> int | None:
    """The HTTP status of `url`, or None when no HTTP answer came (refused, reset, timeout).

    Plain http.client on purpose: it never goes through an HTTP proxy from the environment.
    """
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise ValueError(f"only http:// URLs are probed, got {url!r}")
    conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=timeout_s)
    try:
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        conn.request(method, path)
        response = conn.getresponse()
        response.read()
        return response.status
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


def wait_for_http(
    url: str,
    timeout_s: float,
    *,
    ready: Callable[[int], bool] = lambda status: status < 500,
    is_alive: Callable[[], bool] | None = None,
) -> None:
    """Wait until `url` answers with a status `ready` accepts. `is_alive` (e.g. the server's
    process) cuts the wait short with an error when it turns false."""

    def check() -> bool:
        if is_alive is not None and not is_alive():
            raise ReadinessTimeout(f"{url}: the server exited before it was ready")
        status = http_status(url, timeout_s=min(1.0, max(0.05, timeout_s)))
        return status is not None and ready(status)

    wait_until(check, timeout_s, interval_s=0.05, what=f"{url} ready")


# Processes -----------------------------------------------------------------------------------


def _group_exists(pgid: int) -> bool:
    """True while a live (non-zombie) process is in the group. Zombies are left out: orphans
    are reaped by PID 1, which in some containers takes a second or never happens."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    proc = Path("/proc")
    if not proc.is_dir():
        return True
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        # fields: state, ppid, pgrp, ...
        if len(fields) > 2 and fields[2] == str(pgid) and fields[0] not in ("Z", "X"):
            return True
    return False


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


@dataclass
class ManagedProcess:
    """A child process leading its own process group."""

    name: str
    argv: tuple[str, ...]
    popen: subprocess.Popen[bytes]
    log_path: Path | None
    _stopped: bool = field(default=False, repr=False)
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def pgid(self) -> int:
        # start_new_session=True makes the child the leader of a group with its own pid.
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    @property
    def returncode(self) -> int | None:
        return self.popen.poll()

    def send_signal(self, sig: int) -> None:
        """Signal the whole group (e.g. SIGSTOP to freeze it, SIGCONT to thaw it)."""
        if not self._stopped:
            _signal_group(self.pgid, sig)

    def stop(self, term_timeout_s: float = 5.0, kill_timeout_s: float = 5.0) -> int | None:
        """Stop the whole group: SIGTERM (+SIGCONT), bounded wait, then SIGKILL. Idempotent.
        Returns the leader's exit code (None if it could not be reaped in time)."""
        with self._lock:
            if self._stopped:
                return self.popen.poll()
            if _group_exists(self.pgid) or self.alive():
                _signal_group(self.pgid, signal.SIGTERM)
                _signal_group(self.pgid, signal.SIGCONT)
                self._wait_group(term_timeout_s)
                if _group_exists(self.pgid) or self.alive():
                    _signal_group(self.pgid, signal.SIGKILL)
                    self._wait_group(kill_timeout_s)
            self._stopped = not (_group_exists(self.pgid) or self.alive())
            return self.popen.poll()

    def kill(self) -> None:
        """SIGKILL the group at once (a crash fault); reap the leader with a short bound."""
        _signal_group(self.pgid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=2.0)

    def _wait_group(self, timeout_s: float) -> None:
        deadline = clock.Deadline.after(timeout_s)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=max(0.0, deadline.remaining()))
        # The leader is reaped; other members of the group may still be on their way out.
        while _group_exists(self.pgid) and not deadline.expired():
            clock.sleep(0.01)


_REGISTRIES: weakref.WeakSet[ProcessRegistry] = weakref.WeakSet()
_ATEXIT_LOCK = threading.Lock()
_atexit_installed = False


def _stop_every_registry() -> None:
    for registry in list(_REGISTRIES):
        registry.stop_all()


def _ensure_atexit() -> None:
    global _atexit_installed
    with _ATEXIT_LOCK:
        if not _atexit_installed:
            atexit.register(_stop_every_registry)
            _atexit_installed = True


class ProcessRegistry:
    """Starts child processes and stops all of them, whatever way the run ends."""

    def __init__(
        self,
        *,
        term_timeout_s: float = 5.0,
        kill_timeout_s: float = 5.0,
        die_with_parent: bool = True,
        handle_signals: bool = True,
    ) -> None:
        self.term_timeout_s = term_timeout_s
        self.kill_timeout_s = kill_timeout_s
        self.die_with_parent = die_with_parent
        self.handle_signals = handle_signals
        self._processes: list[ManagedProcess] = []
        self._lock = threading.RLock()
        self._closed = False
        self._previous_handlers: dict[int, Any] = {}
        self._log_files: list[IO[bytes]] = []
        _REGISTRIES.add(self)
        _ensure_atexit()

    # Starting ---------------------------------------------------------------------------------
    def start(
        self,
        argv: Sequence[str],
        *,
        name: str | None = None,
        env: Mapping[str, str] | None = None,
        cwd: Path | str | None = None,
        log_path: Path | None = None,
    ) -> ManagedProcess:
        """Start `argv` in a new session. Output goes to `log_path` (appended), else nowhere."""
        with self._lock:
            if self._closed:
                raise RuntimeError("this process registry is closed")
            command = list(argv)
            setpriv = shutil.which("setpriv")
            on_main_thread = threading.current_thread() is threading.main_thread()
            if self.die_with_parent and setpriv and on_main_thread:
                command = [setpriv, "--pdeathsig", "KILL", "--", *command]
            out: IO[bytes] | int
            if log_path is not None:
                log_path.parent.mkdir(parents=True, exist_ok=True)
                out = log_path.open("ab")
                self._log_files.append(out)
            else:
                out = subprocess.DEVNULL
            popen = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=dict(env) if env is not None else None,
                cwd=cwd,
                start_new_session=True,
                close_fds=True,
            )
            process = ManagedProcess(
                name=name or Path(argv[0]).name,
                argv=tuple(argv),
                popen=popen,
                log_path=log_path,
            )
            self._processes.append(process)
            return process

    @property
    def processes(self) -> tuple[ManagedProcess, ...]:
        with self._lock:
            return tuple(self._processes)

    # Stopping ---------------------------------------------------------------------------------
    def stop_all(self) -> None:
        """Stop every process (newest first). Safe to call more than once, from any thread."""
        with self._lock:
            processes = list(reversed(self._processes))
        # Signal every group first so they shut down in parallel, then wait for each.
        for process in processes:
            if process.alive():
                process.send_signal(signal.SIGTERM)
                process.send_signal(signal.SIGCONT)
        for process in processes:
            process.stop(self.term_timeout_s, self.kill_timeout_s)
        with self._lock:
            for out in self._log_files:
                with contextlib.suppress(OSError):
                    out.close()
            self._log_files.clear()

    def close(self) -> None:
        with self._lock:
            self._closed = True
        self.stop_all()
        self._restore_signal_handlers()

    # Context manager and signals ------------------------------------------------------------
    def __enter__(self) -> ProcessRegistry:
        if self.handle_signals:
            self._install_signal_handlers()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _install_signal_handlers(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous_handlers[sig] = signal.getsignal(sig)
            signal.signal(sig, self._on_signal)

    def _restore_signal_handlers(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for sig, handler in self._previous_handlers.items():
            with contextlib.suppress(ValueError, TypeError):
                signal.signal(sig, handler)
        self._previous_handlers.clear()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.stop_all()
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        raise SystemExit(128 + signum)
