"""The fault layer: one HTTP proxy per Region in front of the emulator, and its control API.

Each Region gets its own loopback port, so "the Region's endpoint" is a URL
(`http://127.0.0.1:<port>`) that serves every service of that Region. A proxy made with a
`caller` is the same Region's endpoint as seen from another Region (a cross-Region path):
it forwards the same way, and in addition obeys the faults that cut that path (a
`partition` of either Region, an `unreachable` caller Region), so a network partition can
cut the Regions apart while each still reaches its own endpoints. A `RegionProxy`
forwards each request to the emulator unless a fault of the shared `FaultController` says
otherwise (see `harness.live.faults` for the kinds). It identifies the service of a request
from its SigV4 credential scope or X-Amz-Target (`harness.live.protocols`) and answers errors
in the request's own wire protocol, so botocore raises ClientError with the real code.
`routes` (or `route()`) send the requests of one service elsewhere than the emulator, e.g.
`{"mwaa": <the MWAA API server>}` (moto has no MWAA); faults apply to them all the same.

How each fault is made:
- error: an error document built by `protocols.error_reply`, without forwarding;
- latency: the handler waits (interruptibly) before forwarding;
- hang: the handler holds the request, waking on every fault switch, until its fault is
  cleared (then it goes on) or `max_hang_s` passes (then the connection is closed);
- drop: the connection is shut down after the request was read, with no answer;
- unreachable/refuse: the listening socket is shut down and closed (the kernel refuses
  connections), open connections are shut down; the listener is bound again on clear;
- unreachable/blackhole: the listener is replaced by one with backlog 0 whose accept queue
  holds one connection of our own, so the kernel drops new SYNs and clients' connects time out;
- unreachable/reset: connections are accepted and closed with SO_LINGER 0 (RST);
- unreachable/hang: as `hang` for every service.

Every loop and wait is bounded: hangs by `max_hang_s` and the proxy's stop, upstream calls by
`upstream_timeout_s`, idle client connections by `idle_timeout_s`, request bodies by size.

`ControlServer` exposes the controller over HTTP on its own loopback port for faults driven
from another process; `FaultControlClient` is its client:

    GET    /health                     {"ok": true}
    GET    /faults                     {"faults": [fault, ...]}
    POST   /faults   {"kind", "region", ...params}  -> 201 {"fault": fault}
    DELETE /faults/<id>                {"cleared": true|false}
    DELETE /faults[?region=<region>]   {"cleared": [fault, ...]}
    GET    /events                     {"events": [{"action", "t", "fault"}, ...]}
"""

from __future__ import annotations

import contextlib
import http.client
import json
import select
import socket
import struct
import threading
import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

from harness.live import clock
from harness.live.faults import Fault, FaultController, FaultError
from harness.live.processes import LOOPBACK
from harness.live.protocols import (
    detect_protocol,
    detect_service,
    error_reply,
    is_query_compatible,
    json_version,
)

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "expect",
    }
)
MAX_BODY_BYTES = 256 * 1024 * 1024
MAX_CHUNKS = 1_000_000


class ProxyError(RuntimeError):
    """The proxy could not do what it was asked (e.g. rebind its port)."""


class _BodyTooLarge(Exception):
    pass


@dataclass(frozen=True)
class Upstream:
    host: str
    port: int

    @classmethod
    def from_url(cls, url: str) -> Upstream:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname or not parts.port:
            raise ValueError(f"upstream must be http://host:port, got {url!r}")
        return cls(parts.hostname, parts.port)


def _linger_close(sock: socket.socket) -> None:
    """Close with RST instead of FIN."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.close()


def _shutdown(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


class _ProxyHandler(BaseHTTPRequestHandler):
    """One client connection (HTTP/1.1 keep-alive), handled in its own thread."""

    protocol_version = "HTTP/1.1"
    proxy: ClassVar[RegionProxy]

    def setup(self) -> None:
        self.connection = self.request
        self.connection.settimeout(self.proxy.idle_timeout_s)
        # Headers and body go out in separate writes: without this, Nagle's algorithm and the
        # client's delayed ACK add ~40 ms to every answer.
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().setup()

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._handle()

    def do_HEAD(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def do_PATCH(self) -> None:
        self._handle()

    def do_OPTIONS(self) -> None:
        self._handle()

    # The request path ------------------------------------------------------------------------
    def _handle(self) -> None:
        proxy = self.proxy
        headers = {name: value for name, value in self.headers.items()}
        try:
            body = self._read_body()
        except _BodyTooLarge:
            self._send(413, [("Content-Type", "text/plain")], b"request body too large")
            self.close_connection = True
            return
        except (OSError, ValueError):
            self._abort()
            return
        service = detect_service(headers, self.path)
        controller = proxy.controller
        hang_deadline: clock.Deadline | None = None
        while True:
            decision = controller.decide(proxy.region, service, proxy.caller)
            if proxy.stopping or decision.refuse is not None:
                self._abort()
                return
            if decision.hang is None:
                break
            if hang_deadline is None:
                controller.count_injection(decision.hang)
                hang_deadline = clock.Deadline.after(decision.hang.max_hang_s)
            if hang_deadline.expired():
                self._abort()
                return
            controller.wait_for_change(decision.version, min(hang_deadline.remaining(), 1.0))
        if hang_deadline is not None and self._client_gone():
            # The caller gave up while the request hung: never apply it behind its back.
            self._abort()
            return
        for fault in decision.latency:
            controller.count_injection(fault)
        if decision.delay_s > 0 and proxy.wait_stop(decision.delay_s):
            self._abort()
            return
        if decision.drop is not None:
            controller.count_injection(decision.drop)
            proxy.count("dropped", service)
            self._abort()
            return
        if decision.error is not None:
            controller.count_injection(decision.error)
            proxy.count("errors", service)
            self._send_error_fault(decision.error, service, headers)
            return
        self._forward(headers, body, service)

    def _send_error_fault(self, fault: Fault, service: str, headers: Mapping[str, str]) -> None:
        assert fault.code is not None
        reply = error_reply(
            detect_protocol(service, headers),
            fault.code,
            service=service,
            status=fault.status,
            message=fault.message,
            request_id=str(uuid.uuid4()),
            query_compatible=is_query_compatible(headers),
            json_version=json_version(headers),
            head=self.command == "HEAD",
        )
        self._send(reply.status, list(reply.headers), reply.body)

    def _forward(self, headers: Mapping[str, str], body: bytes, service: str) -> None:
        proxy = self.proxy
        target = proxy.upstream_for(service)
        upstream = http.client.HTTPConnection(
            target.host, target.port, timeout=proxy.upstream_timeout_s
        )
        try:
            upstream.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            for name, value in self.headers.items():
                lowered = name.lower()
                if lowered in HOP_BY_HOP or lowered == "content-length":
                    continue
                upstream.putheader(name, value)
            if body or self.command in ("POST", "PUT", "PATCH"):
                upstream.putheader("Content-Length", str(len(body)))
            upstream.endheaders(body if body else None)
            response = upstream.getresponse()
            data = response.read()
            status, reason = response.status, response.reason
            response_headers = response.getheaders()
        except (OSError, http.client.HTTPException):
            # The emulator is down or frozen: the client gets no answer, as from a dead host.
            proxy.count("upstream_failures", service)
            self._abort()
            return
        finally:
            upstream.close()
        proxy.count("forwarded", service)
        out: list[tuple[str, str]] = []
        upstream_length: str | None = None
        for name, value in response_headers:
            lowered = name.lower()
            if lowered == "content-length":
                upstream_length = value
            elif lowered not in HOP_BY_HOP:
                out.append((name, value))
        no_body = self.command == "HEAD" or status in (204, 304) or 100 <= status < 200
        if no_body:
            if upstream_length is not None:
                out.append(("Content-Length", upstream_length))
            self._send(status, out, b"", reason=reason, set_length=False)
        else:
            self._send(status, out, data, reason=reason)

    # Low-level ------------------------------------------------------------------------------
    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            return self._read_chunked()
        length = int(self.headers.get("Content-Length") or 0)
        if length < 0:
            raise ValueError("negative Content-Length")
        if length > MAX_BODY_BYTES:
            raise _BodyTooLarge
        data = self.rfile.read(length) if length else b""
        if len(data) != length:
            raise ValueError("request body shorter than its Content-Length")
        return data

    def _read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        total = 0
        for _ in range(MAX_CHUNKS):
            line = self.rfile.readline(1024)
            if not line:
                raise ValueError("connection closed inside a chunked body")
            size = int(line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                # Trailers, up to the empty line.
                for _ in range(1024):
                    trailer = self.rfile.readline(65536)
                    if trailer in (b"\r\n", b"\n", b""):
                        break
                return b"".join(chunks)
            total += size
            if total > MAX_BODY_BYTES:
                raise _BodyTooLarge
            chunk = self.rfile.read(size)
            if len(chunk) != size:
                raise ValueError("connection closed inside a chunk")
            chunks.append(chunk)
            self.rfile.readline(16)
        raise ValueError("too many chunks")

    def _send(
        self,
        status: int,
        headers: list[tuple[str, str]],
        body: bytes,
        *,
        reason: str | None = None,
        set_length: bool = True,
    ) -> None:
        try:
            self.send_response_only(status, reason)
            for name, value in headers:
                self.send_header(name, value)
            if set_length:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if body:
                self.wfile.write(body)
            self.wfile.flush()
        except OSError:
            self.close_connection = True

    def _client_gone(self) -> bool:
        """True when the client has closed its side of the connection."""
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            if not readable:
                return False
            peeked: bytes = self.connection.recv(1, socket.MSG_PEEK)
            return peeked == b""
        except OSError:
            return True

    def _abort(self) -> None:
        """Close the connection without an answer."""
        self.close_connection = True
        _shutdown(self.connection)


class RegionProxy:
    """The endpoint of one Region: a loopback HTTP proxy with faults in front of the emulator."""

    def __init__(
        self,
        region: str,
        upstream: Upstream | str,
        controller: FaultController,
        *,
        host: str = LOOPBACK,
        port: int = 0,
        upstream_timeout_s: float = 30.0,
        routes: Mapping[str, Upstream | str] | None = None,
        idle_timeout_s: float = 60.0,
        rebind_timeout_s: float = 5.0,
        caller: str | None = None,
    ) -> None:
        self.region = region
        self.caller = caller if caller != region else None  # None: callers inside the Region
        self.upstream = upstream if isinstance(upstream, Upstream) else Upstream.from_url(upstream)
        self.controller = controller
        self.host = host
        self._requested_port = port
        self.port = port
        self.upstream_timeout_s = upstream_timeout_s
        self.idle_timeout_s = idle_timeout_s
        self.rebind_timeout_s = rebind_timeout_s
        self._lock = threading.RLock()
        self._routes: dict[str, Upstream] = {}
        for service, target in (routes or {}).items():
            self.route(service, target)
        self._stop = threading.Event()
        self._listener: socket.socket | None = None
        self._state = "stopped"  # stopped | open | refuse | blackhole
        self._blackhole_filler: socket.socket | None = None
        self._connections: set[socket.socket] = set()
        self._threads: set[threading.Thread] = set()
        self._counts: Counter[tuple[str, str]] = Counter()
        proxy_ref = self

        class Handler(_ProxyHandler):
            proxy = proxy_ref

        self._handler = Handler

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def _label(self) -> str:
        return self.region if self.caller is None else f"{self.caller}->{self.region}"

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    @property
    def state(self) -> str:
        return self._state

    def wait_stop(self, timeout_s: float) -> bool:
        """Wait up to `timeout_s`; True if the proxy is stopping."""
        return self._stop.wait(timeout_s)

    def route(self, service: str, upstream: Upstream | str | None) -> None:
        """Forward requests of `service` (SDK name, e.g. "mwaa") to `upstream` instead of the
        default upstream; None: back to the default. Takes effect for the next request."""
        with self._lock:
            if upstream is None:
                self._routes.pop(service, None)
            else:
                self._routes[service] = (
                    upstream if isinstance(upstream, Upstream) else Upstream.from_url(upstream)
                )

    def upstream_for(self, service: str) -> Upstream:
        """Where requests of `service` are forwarded."""
        with self._lock:
            return self._routes.get(service, self.upstream)

    def count(self, what: str, service: str) -> None:
        with self._lock:
            self._counts[(what, service)] += 1

    def counts(self) -> dict[str, int]:
        """Request counters: "<what>/<service>" -> n (forwarded, errors, dropped, ...)."""
        with self._lock:
            return {f"{what}/{service}": n for (what, service), n in self._counts.items()}

    # Lifecycle ------------------------------------------------------------------------------
    def start(self) -> RegionProxy:
        with self._lock:
            if self._state != "stopped":
                return self
            self._open_listener()
            for region in self._watched_regions():
                self.controller.register_region(region, self.reconcile)
            self.reconcile()
        return self

    def stop(self, timeout_s: float = 2.0) -> None:
        """Close the listener and every connection; wake hung requests. Bounded."""
        self._stop.set()
        for region in self._watched_regions():
            self.controller.unregister_reconciler(region, self.reconcile)
        self.controller.wake_all()
        with self._lock:
            self._close_listener()
            self._state = "stopped"
            for conn in list(self._connections):
                _shutdown(conn)
            threads = list(self._threads)
        deadline = clock.Deadline.after(timeout_s)
        for thread in threads:
            thread.join(timeout=deadline.remaining())

    def __enter__(self) -> RegionProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # Listener state -------------------------------------------------------------------------
    def _watched_regions(self) -> tuple[str, ...]:
        """The Regions whose faults can cut this path: the target, and the caller's."""
        return (self.region,) if self.caller is None else (self.region, self.caller)

    def reconcile(self) -> None:
        """Bring the listener in line with the fault that cuts this path (synchronously)."""
        with self._lock:
            if self._stop.is_set():
                return
            mode = self.controller.unreachable_mode(self.region, self.caller)
            target = {"refuse": "refuse", "blackhole": "blackhole"}.get(mode or "", "open")
            if mode in ("refuse", "blackhole", "reset"):
                for conn in list(self._connections):
                    _shutdown(conn)
            if target == self._state:
                return
            self._close_listener()
            if target == "open":
                self._open_listener()
            elif target == "blackhole":
                self._open_blackhole()
            else:
                self._state = "refuse"

    def _bind(self, backlog: int) -> socket.socket:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        deadline = clock.Deadline.after(self.rebind_timeout_s)
        while True:
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((self.host, self.port))
                sock.listen(backlog)
                return sock
            except OSError as err:
                sock.close()
                if self.port == 0 or deadline.expired():
                    raise ProxyError(
                        f"{self.region}: cannot listen on {self.host}:{self.port}: {err}"
                    ) from err
                clock.sleep(0.02)

    def _open_listener(self) -> None:
        sock = self._bind(128)
        self.port = sock.getsockname()[1]
        self._listener = sock
        self._state = "open"
        thread = threading.Thread(
            target=self._accept_loop, args=(sock,), name=f"proxy-{self._label}", daemon=True
        )
        self._threads.add(thread)
        thread.start()

    def _open_blackhole(self) -> None:
        sock = self._bind(0)
        filler = socket.create_connection((self.host, self.port), timeout=1.0)
        self._listener = sock
        self._blackhole_filler = filler
        self._state = "blackhole"

    def _close_listener(self) -> None:
        if self._listener is not None:
            _shutdown(self._listener)
            with contextlib.suppress(OSError):
                self._listener.close()
            self._listener = None
        if self._blackhole_filler is not None:
            _linger_close(self._blackhole_filler)
            self._blackhole_filler = None

    def _accept_loop(self, listener: socket.socket) -> None:
        try:
            while not self._stop.is_set():
                try:
                    conn, address = listener.accept()
                except OSError:
                    return  # the listener was closed: refuse/blackhole/stop
                if self.controller.unreachable_mode(self.region, self.caller) == "reset":
                    self.controller.count_injection(self._unreachable_fault())
                    _linger_close(conn)
                    continue
                with self._lock:
                    if self._stop.is_set() or self._listener is not listener:
                        _linger_close(conn)
                        continue
                    self._connections.add(conn)
                    thread = threading.Thread(
                        target=self._serve_connection,
                        args=(conn, address),
                        name=f"proxy-{self._label}-conn",
                        daemon=True,
                    )
                    self._threads.add(thread)
                thread.start()
        finally:
            with self._lock:
                self._threads.discard(threading.current_thread())

    def _unreachable_fault(self) -> Fault:
        fault = self.controller.cutting_fault(self.region, self.caller)
        assert fault is not None, "called only while a fault cuts this path"
        return fault

    def _serve_connection(self, conn: socket.socket, address: Any) -> None:
        try:
            self._handler(conn, address, self)  # type: ignore[arg-type]  # no socketserver
        except (OSError, ValueError):
            pass
        finally:
            _shutdown(conn)
            with contextlib.suppress(OSError):
                conn.close()
            with self._lock:
                self._connections.discard(conn)
                self._threads.discard(threading.current_thread())


# The control API -----------------------------------------------------------------------------


class _ControlHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    controller: ClassVar[FaultController]

    def setup(self) -> None:
        super().setup()
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _reply(self, status: int, document: Any) -> None:
        body = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _json_body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        if length > 1024 * 1024:
            raise ValueError("body too large")
        return json.loads(self.rfile.read(length) or b"{}")

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if path == "/health":
            self._reply(200, {"ok": True})
        elif path == "/faults":
            self._reply(200, {"faults": [f.to_json() for f in self.controller.active()]})
        elif path == "/events":
            self._reply(200, {"events": [e.to_json() for e in self.controller.events]})
        else:
            self._reply(404, {"error": f"no such resource {path}"})

    def do_POST(self) -> None:
        if urlsplit(self.path).path != "/faults":
            self._reply(404, {"error": "POST /faults only"})
            return
        try:
            document = self._json_body()
            if not isinstance(document, dict):
                raise FaultError("the body must be a JSON object")
            params = dict(document)
            kind = params.pop("kind", None)
            region = params.pop("region", None)
            if not isinstance(kind, str) or not isinstance(region, str):
                raise FaultError("kind and region are required strings")
            fault = self.controller.switch_on(kind, region, **params)
        except (FaultError, ValueError) as err:
            self._reply(400, {"error": str(err)})
            return
        self._reply(201, {"fault": fault.to_json()})

    def do_DELETE(self) -> None:
        parts = urlsplit(self.path)
        segments = [s for s in parts.path.split("/") if s]
        if segments == ["faults"]:
            region = parse_qs(parts.query).get("region", [None])[0]
            cleared = self.controller.clear_all(region)
            self._reply(200, {"cleared": [f.to_json() for f in cleared]})
        elif len(segments) == 2 and segments[0] == "faults" and segments[1].isdigit():
            self._reply(200, {"cleared": self.controller.clear(int(segments[1]))})
        else:
            self._reply(404, {"error": "DELETE /faults or /faults/<id>"})


class ControlServer:
    """The HTTP control API of a FaultController, on its own loopback port."""

    def __init__(self, controller: FaultController, *, host: str = LOOPBACK, port: int = 0):
        controller_ref = controller

        class Handler(_ControlHandler):
            controller = controller_ref

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None
        self.host = host
        self.port: int = self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> ControlServer:
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="fault-control",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 2.0) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=timeout_s)
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> ControlServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class FaultControlClient:
    """Drive a ControlServer from another process (plain http.client, loopback only)."""

    def __init__(self, url: str, timeout_s: float = 5.0) -> None:
        parts = urlsplit(url)
        if not parts.hostname or not parts.port:
            raise ValueError(f"control URL must be http://host:port, got {url!r}")
        self.host, self.port = parts.hostname, parts.port
        self.timeout_s = timeout_s

    def _call(self, method: str, path: str, document: Any = None) -> Any:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout_s)
        try:
            body = json.dumps(document).encode() if document is not None else None
            headers = {"Content-Type": "application/json"} if body is not None else {}
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            result = json.loads(response.read() or b"null")
            if response.status >= 400:
                raise FaultError(str(result.get("error", response.status)))
            return result
        finally:
            conn.close()

    def switch_on(self, kind: str, region: str, **params: Any) -> dict[str, Any]:
        result: dict[str, Any] = self._call(
            "POST", "/faults", {"kind": kind, "region": region, **params}
        )["fault"]
        return result

    def clear(self, fault_id: int) -> bool:
        return bool(self._call("DELETE", f"/faults/{fault_id}")["cleared"])

    def clear_all(self, region: str | None = None) -> list[dict[str, Any]]:
        path = "/faults" + (f"?region={region}" if region else "")
        cleared: list[dict[str, Any]] = self._call("DELETE", path)["cleared"]
        return cleared

    def active(self) -> list[dict[str, Any]]:
        faults: list[dict[str, Any]] = self._call("GET", "/faults")["faults"]
        return faults

    def events(self) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = self._call("GET", "/events")["events"]
        return events
