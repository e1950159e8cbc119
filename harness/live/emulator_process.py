"""An AWS emulator run as our child process: what `MotoServer` and `LocalStackServer` share.

The child listens on one free loopback port, in its own process group through the
`ProcessRegistry` (so every exit path stops it). The port is picked by binding port 0 and
handed to the child; if another process takes it in between, or the child is not ready in
`startup_timeout_s`, the start is retried on a new port (`attempts`, bounded). A subclass
says how to launch the child on a port and when it is ready. Faults on the emulator itself:
`freeze` (SIGSTOP: connections accepted by the kernel, never answered), `thaw`, `kill`.
"""

from __future__ import annotations

import signal
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Self

from harness.live import safety
from harness.live.processes import (
    LOOPBACK,
    ManagedProcess,
    ProcessRegistry,
    ReadinessTimeout,
    free_port,
)


class EmulatorProcess(ABC):
    label = "the emulator"  # for messages: "<label> is not started"

    def __init__(
        self,
        registry: ProcessRegistry,
        *,
        host: str = LOOPBACK,
        log_path: Path | None = None,
        startup_timeout_s: float,
        attempts: int = 3,
    ) -> None:
        safety.check_endpoint(f"http://{host}")
        self.registry = registry
        self.host = host
        self.log_path = log_path
        self.startup_timeout_s = startup_timeout_s
        self.attempts = attempts
        self.port: int | None = None
        self.process: ManagedProcess | None = None

    @abstractmethod
    def _launch(self, port: int) -> ManagedProcess:
        """Start the child on `port` through the registry (it may not be ready yet)."""

    @abstractmethod
    def _wait_ready(self, process: ManagedProcess, url: str) -> None:
        """Return once the child at `url` serves; raise ReadinessTimeout if it does not in
        `startup_timeout_s` (or exits)."""

    def _start_failed(self, last_error: Exception | None) -> str:
        return f"{self.label} did not start after {self.attempts} attempts: {last_error}"

    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError(f"{self.label} is not started")
        return f"http://{self.host}:{self.port}"

    def start(self) -> Self:
        last_error: Exception | None = None
        for _ in range(self.attempts):
            port = free_port(self.host)
            process = self._launch(port)
            try:
                self._wait_ready(process, f"http://{self.host}:{port}")
            except ReadinessTimeout as err:
                last_error = err
                process.stop(term_timeout_s=2.0, kill_timeout_s=2.0)
                continue
            self.port = port
            self.process = process
            return self
        raise ReadinessTimeout(self._start_failed(last_error))

    def alive(self) -> bool:
        return self.process is not None and self.process.alive()

    def freeze(self) -> None:
        """SIGSTOP the child: connections are accepted by the kernel, never answered."""
        self._require().send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        self._require().send_signal(signal.SIGCONT)

    def kill(self) -> None:
        """SIGKILL the child (state is lost; `start()` again for a fresh one)."""
        self._require().kill()

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop(term_timeout_s=3.0, kill_timeout_s=3.0)

    def _require(self) -> ManagedProcess:
        if self.process is None:
            raise RuntimeError(f"{self.label} is not started")
        return self.process
