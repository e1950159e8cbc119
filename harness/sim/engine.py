"""A discrete-event loop on virtual time.

The heap holds (time, sequence number, action); the sequence number breaks ties, so two things
due at the same time happen in the order they were scheduled, on every run. Two kinds of things
run on it:

- plain callbacks: the world's own events (a fault starts, a run ends, an object arrives);
- processes: DR generators (`reference_impl.runtime`). A process runs until it yields a
  `Wait`; port calls made meanwhile charge their virtual cost to it (`charge`), and it is
  resumed after the wait plus that cost. Everything a process does in one step happens at the
  step's time, so the history stays in time order; authors yield between calls whose order in
  time matters.

The loop stops at the drill's end: nothing due at or after `end` runs.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from typing import Any

from reference_impl.runtime import Process, Wait

Action = Callable[[], None]
# Called once when a process ends by itself: (its return value, None) or (None, the exception).
OnDone = Callable[[Any, BaseException | None], None]


class Proc:
    """A running process. `tag` is free for the owner (e.g. the DR run it executes)."""

    __slots__ = ("alive", "cost", "gen", "killed", "name", "on_done", "tag")

    def __init__(self, gen: Process[Any], name: str, on_done: OnDone | None, tag: Any) -> None:
        self.gen = gen
        self.name = name
        self.on_done = on_done
        self.tag = tag
        self.alive = True  # its generator can still run
        self.killed = False  # stopped from outside: its on_done never runs
        self.cost = 0.0  # virtual seconds charged by port calls during the current step


class Engine:
    def __init__(self, end: float) -> None:
        self.end = end
        self.t = 0.0
        self.current: Proc | None = None  # the process whose step is running, if any
        self._heap: list[tuple[float, int, Action]] = []
        self._seq = 0

    # The clock (reference_impl.runtime.Clock) ----------------------------------------------
    def now(self) -> float:
        return self.t

    # Callbacks --------------------------------------------------------------------------------
    def at(self, t: float, action: Action) -> None:
        """Run `action` at virtual time t (not before now)."""
        self._seq += 1
        heapq.heappush(self._heap, (t if t > self.t else self.t, self._seq, action))

    def after(self, delay: float, action: Action) -> None:
        self.at(self.t + delay, action)

    # Processes --------------------------------------------------------------------------------
    def spawn(
        self,
        gen: Process[Any],
        name: str,
        *,
        delay: float = 0.0,
        on_done: OnDone | None = None,
        tag: Any = None,
    ) -> Proc:
        """Start a process `delay` seconds from now."""
        proc = Proc(gen, name, on_done, tag)
        self.after(delay, lambda: self._step(proc))
        return proc

    def charge(self, seconds: float) -> None:
        """Charge a port call's virtual cost to the running process (outside one: ignored)."""
        if self.current is not None:
            self.current.cost += seconds

    def kill(self, proc: Proc) -> None:
        """Stop a process for good; its on_done is not called (not even one already due)."""
        if proc.killed:
            return
        proc.killed = True
        if not proc.alive:
            return
        proc.alive = False
        if proc is not self.current:  # a process killing itself is closed after its step
            self._close(proc)

    def _close(self, proc: Proc) -> None:
        running, self.current = self.current, None  # `finally` blocks charge nobody
        try:
            proc.gen.close()
        except Exception:
            pass  # a generator that fights its own closing is dead anyway
        finally:
            self.current = running

    def _step(self, proc: Proc) -> None:
        if not proc.alive:
            return
        self.current = proc
        proc.cost = 0.0
        try:
            wait = proc.gen.send(None)
        except StopIteration as stop:
            self._finish(proc, stop.value, None)
            return
        except Exception as err:
            self._finish(proc, None, err)
            return
        finally:
            self.current = None
        if not proc.alive:  # killed itself during the step
            self._close(proc)
            return
        if not isinstance(wait, Wait):
            proc.alive = False
            self._close(proc)
            self._done_later(proc, None, TypeError(f"{proc.name} yielded {wait!r}, not a Wait"))
            return
        delay = wait.seconds if wait.seconds > 0 else 0.0
        self.at(self.t + delay + proc.cost, lambda: self._step(proc))

    def _finish(self, proc: Proc, value: Any, error: BaseException | None) -> None:
        if proc.killed:  # killed during its last step: the killer owns its outcome
            return
        proc.alive = False
        self._done_later(proc, value, error)

    def _done_later(self, proc: Proc, value: Any, error: BaseException | None) -> None:
        on_done = proc.on_done
        if on_done is None:
            return

        def deliver() -> None:
            if not proc.killed:
                on_done(value, error)

        # The last step's calls take time too: the process ends when they are done.
        self.at(self.t + proc.cost, deliver)

    # The loop ---------------------------------------------------------------------------------
    def run(self) -> None:
        """Run everything due before `end`, in (time, sequence) order."""
        heap = self._heap
        end = self.end
        pop = heapq.heappop
        while heap and heap[0][0] < end:
            t, _, action = pop(heap)
            self.t = t
            action()
        self.t = end
