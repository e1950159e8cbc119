"""Service detection and AWS error replies, checked against botocore's own response parsers."""

from __future__ import annotations

import json

import botocore.session
import pytest
from botocore.parsers import create_parser

from harness.live.protocols import (
    UNKNOWN_SERVICE,
    cbor_encode_text_map,
    credential_scope,
    default_status,
    detect_protocol,
    detect_service,
    error_reply,
    is_query_compatible,
    json_version,
)

AUTH = (
    "AWS4-HMAC-SHA256 Credential=testing/20261125/{region}/{service}/aws4_request, "
    "SignedHeaders=content-type;host;x-amz-date, Signature=abc123"
)


def auth(region: str, signing_name: str) -> dict[str, str]:
    return {"Authorization": AUTH.format(region=region, service=signing_name)}


# Service detection -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("signing_name", "service"),
    [
        ("monitoring", "cloudwatch"),
        ("s3", "s3"),
        ("airflow", "mwaa"),
        ("states", "stepfunctions"),
        ("somethingnew", "somethingnew"),
    ],
)
def test_service_from_sigv4_credential_scope(signing_name: str, service: str) -> None:
    assert detect_service(auth("eu-west-1", signing_name), "/") == service


def test_credential_scope_fields() -> None:
    scope = credential_scope(auth("us-west-2", "monitoring"))
    assert scope is not None
    assert (scope.access_key_id, scope.date, scope.region, scope.signing_name) == (
        "testing",
        "20261125",
        "us-west-2",
        "monitoring",
    )


def test_header_names_are_case_insensitive() -> None:
    headers = {"authorization": AUTH.format(region="us-east-1", service="s3")}
    assert detect_service(headers) == "s3"


def test_service_from_presigned_url() -> None:
    target = (
        "/bucket/key?X-Amz-Algorithm=AWS4-HMAC-SHA256"
        "&X-Amz-Credential=testing%2F20261125%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Signature=x"
    )
    assert detect_service({}, target) == "s3"


def test_service_from_x_amz_target_when_unsigned() -> None:
    headers = {"X-Amz-Target": "GraniteServiceVersion20100801.GetMetricData"}
    assert detect_service(headers) == "cloudwatch"
    assert detect_service({"X-Amz-Target": "AWSStepFunctions.StartExecution"}) == "stepfunctions"


def test_service_from_rpc_v2_cbor_path() -> None:
    target = "/service/GraniteServiceVersion20100801/operation/GetMetricData"
    assert detect_service({}, target) == "cloudwatch"


def test_signature_wins_over_target() -> None:
    headers = {**auth("us-east-1", "monitoring"), "X-Amz-Target": "AWSStepFunctions.X"}
    assert detect_service(headers) == "cloudwatch"


def test_unknown_service() -> None:
    assert detect_service({"Host": "127.0.0.1"}, "/moto-api/reset") == UNKNOWN_SERVICE


def test_service_detection_from_a_real_botocore_request() -> None:
    """Sign a request the way the pinned botocore does and detect its service."""
    session = botocore.session.get_session()
    session.set_credentials("testing", "testing")
    client = session.create_client(
        "cloudwatch", region_name="us-east-1", endpoint_url="http://127.0.0.1:9"
    )
    seen: dict[str, dict[str, str]] = {}

    def capture(request, **_kwargs):  # type: ignore[no-untyped-def]
        seen["headers"] = {
            k: v.decode() if isinstance(v, bytes) else v for k, v in request.headers.items()
        }
        raise RuntimeError("captured")

    client.meta.events.register("before-send", capture)
    with pytest.raises(RuntimeError, match="captured"):
        client.list_metrics()
    headers = seen["headers"]
    assert detect_service(headers) == "cloudwatch"
    assert detect_protocol("cloudwatch", headers) in ("json", "cbor", "query")


# Protocol detection ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("service", "headers", "protocol"),
    [
        ("cloudwatch", {"Content-Type": "application/x-amz-json-1.0"}, "json"),
        ("cloudwatch", {"X-Amz-Target": "GraniteServiceVersion20100801.ListMetrics"}, "json"),
        (
            "cloudwatch",
            {"Content-Type": "application/cbor", "smithy-protocol": "rpc-v2-cbor"},
            "cbor",
        ),
        ("cloudwatch", {"Content-Type": "application/x-www-form-urlencoded"}, "query"),
        ("s3", {"Content-Type": "application/x-www-form-urlencoded"}, "rest-xml"),
        ("s3", {}, "rest-xml"),
        ("mwaa", {"Content-Type": "application/json"}, "rest-json"),
    ],
)
def test_detect_protocol(service: str, headers: dict[str, str], protocol: str) -> None:
    assert detect_protocol(service, headers) == protocol


def test_query_mode_and_json_version() -> None:
    assert is_query_compatible({"x-amzn-query-mode": "true"})
    assert not is_query_compatible({})
    assert json_version({"Content-Type": "application/x-amz-json-1.1"}) == "1.1"
    assert json_version({}) == "1.0"


def test_default_statuses() -> None:
    assert default_status("ServiceUnavailable") == 503
    assert default_status("InternalFailure") == 500
    assert default_status("Throttling") == 400
    assert default_status("ThrottlingException") == 400
    assert default_status("SlowDown") == 503
    assert default_status("SomethingElse") == 500


# Error replies, parsed by botocore ---------------------------------------------------------


def parse_error(protocol: str, reply_status: int, headers, body: bytes) -> dict[str, str]:  # type: ignore[no-untyped-def]
    parser = create_parser(protocol)
    response = {
        "status_code": reply_status,
        "headers": {k.lower(): v for k, v in headers},
        "body": body,
    }
    parsed = parser.parse(response, None)
    error: dict[str, str] = parsed["Error"]
    return error


BOTOCORE_PROTOCOL = {
    "json": "json",
    "cbor": "smithy-rpc-v2-cbor",
    "query": "query",
    "rest-xml": "rest-xml",
    "rest-json": "rest-json",
}


@pytest.mark.parametrize("protocol", ["json", "cbor", "query", "rest-xml", "rest-json"])
@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("ServiceUnavailable", 503),
        ("InternalFailure", 500),
        ("Throttling", 400),
        ("ThrottlingException", 400),
        ("SlowDown", 503),
    ],
)
def test_botocore_parses_the_code(protocol, code: str, status: int) -> None:  # type: ignore[no-untyped-def]
    reply = error_reply(protocol, code, service="cloudwatch", query_compatible=True)
    assert reply.status == status
    error = parse_error(BOTOCORE_PROTOCOL[protocol], reply.status, reply.headers, reply.body)
    assert error["Code"] == code
    assert error["Message"]


def test_json_reply_shape_for_cloudwatch() -> None:
    reply = error_reply(
        "json", "Throttling", service="cloudwatch", query_compatible=True, request_id="r-1"
    )
    headers = dict(reply.headers)
    assert json.loads(reply.body) == {
        "__type": "GraniteServiceVersion20100801#Throttling",
        "message": "Rate exceeded",
    }
    assert headers["x-amzn-query-error"] == "Throttling;Sender"
    assert headers["Content-Type"] == "application/x-amz-json-1.0"
    assert headers["x-amzn-RequestId"] == "r-1"
    error = parse_error("json", reply.status, reply.headers, reply.body)
    assert error["Type"] == "Sender"


def test_json_reply_for_a_5xx_is_a_receiver_fault() -> None:
    reply = error_reply("json", "ServiceUnavailable", service="cloudwatch", query_compatible=True)
    assert dict(reply.headers)["x-amzn-query-error"] == "ServiceUnavailable;Receiver"


def test_json_reply_without_query_mode_has_no_query_header() -> None:
    reply = error_reply("json", "Throttling", service="cloudwatch")
    assert "x-amzn-query-error" not in dict(reply.headers)
    assert parse_error("json", reply.status, reply.headers, reply.body)["Code"] == "Throttling"


def test_s3_reply_shape() -> None:
    reply = error_reply("rest-xml", "SlowDown", service="s3", request_id="abc")
    assert reply.status == 503
    assert reply.body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown')
    assert dict(reply.headers)["x-amz-request-id"] == "abc"


def test_s3_head_reply_has_no_body() -> None:
    reply = error_reply("rest-xml", "ServiceUnavailable", service="s3", head=True)
    assert reply.body == b""
    assert reply.status == 503


def test_query_reply_escapes_and_names_namespace() -> None:
    reply = error_reply("query", "Throttling", service="cloudwatch", message="a < b & c")
    assert b'xmlns="http://monitoring.amazonaws.com/doc/2010-08-01/"' in reply.body
    assert b"a &lt; b &amp; c" in reply.body
    assert parse_error("query", reply.status, reply.headers, reply.body)["Message"] == "a < b & c"


def test_explicit_status_and_message() -> None:
    reply = error_reply("rest-json", "TooManyRequestsException", status=429, message="slow")
    assert reply.status == 429
    error = parse_error("rest-json", reply.status, reply.headers, reply.body)
    assert error == {"Code": "TooManyRequestsException", "Message": "slow"}


def test_an_empty_code_is_refused() -> None:
    with pytest.raises(ValueError):
        error_reply("json", "")


@pytest.mark.parametrize("length", [0, 5, 23, 24, 255, 256, 70000])
def test_cbor_text_map_round_trips_through_botocore(length: int) -> None:
    document = {"__type": "x" * length, "message": "m" * (length // 2)}
    encoded = cbor_encode_text_map(document)
    error = parse_error("smithy-rpc-v2-cbor", 400, [], encoded)
    assert error["Code"] == document["__type"]
    assert error["Message"] == document["message"]
