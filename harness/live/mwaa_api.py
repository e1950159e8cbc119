"""An MWAA-compatible HTTP API on loopback, so that plain boto3 `mwaa` clients work against it.

    backend = ScriptedBackend(provision_s=2.0)            # or the real-Airflow backend
    with MwaaApiServer(MwaaService(backend, create_delay_s=5.0, on_state=record)) as api:
        mwaa = boto3.client("mwaa", region_name="us-east-1", endpoint_url=api.url,
                            aws_access_key_id="testing", aws_secret_access_key="testing",
                            config=Config(inject_host_prefix=False))
        mwaa.create_environment(Name="env", ...)

The wire protocol is botocore's mwaa service model (rest-json, signing name `airflow`):

    PUT    /environments/{Name}      CreateEnvironment        -> {"Arn"}
    GET    /environments/{Name}      GetEnvironment           -> {"Environment"}
    PATCH  /environments/{Name}      UpdateEnvironment        -> {"Arn"}
    DELETE /environments/{Name}      DeleteEnvironment        -> {}
    GET    /environments             ListEnvironments         -> {"Environments", "NextToken"?}
    POST   /restapi/{Name}           InvokeRestApi            -> {"RestApiStatusCode", ...}
    POST   /clitoken/{Name}          CreateCliToken           -> {"CliToken", ...}
    POST   /webtoken/{Name}          CreateWebLoginToken      -> {"WebToken", ...}
    POST   /tags/{ResourceArn}       TagResource
    DELETE /tags/{ResourceArn}?tagKeys=..  UntagResource
    GET    /tags/{ResourceArn}       ListTagsForResource

Errors are rest-json: HTTP status, header `x-amzn-ErrorType: <Code>`, body `{"message": ...}`
plus the error shape's modeled fields (RestApiStatusCode, RestApiResponse), which botocore
parses into `ClientError.response`. Timestamps are epoch seconds (rest-json's default).

Regions. The Region of a request is the one in its SigV4 credential scope
(`Credential=<key>/<date>/<region>/airflow/aws4_request`), which botocore derives from the
client's `region_name`, the way AWS (and moto) tell Regions apart; the state of each Region is
separate in `MwaaService`. A `MwaaApiServer` without `region` serves every Region on one port.
One pinned to a `region` serves that Region only and refuses a request signed for another with
403 InvalidSignatureException, as an AWS regional endpoint does; `RegionalMwaaApi` runs one
pinned server per Region (one port each) for one service. Behind the fault layer
(`harness.live.fault_proxy.RegionProxy(..., routes={"mwaa": api.endpoint_url(region)})`) each
Region's proxy URL is that Region's MWAA endpoint, and faults (errors, latency, hangs, drops,
unreachable Regions) apply to MWAA calls as to every other service.

Authentication. Any SigV4-signed request is accepted (signatures are not verified: the
credentials are dummies). Unsigned requests get 403 MissingAuthenticationTokenException
unless `require_signature=False` (then they are served in `default_region`); an Authorization
header that is not SigV4 gets 403 IncompleteSignatureException; a credential scoped to another
service gets 403 InvalidSignatureException, as AWS answers.

Bounds: request bodies up to 16 MiB, idle keep-alive connections closed after
`idle_timeout_s`, open connections shut down on `stop`.

`waiter(client, name)` gives botocore waiters for the model, which has none of its own:
`EnvironmentAvailable` and `EnvironmentDeleted`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import socket
import threading
import uuid
from collections.abc import Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import parse_qs, unquote, urlsplit

from botocore.client import BaseClient
from botocore.waiter import Waiter, WaiterModel, create_waiter_with_client

from harness.live import clock as live_clock
from harness.live.mwaa.service import MwaaError, MwaaService
from harness.live.processes import LOOPBACK
from harness.live.protocols import credential_scope

log = logging.getLogger(__name__)

SIGNING_NAME = "airflow"
MAX_BODY_BYTES = 16 * 1024 * 1024
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")

# botocore waiters for GetEnvironment (the mwaa model ships none). Delays and attempts are
# AWS-scale defaults; pass WaiterConfig={"Delay": .., "MaxAttempts": ..} for drills.
WAITER_MODEL: Mapping[str, Any] = {
    "version": 2,
    "waiters": {
        "EnvironmentAvailable": {
            "operation": "GetEnvironment",
            "delay": 30,
            "maxAttempts": 120,
            "acceptors": [
                {
                    "matcher": "path",
                    "argument": "Environment.Status",
                    "expected": "AVAILABLE",
                    "state": "success",
                },
                {
                    "matcher": "path",
                    "argument": "Environment.Status",
                    "expected": "CREATE_FAILED",
                    "state": "failure",
                },
                {
                    "matcher": "path",
                    "argument": "Environment.Status",
                    "expected": "UPDATE_FAILED",
                    "state": "failure",
                },
                {
                    "matcher": "path",
                    "argument": "Environment.Status",
                    "expected": "DELETING",
                    "state": "failure",
                },
                {"matcher": "error", "expected": "ResourceNotFoundException", "state": "failure"},
            ],
        },
        "EnvironmentDeleted": {
            "operation": "GetEnvironment",
            "delay": 30,
            "maxAttempts": 120,
            "acceptors": [
                {"matcher": "error", "expected": "ResourceNotFoundException", "state": "success"},
                {
                    "matcher": "path",
                    "argument": "Environment.Status",
                    "expected": "DELETED",
                    "state": "success",
                },
            ],
        },
    },
}


def waiter(client: BaseClient, name: str) -> Waiter:
    """A botocore waiter (`EnvironmentAvailable`, `EnvironmentDeleted`) for an mwaa client."""
    return create_waiter_with_client(name, WaiterModel(dict(WAITER_MODEL)), client)


class _Reply(Exception):
    """Answer with this error (raised inside the handler)."""

    def __init__(self, error: MwaaError) -> None:
        super().__init__(error.message)
        self.error = error


def _segments(path: str) -> list[str]:
    return [unquote(s) for s in path.split("/") if s]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_ref: ClassVar[MwaaApiServer]

    def setup(self) -> None:
        super().setup()  # sets the socket timeout to `timeout`: idle connections end
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server_ref._track(self.connection, add=True)

    def finish(self) -> None:
        with contextlib.suppress(OSError):
            super().finish()
        self.server_ref._track(self.connection, add=False)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PATCH(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    # ------------------------------------------------------------------------------------------
    def _handle(self) -> None:
        request_id = str(uuid.uuid4())
        try:
            body = self._read_body()
            region, identity = self._authenticate()
            status, document = self._route(region, identity, body)
        except _Reply as reply:
            self._send_error(reply.error, request_id)
            return
        except MwaaError as error:
            self._send_error(error, request_id)
            return
        except Exception as err:
            log.exception("mwaa api: unexpected error")
            self._send_error(
                MwaaError("InternalServerException", f"Internal server error: {err!r}"),
                request_id,
            )
            return
        self._send(status, document, request_id)

    def _read_body(self) -> Any:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            self.close_connection = True
            raise _Reply(MwaaError("ValidationException", "Chunked bodies are not supported."))
        length = int(self.headers.get("Content-Length") or 0)
        if length < 0 or length > MAX_BODY_BYTES:
            self.close_connection = True
            raise _Reply(MwaaError("ValidationException", "Request body too large."))
        raw = self.rfile.read(length) if length else b""
        if len(raw) != length:
            self.close_connection = True
            raise _Reply(MwaaError("ValidationException", "Request body truncated."))
        if not raw.strip():
            return {}
        try:
            return json.loads(raw)
        except ValueError as err:
            raise _Reply(MwaaError("ValidationException", f"Invalid JSON body: {err}")) from err

    def _authenticate(self) -> tuple[str, str]:
        server = self.server_ref
        headers = {name: value for name, value in self.headers.items()}
        authorization = self.headers.get("Authorization", "")
        scope = credential_scope(headers, self.path)
        if scope is None:
            if authorization:
                raise _Reply(
                    MwaaError(
                        "IncompleteSignatureException",
                        "Authorization header requires 'Credential' parameter (AWS4-HMAC-SHA256).",
                    )
                )
            region = server.region or server.default_region
            if server.require_signature or region is None:
                raise _Reply(
                    MwaaError("MissingAuthenticationTokenException", "Missing Authentication Token")
                )
            return region, "anonymous"
        if authorization and not authorization.startswith("AWS4-HMAC-SHA256 "):
            raise _Reply(
                MwaaError("IncompleteSignatureException", "Unsupported signature algorithm.")
            )
        if scope.signing_name != SIGNING_NAME:
            raise _Reply(
                MwaaError(
                    "InvalidSignatureException",
                    f"Credential should be scoped to correct service: '{SIGNING_NAME}'.",
                )
            )
        if not _REGION.match(scope.region) or server.region not in (None, scope.region):
            raise _Reply(
                MwaaError(
                    "InvalidSignatureException",
                    f"Credential should be scoped to a valid region, not '{scope.region}'.",
                )
            )
        return scope.region, f"user/{scope.access_key_id}"

    def _route(self, region: str, identity: str, body: Any) -> tuple[int, Any]:
        service = self.server_ref.service
        parts = urlsplit(self.path)
        segments = _segments(parts.path)
        query = parse_qs(parts.query, keep_blank_values=True)
        method = self.command
        if not isinstance(body, dict):
            raise MwaaError("ValidationException", "The request body must be a JSON object.")
        if segments == ["environments"] and method == "GET":
            max_results = _one(query, "MaxResults")
            token = _one(query, "NextToken")
            try:
                limit = int(max_results) if max_results is not None else None
            except ValueError as err:
                raise MwaaError("ValidationException", "MaxResults must be a number.") from err
            names, next_token = service.list_environments(region, limit, token or None)
            document: dict[str, Any] = {"Environments": names}
            if next_token:
                document["NextToken"] = next_token
            return 200, document
        if len(segments) == 2 and segments[0] == "environments":
            name = segments[1]
            if method == "PUT":
                return 200, {"Arn": service.create_environment(region, name, body)}
            if method == "GET":
                return 200, {"Environment": service.get_environment(region, name)}
            if method == "PATCH":
                return 200, {"Arn": service.update_environment(region, name, body)}
            if method == "DELETE":
                service.delete_environment(region, name)
                return 200, {}
        if len(segments) == 2 and segments[0] == "restapi" and method == "POST":
            rest_path, rest_method = body.get("Path"), body.get("Method")
            if not isinstance(rest_path, str) or not isinstance(rest_method, str):
                raise MwaaError("ValidationException", "Path and Method are required strings.")
            status, response = service.invoke_rest_api(
                region,
                segments[1],
                path=rest_path,
                method=rest_method,
                query=body.get("QueryParameters"),
                body=body.get("Body"),
            )
            return 200, {"RestApiStatusCode": status, "RestApiResponse": response}
        if len(segments) == 2 and segments[0] == "clitoken" and method == "POST":
            return 200, service.create_cli_token(region, segments[1])
        if len(segments) == 2 and segments[0] == "webtoken" and method == "POST":
            return 200, service.create_web_login_token(region, segments[1], identity)
        if len(segments) == 2 and segments[0] == "tags":
            arn = segments[1]
            if method == "GET":
                return 200, {"Tags": service.list_tags_for_resource(region, arn)}
            if method == "POST":
                service.tag_resource(region, arn, body.get("Tags") or {})
                return 200, {}
            if method == "DELETE":
                service.untag_resource(region, arn, query.get("tagKeys", []))
                return 200, {}
        raise MwaaError("UnknownOperationException", f"No operation for {method} {parts.path}.")

    def _send(self, status: int, document: Any, request_id: str) -> None:
        body = json.dumps(document).encode()
        headers = [("Content-Type", "application/json"), ("x-amzn-RequestId", request_id)]
        self._write(status, headers, body)

    def _send_error(self, error: MwaaError, request_id: str) -> None:
        key = "Message" if error.code == "AccessDeniedException" else "message"
        document = {key: error.message, **error.fields}
        headers = [
            ("Content-Type", "application/json"),
            ("x-amzn-RequestId", request_id),
            ("x-amzn-ErrorType", error.code),
        ]
        self._write(error.status, headers, json.dumps(document).encode())

    def _write(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        try:
            self.send_response_only(status)
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
        except OSError:
            self.close_connection = True


def _one(query: Mapping[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[-1] if values else None


class MwaaApiServer:
    """An MwaaService served over HTTP on one loopback port, for every Region (or, with
    `region`, for that Region only).

    `start` starts the service's reconciler too and `stop` stops both (bounded), unless
    `manage_service=False` (the service's owner starts and stops it: e.g. several servers
    for one service)."""

    def __init__(
        self,
        service: MwaaService,
        *,
        host: str = LOOPBACK,
        port: int = 0,
        region: str | None = None,
        require_signature: bool = True,
        default_region: str | None = None,
        idle_timeout_s: float = 30.0,
        manage_service: bool = True,
    ) -> None:
        self.service = service
        self.manage_service = manage_service
        self.require_signature = require_signature
        self.default_region = default_region
        self.region = region
        self.idle_timeout_s = idle_timeout_s
        self.host = host
        server_ref = self

        class Handler(_Handler):
            pass

        Handler.server_ref = server_ref
        Handler.timeout = idle_timeout_s
        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self.port: int = self._server.server_address[1]
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def endpoint_url(self, region: str) -> str:
        """The URL to give a client of `region` that talks to this server directly."""
        if self.region not in (None, region):
            raise KeyError(f"this server serves {self.region} only, not {region}")
        return self.url

    def start(self) -> MwaaApiServer:
        if self._thread is not None:
            return self
        if self.manage_service:
            self.service.start()
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="mwaa-api",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        deadline = live_clock.Deadline.after(timeout_s)
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=deadline.remaining())
            self._thread = None
        self._server.server_close()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if self.manage_service:
            self.service.stop(timeout_s=deadline.remaining())

    def __enter__(self) -> MwaaApiServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _track(self, conn: socket.socket, *, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)


class RegionalMwaaApi:
    """One MwaaService, served by one pinned MwaaApiServer per Region (a port each).

    with RegionalMwaaApi(service, ["us-east-1", "us-west-2"]) as api:
        proxy = RegionProxy(region, moto_url, faults, routes={"mwaa": api.endpoint_url(region)})
    """

    def __init__(
        self,
        service: MwaaService,
        regions: Sequence[str],
        *,
        host: str = LOOPBACK,
        require_signature: bool = True,
        idle_timeout_s: float = 30.0,
    ) -> None:
        if not regions or len(set(regions)) != len(regions):
            raise ValueError(f"regions must be distinct and non-empty, got {list(regions)}")
        self.service = service
        self.servers: dict[str, MwaaApiServer] = {
            region: MwaaApiServer(
                service,
                host=host,
                region=region,
                require_signature=require_signature,
                idle_timeout_s=idle_timeout_s,
                manage_service=False,
            )
            for region in regions
        }

    def endpoint_url(self, region: str) -> str:
        try:
            return self.servers[region].url
        except KeyError:
            raise KeyError(
                f"no MWAA endpoint for {region!r}; have {sorted(self.servers)}"
            ) from None

    def endpoint_urls(self) -> dict[str, str]:
        return {region: server.url for region, server in self.servers.items()}

    def start(self) -> RegionalMwaaApi:
        self.service.start()
        for server in self.servers.values():
            server.start()
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        deadline = live_clock.Deadline.after(timeout_s)
        for server in self.servers.values():
            server.stop(timeout_s=deadline.remaining())
        self.service.stop(timeout_s=deadline.remaining())

    def __enter__(self) -> RegionalMwaaApi:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
