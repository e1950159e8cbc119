"""Runs a DR process (a generator that yields `Wait`s) on real time: the live driver.

The simulator resumes DR processes on virtual time; here each `Wait(s)` is a real wait of `s`
seconds, cut short when the drill stops. The process is the very code the simulator runs
(`reference_impl`), not a copy of it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

from reference_impl.runtime import Process, Wait

T = TypeVar("T")


class Stopped(Exception):
    """The drill stopped while the process was waiting (the process was closed)."""


def drive(process: Process[T], stop: threading.Event | None = None, *, max_steps: int = 10**7) -> T:
    """Run `process` to its end and return its result. Each wait is a real wait; when `stop`
    is set the process is closed at its next wait and Stopped is raised. Bounded: at most
    `max_steps` waits (a process that never ends outlives no drill)."""
    stop = stop or threading.Event()
    try:
        wait = next(process)
        for _ in range(max_steps):
            if not isinstance(wait, Wait):
                raise TypeError(f"a DR process yielded {wait!r}, not a Wait")
            stopped = stop.wait(wait.seconds) if wait.seconds > 0 else stop.is_set()
            if stopped:
                process.close()
                raise Stopped()
            wait = process.send(None)
    except StopIteration as done:
        result: T = done.value
        return result
    process.close()
    raise RuntimeError(f"a DR process took more than {max_steps} waits")


class ProcessThread:
    """A DR process in a daemon thread; its outcome (result or exception) is kept."""

    def __init__(
        self,
        name: str,
        make: Callable[[], Process[Any]],
        stop: threading.Event,
        on_error: Callable[[BaseException], None] | None = None,
    ) -> None:
        self.name = name
        self._make = make
        self._stop = stop
        self._on_error = on_error
        self.error: BaseException | None = None
        self.result: Any = None
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> ProcessThread:
        self.thread.start()
        return self

    def _run(self) -> None:
        try:
            self.result = drive(self._make(), self._stop)
        except Stopped:
            pass
        except BaseException as err:  # reported, never lost in a thread
            self.error = err
            if self._on_error is not None:
                self._on_error(err)

    def join(self, timeout_s: float) -> bool:
        """True if the thread ended within the timeout."""
        self.thread.join(timeout_s)
        return not self.thread.is_alive()

    @property
    def alive(self) -> bool:
        return self.thread.is_alive()
