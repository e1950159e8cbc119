"""The AWS emulator: `moto.server` (moto[server] 5.2.x) in its own process group on loopback.

One server holds separate state per Region (CloudWatch, MWAA-less moto services) and one
global S3 namespace, as AWS does. It runs as a child process in its own session, so a fault
can freeze it (SIGSTOP), thaw it (SIGCONT) or kill it, and a stop reaches all of it.

The port is picked by binding port 0 and handed to the server; if another process takes it
in between, the start is retried on a new port (bounded).
"""

from __future__ import annotations

import http.client
import json
import signal
import sys
from pathlib import Path
from typing import Any

from harness.live import safety
from harness.live.processes import (
    LOOPBACK,
    ManagedProcess,
    ProcessRegistry,
    ReadinessTimeout,
    free_port,
    wait_for_http,
)


class MotoServer:
    """A moto server child process. Use inside a ProcessRegistry (which stops it for sure)."""

    def __init__(
        self,
        registry: ProcessRegistry,
        *,
        host: str = LOOPBACK,
        log_path: Path | None = None,
        startup_timeout_s: float = 20.0,
        attempts: int = 3,
        python: str = sys.executable,
    ) -> None:
        safety.check_endpoint(f"http://{host}")
        self.registry = registry
        self.host = host
        self.log_path = log_path
        self.startup_timeout_s = startup_timeout_s
        self.attempts = attempts
        self.python = python
        self.port: int | None = None
        self.process: ManagedProcess | None = None

    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError("the moto server is not started")
        return f"http://{self.host}:{self.port}"

    def start(self) -> MotoServer:
        last_error: Exception | None = None
        for _ in range(self.attempts):
            port = free_port(self.host)
            env = safety.emulator_environment()
            env["MOTO_PORT"] = str(port)
            process = self.registry.start(
                [self.python, "-m", "moto.server", "-H", self.host, "-p", str(port)],
                name="moto_server",
                env=env,
                log_path=self.log_path,
            )
            try:
                wait_for_http(
                    f"http://{self.host}:{port}/moto-api/data.json",
                    self.startup_timeout_s,
                    ready=lambda status: status < 500,
                    is_alive=process.alive,
                )
            except ReadinessTimeout as err:
                last_error = err
                process.stop(term_timeout_s=2.0, kill_timeout_s=2.0)
                continue
            self.port = port
            self.process = process
            return self
        raise ReadinessTimeout(
            f"moto server did not start after {self.attempts} attempts: {last_error}"
        )

    def alive(self) -> bool:
        return self.process is not None and self.process.alive()

    # Faults on the emulator itself -------------------------------------------------------
    def freeze(self) -> None:
        """SIGSTOP the server: connections are accepted by the kernel, never answered."""
        self._require().send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        self._require().send_signal(signal.SIGCONT)

    def kill(self) -> None:
        """SIGKILL the server (state is lost; `start()` again for a fresh one)."""
        self._require().kill()

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop(term_timeout_s=3.0, kill_timeout_s=3.0)

    # moto's own API ----------------------------------------------------------------------
    def reset(self) -> None:
        """Drop every resource in every Region (POST /moto-api/reset)."""
        self._call("POST", "/moto-api/reset")

    def configure(self, settings: dict[str, Any]) -> None:
        """POST /moto-api/config, e.g. {"stepfunctions": {"execute_state_machine": True}}."""
        self._call("POST", "/moto-api/config", settings)

    def _call(self, method: str, path: str, document: Any = None) -> bytes:
        if self.port is None:
            raise RuntimeError("the moto server is not started")
        conn = http.client.HTTPConnection(self.host, self.port, timeout=10.0)
        try:
            body = json.dumps(document).encode() if document is not None else None
            conn.request(method, path, body=body)
            response = conn.getresponse()
            data = response.read()
            if response.status >= 400:
                raise RuntimeError(f"moto {method} {path}: HTTP {response.status}: {data[:200]!r}")
            return data
        finally:
            conn.close()

    def _require(self) -> ManagedProcess:
        if self.process is None:
            raise RuntimeError("the moto server is not started")
        return self.process
