"""The AWS emulator: `moto.server` (moto[server] 5.2.x) in its own process group on loopback.

One server holds separate state per Region (CloudWatch, MWAA-less moto services) and one
global S3 namespace, as AWS does. It runs as a child process in its own session, so a fault
can freeze it (SIGSTOP), thaw it (SIGCONT) or kill it, and a stop reaches all of it.

Start, port choice, retries and the faults on the process itself come from `EmulatorProcess`.
"""

from __future__ import annotations

import http.client
import json
import sys
from pathlib import Path
from typing import Any

from harness.live import safety
from harness.live.emulator_process import EmulatorProcess
from harness.live.processes import LOOPBACK, ManagedProcess, ProcessRegistry, wait_for_http


class MotoServer(EmulatorProcess):
    """A moto server child process. Use inside a ProcessRegistry (which stops it for sure)."""

    label = "the moto server"

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
        super().__init__(
            registry,
            host=host,
            log_path=log_path,
            startup_timeout_s=startup_timeout_s,
            attempts=attempts,
        )
        self.python = python

    def _launch(self, port: int) -> ManagedProcess:
        env = safety.emulator_environment()
        env["MOTO_PORT"] = str(port)
        return self.registry.start(
            [self.python, "-m", "moto.server", "-H", self.host, "-p", str(port)],
            name="moto_server",
            env=env,
            log_path=self.log_path,
        )

    def _wait_ready(self, process: ManagedProcess, url: str) -> None:
        wait_for_http(
            f"{url}/moto-api/data.json",
            self.startup_timeout_s,
            ready=lambda status: status < 500,
            is_alive=process.alive,
        )

    # moto's own API ----------------------------------------------------------------------
    def reset(self) -> None:
        """Drop every resource in every Region (POST /moto-api/reset)."""
        self._call("POST", "/moto-api/reset")

    def configure(self, settings: dict[str, Any]) -> None:
        """POST /moto-api/config, e.g. {"stepfunctions": {"execute_state_machine": True}}."""
        self._call("POST", "/moto-api/config", settings)

    def _call(self, method: str, path: str, document: Any = None) -> bytes:
        if self.port is None:
            raise RuntimeError(f"{self.label} is not started")
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
