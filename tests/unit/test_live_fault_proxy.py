"""The fault proxy in-process, in front of a tiny fake upstream on loopback (no emulator)."""

from __future__ import annotations

import http.client
import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import botocore.session
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, EndpointConnectionError

from harness.live import clock
from harness.live.fault_proxy import ControlServer, FaultControlClient, RegionProxy
from harness.live.faults import FaultController, FaultError
from harness.live.processes import free_port, port_accepts

REGION = "us-east-1"
CW_HEADERS = {
    "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20261125/us-east-1/monitoring/"
    "aws4_request, SignedHeaders=host, Signature=0",
    "Content-Type": "application/x-amz-json-1.0",
    "X-Amz-Target": "GraniteServiceVersion20100801.ListMetrics",
    "x-amzn-query-mode": "true",
}


class Echo(BaseHTTPRequestHandler):
    """Answers every request with a JSON description of it."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.headers.get("X-Amz-Target", "").endswith("ListMetrics"):
            document: dict[str, Any] = {"Metrics": []}
        else:
            document = {
                "method": self.command,
                "path": self.path,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body": body.decode(),
            }
        data = json.dumps(document).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-amz-json-1.0")
        self.send_header("X-Upstream", "echo")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _answer


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=2)


@pytest.fixture
def faults() -> FaultController:
    return FaultController(regions=(REGION,))


@pytest.fixture
def proxy(upstream: str, faults: FaultController) -> Iterator[RegionProxy]:
    with RegionProxy(REGION, upstream, faults, idle_timeout_s=5.0) as region_proxy:
        yield region_proxy


def request(
    proxy: RegionProxy,
    method: str = "GET",
    path: str = "/",
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout_s: float = 3.0,
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=timeout_s)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def cloudwatch(proxy: RegionProxy, **config: Any) -> Any:
    session = botocore.session.get_session()
    session.set_credentials("testing", "testing")
    return session.create_client(
        "cloudwatch",
        region_name=REGION,
        endpoint_url=proxy.url,
        config=Config(retries={"mode": "standard", "max_attempts": 0}, proxies={}, **config),
    )


# Forwarding ----------------------------------------------------------------------------------


def test_forwards_method_path_headers_and_body(proxy: RegionProxy) -> None:
    status, headers, body = request(
        proxy, "PUT", "/bucket/key?x=1", b"hello", {"X-Custom": "a", "Keep-Alive": "5"}
    )
    assert status == 200
    assert headers["X-Upstream"] == "echo"
    assert "Connection" not in headers  # the upstream's hop-by-hop header is not passed on
    echoed = json.loads(body)
    assert echoed["method"] == "PUT"
    assert echoed["path"] == "/bucket/key?x=1"
    assert echoed["body"] == "hello"
    assert echoed["headers"]["x-custom"] == "a"
    assert "keep-alive" not in echoed["headers"]
    assert proxy.counts()["forwarded/unknown"] == 1


def test_head_keeps_the_upstream_length(proxy: RegionProxy) -> None:
    status, headers, body = request(proxy, "HEAD", "/bucket/key")
    assert status == 200
    assert body == b""
    assert int(headers["Content-Length"]) > 0


def test_chunked_request_body_is_forwarded_whole(proxy: RegionProxy) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=3)
    conn.request("POST", "/chunks", body=iter([b"ab", b"cde"]), encode_chunked=True)
    echoed = json.loads(conn.getresponse().read())
    conn.close()
    assert echoed["body"] == "abcde"
    assert "transfer-encoding" not in echoed["headers"]


def test_expect_continue_is_handled(proxy: RegionProxy) -> None:
    status, _, body = request(proxy, "PUT", "/b/k", b"data", {"Expect": "100-continue"})
    assert status == 200
    assert json.loads(body)["body"] == "data"


def test_keep_alive_serves_several_requests_on_one_connection(proxy: RegionProxy) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=3)
    for n in range(3):
        conn.request("GET", f"/n{n}")
        assert json.loads(conn.getresponse().read())["path"] == f"/n{n}"
    conn.close()


# Faults --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "status"),
    [("ServiceUnavailable", 503), ("InternalFailure", 500), ("Throttling", 400)],
)
def test_error_fault_reaches_botocore_with_its_code(
    proxy: RegionProxy, faults: FaultController, code: str, status: int
) -> None:
    client = cloudwatch(proxy)
    assert client.list_metrics()["Metrics"] == []
    fault = faults.error(REGION, "cloudwatch", code)
    with pytest.raises(ClientError) as raised:
        client.list_metrics()
    assert raised.value.response["Error"]["Code"] == code
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
    assert faults.injected(fault) == 1
    faults.clear(fault)
    assert client.list_metrics()["Metrics"] == []


def test_error_fault_spares_other_services(proxy: RegionProxy, faults: FaultController) -> None:
    faults.error(REGION, "s3", "SlowDown")
    status, _, _ = request(proxy, "POST", "/", b"{}", CW_HEADERS)
    assert status == 200
    s3_headers = {"Authorization": CW_HEADERS["Authorization"].replace("monitoring", "s3")}
    status, _, body = request(proxy, "GET", "/bucket", headers=s3_headers)
    assert status == 503
    assert b"<Code>SlowDown</Code>" in body


def test_drop_closes_without_an_answer(proxy: RegionProxy, faults: FaultController) -> None:
    faults.drop(REGION, "*")
    with pytest.raises((http.client.RemoteDisconnected, ConnectionResetError)):
        request(proxy)


def test_latency_delays_the_answer(proxy: RegionProxy, faults: FaultController) -> None:
    faults.latency(REGION, "*", 0.3)
    start = clock.monotonic()
    status, _, _ = request(proxy)
    assert status == 200
    assert clock.monotonic() - start >= 0.3


def test_hang_until_cleared_then_answers(proxy: RegionProxy, faults: FaultController) -> None:
    fault = faults.hang(REGION, "*", max_hang_s=10)
    timer = threading.Timer(0.3, faults.clear, args=(fault,))
    timer.start()
    start = clock.monotonic()
    status, _, _ = request(proxy, timeout_s=5)
    elapsed = clock.monotonic() - start
    timer.join()
    assert status == 200
    assert 0.25 <= elapsed < 2.0


def test_hang_is_bounded(proxy: RegionProxy, faults: FaultController) -> None:
    faults.hang(REGION, "*", max_hang_s=0.2)
    start = clock.monotonic()
    with pytest.raises((http.client.RemoteDisconnected, ConnectionResetError)):
        request(proxy, timeout_s=5)
    assert clock.monotonic() - start < 2.0


def test_hang_makes_the_client_time_out(proxy: RegionProxy, faults: FaultController) -> None:
    faults.hang(REGION, "*", max_hang_s=30)
    with pytest.raises(TimeoutError):
        request(proxy, timeout_s=0.3)


def test_refuse_closes_the_port_and_clear_reopens_it(
    proxy: RegionProxy, faults: FaultController
) -> None:
    port = proxy.port
    client = cloudwatch(proxy, connect_timeout=1, read_timeout=1)
    client.list_metrics()  # leaves a pooled keep-alive connection
    fault = faults.unreachable(REGION, "refuse")
    assert proxy.state == "refuse"
    assert not port_accepts(port, timeout_s=0.2)
    with pytest.raises(EndpointConnectionError):
        client.list_metrics()
    faults.clear(fault)
    assert proxy.port == port
    assert proxy.state == "open"
    assert client.list_metrics()["Metrics"] == []


def test_blackhole_times_connections_out(proxy: RegionProxy, faults: FaultController) -> None:
    fault = faults.unreachable(REGION, "blackhole")
    with pytest.raises(TimeoutError), socket.create_connection(("127.0.0.1", proxy.port), 0.3):
        pass
    faults.clear(fault)
    assert request(proxy)[0] == 200


def test_reset_resets_connections(proxy: RegionProxy, faults: FaultController) -> None:
    faults.unreachable(REGION, "reset")
    with pytest.raises((ConnectionResetError, http.client.RemoteDisconnected, BrokenPipeError)):
        request(proxy)


def test_region_hang(proxy: RegionProxy, faults: FaultController) -> None:
    faults.unreachable(REGION, "hang", max_hang_s=30)
    with pytest.raises(TimeoutError):
        request(proxy, timeout_s=0.3)


def test_upstream_down_means_no_answer(faults: FaultController) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    with RegionProxy(REGION, dead, faults) as region_proxy:
        with pytest.raises((http.client.RemoteDisconnected, ConnectionResetError)):
            request(region_proxy)
        assert region_proxy.counts()["upstream_failures/unknown"] == 1


def test_stop_releases_the_port_and_hung_requests(upstream: str) -> None:
    faults = FaultController(regions=(REGION,))
    region_proxy = RegionProxy(REGION, upstream, faults).start()
    faults.hang(REGION, "*", max_hang_s=60)
    errors: list[BaseException] = []

    def hung_call() -> None:
        try:
            request(region_proxy, timeout_s=10)
        except BaseException as err:
            errors.append(err)

    caller = threading.Thread(target=hung_call)
    caller.start()
    clock.sleep(0.2)
    start = clock.monotonic()
    region_proxy.stop(timeout_s=2.0)
    caller.join(timeout=5)
    assert clock.monotonic() - start < 3.0
    assert errors  # the hung request was closed, not left waiting
    assert not port_accepts(region_proxy.port, timeout_s=0.2)


# Control API ---------------------------------------------------------------------------------


def test_control_api_round_trip(proxy: RegionProxy, faults: FaultController) -> None:
    with ControlServer(faults) as control:
        client = FaultControlClient(control.url)
        created = client.switch_on("error", REGION, service="cloudwatch", code="Throttling")
        assert created["code"] == "Throttling"
        assert [f["id"] for f in client.active()] == [created["id"]]
        status, _, _ = request(proxy, "POST", "/", b"{}", CW_HEADERS)
        assert status == 400
        assert client.clear(created["id"]) is True
        assert client.clear(created["id"]) is False
        assert request(proxy, "POST", "/", b"{}", CW_HEADERS)[0] == 200
        client.switch_on("latency", REGION, latency_s=0.01)
        assert len(client.clear_all(REGION)) == 1
        assert [e["action"] for e in client.events()] == ["on", "off", "on", "off"]
        with pytest.raises(FaultError, match="unknown region"):
            client.switch_on("error", "mars-1", code="X")
        with pytest.raises(FaultError):
            client.switch_on("nope", REGION)


# Cross-Region paths ----------------------------------------------------------------------------
def test_a_path_proxy_obeys_partitions_and_its_callers_outage_the_region_proxy_does_not(
    upstream: str,
) -> None:
    other = "us-west-2"
    faults = FaultController(regions=(REGION, other))
    with (
        RegionProxy(REGION, upstream, faults) as inside,
        RegionProxy(REGION, upstream, faults, caller=other) as across,
    ):
        cut = faults.partition(REGION, "refuse")
        assert (inside.state, across.state) == ("open", "refuse")
        assert request(inside)[0] == 200
        assert not port_accepts(across.port, timeout_s=0.2)
        faults.clear(cut)
        assert across.state == "open" and request(across)[0] == 200
        # The caller's Region goes dark: nothing leaves it, whatever the target.
        dark = faults.unreachable(other, "blackhole")
        assert (inside.state, across.state) == ("open", "blackhole")
        with pytest.raises(TimeoutError), socket.create_connection(("127.0.0.1", across.port), 0.3):
            pass
        faults.clear(dark)
        assert request(across)[0] == 200
        faults.partition(other, "hang", max_hang_s=30)  # a hang acts per request
        assert across.state == "open"
        with pytest.raises(TimeoutError):
            request(across, timeout_s=0.3)
        assert request(inside)[0] == 200
