"""What an AWS request is and how AWS would refuse it: pure functions, no I/O.

`detect_service` tells which AWS service a request is for, the way an AWS front end would
route it: from the SigV4 credential scope (`Credential=AKID/20250101/us-east-1/monitoring/
aws4_request`, in the Authorization header or a presigned URL's X-Amz-Credential), else from
the X-Amz-Target prefix (JSON protocol), else from a Smithy RPC v2 path (`/service/<name>/
operation/<op>`). Services carry their SDK names (`cloudwatch`, `s3`, `mwaa`), not signing
names (`monitoring`, `s3`, `airflow`).

`error_reply` builds the error answer in the wire protocol the request used, so botocore
parses the code exactly as it would from AWS:

- `json` (awsJson1_0/1_1; CloudWatch with botocore >= 1.37 or so): body
  `{"__type": "<prefix>#<Code>", "message": ...}`, header `X-Amzn-ErrorType`; for
  query-compatible services (the client sends `x-amzn-query-mode: true`, e.g. CloudWatch, SQS)
  also `x-amzn-query-error: <Code>;Sender|Receiver`, which botocore prefers for the code.
- `cbor` (Smithy RPC v2 CBOR): the same fields, CBOR-encoded.
- `query` (CloudWatch with older botocore, STS, IAM): `<ErrorResponse><Error><Type>Sender|
  Receiver</Type><Code>..</Code><Message>..</Message></Error><RequestId>..</RequestId>
  </ErrorResponse>`.
- `rest-xml` (S3): `<Error><Code>..</Code><Message>..</Message><RequestId>..</RequestId>
  <HostId>..</HostId></Error>`; a HEAD answer has no body (botocore then reports the status).
- `rest-json` (MWAA): header `x-amzn-ErrorType: <Code>`, body `{"message": ...}`.
"""

from __future__ import annotations

import json
import re
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal
from urllib.parse import parse_qs, urlsplit
from xml.sax.saxutils import escape

Protocol = Literal["json", "cbor", "query", "rest-xml", "rest-json"]
PROTOCOLS: tuple[Protocol, ...] = ("json", "cbor", "query", "rest-xml", "rest-json")

UNKNOWN_SERVICE = "unknown"

# SigV4 signing name -> SDK service name (only where they differ, plus the common ones).
SIGNING_NAME_TO_SERVICE: Mapping[str, str] = {
    "monitoring": "cloudwatch",
    "airflow": "mwaa",
    "states": "stepfunctions",
    "s3": "s3",
    "sts": "sts",
    "iam": "iam",
    "logs": "logs",
    "events": "events",
    "scheduler": "scheduler",
    "secretsmanager": "secretsmanager",
    "ssm": "ssm",
    "kms": "kms",
    "sqs": "sqs",
    "sns": "sns",
    "dynamodb": "dynamodb",
    "lambda": "lambda",
    "route53": "route53",
}

# X-Amz-Target prefix (before the dot) -> SDK service name.
TARGET_PREFIX_TO_SERVICE: Mapping[str, str] = {
    "GraniteServiceVersion20100801": "cloudwatch",
    "AWSStepFunctions": "stepfunctions",
    "secretsmanager": "secretsmanager",
    "Logs_20140328": "logs",
    "AWSEvents": "events",
    "AmazonSSM": "ssm",
    "TrentService": "kms",
    "AmazonSQS": "sqs",
    "DynamoDB_20120810": "dynamodb",
}

# The JSON `__type` namespace AWS uses per service (json/cbor protocols).
ERROR_NAMESPACE: Mapping[str, str] = {
    "cloudwatch": "GraniteServiceVersion20100801",
    "stepfunctions": "com.amazonaws.sfn",
    "secretsmanager": "com.amazonaws.secretsmanager",
    "sqs": "com.amazonaws.sqs",
}

# The XML namespace of query-protocol error documents.
QUERY_XMLNS: Mapping[str, str] = {
    "cloudwatch": "http://monitoring.amazonaws.com/doc/2010-08-01/",
    "sts": "https://sts.amazonaws.com/doc/2011-06-15/",
    "iam": "https://iam.amazonaws.com/doc/2010-05-08/",
}

REST_XML_SERVICES = frozenset({"s3", "route53", "cloudfront"})

_CREDENTIAL = re.compile(r"Credential=([^/,\s]*)/(\d{8})/([^/,\s]+)/([^/,\s]+)/aws4_request")
_CREDENTIAL_PARAM = re.compile(r"^([^/]*)/(\d{8})/([^/]+)/([^/]+)/aws4_request$")
_RPC_V2_PATH = re.compile(r"^/service/([^/]+)/operation/[^/?]+")


def _lower(headers: Mapping[str, str]) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


@dataclass(frozen=True)
class CredentialScope:
    access_key_id: str
    date: str
    region: str
    signing_name: str


def credential_scope(headers: Mapping[str, str], target: str = "/") -> CredentialScope | None:
    """The SigV4 credential scope of a request (Authorization header, else presigned URL)."""
    lowered = _lower(headers)
    match = _CREDENTIAL.search(lowered.get("authorization", ""))
    if match:
        return CredentialScope(*match.groups())
    query = parse_qs(urlsplit(target).query)
    for value in query.get("X-Amz-Credential", []):
        match = _CREDENTIAL_PARAM.match(value)
        if match:
            return CredentialScope(*match.groups())
    return None


def detect_service(headers: Mapping[str, str], target: str = "/") -> str:
    """The SDK name of the service a request is for; `UNKNOWN_SERVICE` if it cannot tell.

    `target` is the request target (path and query), as in the HTTP request line."""
    scope = credential_scope(headers, target)
    if scope is not None:
        return SIGNING_NAME_TO_SERVICE.get(scope.signing_name, scope.signing_name)
    lowered = _lower(headers)
    amz_target = lowered.get("x-amz-target", "")
    if amz_target:
        prefix = amz_target.split(".", 1)[0]
        return TARGET_PREFIX_TO_SERVICE.get(prefix, prefix)
    match = _RPC_V2_PATH.match(urlsplit(target).path)
    if match:
        name = match.group(1)
        return TARGET_PREFIX_TO_SERVICE.get(name, name)
    return UNKNOWN_SERVICE


def detect_protocol(service: str, headers: Mapping[str, str]) -> Protocol:
    """The wire protocol a request used, hence the format its error answer must have."""
    lowered = _lower(headers)
    content_type = lowered.get("content-type", "").lower()
    if service in REST_XML_SERVICES:
        return "rest-xml"
    if lowered.get("smithy-protocol", "").lower() == "rpc-v2-cbor" or content_type.startswith(
        "application/cbor"
    ):
        return "cbor"
    if content_type.startswith("application/x-amz-json") or "x-amz-target" in lowered:
        return "json"
    if content_type.startswith("application/x-www-form-urlencoded"):
        return "query"
    return "rest-json"


def is_query_compatible(headers: Mapping[str, str]) -> bool:
    """botocore marks requests to services that moved off the query protocol."""
    return _lower(headers).get("x-amzn-query-mode", "").lower() == "true"


def json_version(headers: Mapping[str, str]) -> str:
    content_type = _lower(headers).get("content-type", "")
    match = re.match(r"application/x-amz-json-(\d\.\d)", content_type)
    return match.group(1) if match else "1.0"


# Codes, statuses, messages -----------------------------------------------------------------

# What AWS answers with, per error code (HTTP status, message); a code not listed gets 500.
KNOWN_ERRORS: Mapping[str, tuple[int, str]] = {
    "ServiceUnavailable": (503, "Service is unavailable."),
    "ServiceUnavailableException": (503, "Service is unavailable."),
    "InternalFailure": (
        500,
        "The request processing has failed because of an unknown error, exception or failure.",
    ),
    "InternalServiceError": (500, "Internal service error."),
    "InternalServiceFault": (500, "Internal service error."),
    "InternalError": (500, "We encountered an internal error. Please try again."),
    "InternalServerException": (500, "Internal server error."),
    "Throttling": (400, "Rate exceeded"),
    "ThrottlingException": (400, "Rate exceeded"),
    "ThrottledException": (400, "Rate exceeded"),
    "RequestLimitExceeded": (503, "Request limit exceeded."),
    "TooManyRequestsException": (429, "Too many requests."),
    "SlowDown": (503, "Please reduce your request rate."),
    "RequestTimeout": (
        400,
        "Your socket connection to the server was not read from or written to within the "
        "timeout period.",
    ),
    "AccessDenied": (403, "Access Denied"),
    "AccessDeniedException": (403, "Access denied."),
}


def default_status(code: str) -> int:
    return KNOWN_ERRORS.get(code, (500, ""))[0]


def default_message(code: str) -> str:
    return KNOWN_ERRORS.get(code, (500, code))[1] or code


# Replies ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ErrorReply:
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes


def error_reply(
    protocol: Protocol,
    code: str,
    *,
    service: str = UNKNOWN_SERVICE,
    status: int | None = None,
    message: str | None = None,
    request_id: str = "00000000-0000-0000-0000-000000000000",
    query_compatible: bool = False,
    json_version: str = "1.0",
    head: bool = False,
) -> ErrorReply:
    """The error answer AWS would give to a request of `protocol`, as bytes on the wire."""
    if not code:
        raise ValueError("an error reply needs a code")
    status = default_status(code) if status is None else status
    message = default_message(code) if message is None else message
    fault = "Sender" if status < 500 else "Receiver"
    headers: list[tuple[str, str]] = [("x-amzn-RequestId", request_id)]
    if protocol in ("json", "cbor"):
        namespace = ERROR_NAMESPACE.get(service)
        type_name = f"{namespace}#{code}" if namespace else code
        headers.append(("X-Amzn-ErrorType", type_name))
        if query_compatible:
            headers.append(("x-amzn-query-error", f"{code};{fault}"))
        document = {"__type": type_name, "message": message}
        if protocol == "json":
            headers.append(("Content-Type", f"application/x-amz-json-{json_version}"))
            body = json.dumps(document).encode()
        else:
            headers.append(("Content-Type", "application/cbor"))
            headers.append(("smithy-protocol", "rpc-v2-cbor"))
            body = cbor_encode_text_map(document)
    elif protocol == "query":
        xmlns = QUERY_XMLNS.get(service)
        opening = f'<ErrorResponse xmlns="{xmlns}">' if xmlns else "<ErrorResponse>"
        body = (
            f"{opening}<Error><Type>{fault}</Type><Code>{escape(code)}</Code>"
            f"<Message>{escape(message)}</Message></Error>"
            f"<RequestId>{escape(request_id)}</RequestId></ErrorResponse>"
        ).encode()
        headers.append(("Content-Type", "text/xml"))
    elif protocol == "rest-xml":
        headers = [("x-amz-request-id", request_id), ("x-amz-id-2", request_id)]
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{escape(code)}</Code><Message>{escape(message)}</Message>"
            f"<RequestId>{escape(request_id)}</RequestId>"
            f"<HostId>{escape(request_id)}</HostId></Error>"
        ).encode()
        headers.append(("Content-Type", "application/xml"))
    elif protocol == "rest-json":
        headers.append(("x-amzn-ErrorType", code))
        headers.append(("Content-Type", "application/json"))
        body = json.dumps({"message": message}).encode()
    else:  # pragma: no cover - Literal exhausted
        raise ValueError(f"unknown protocol {protocol!r}")
    if head:
        body = b""
    return ErrorReply(status=status, headers=tuple(headers), body=body)


# A minimal CBOR encoder (RFC 8949) for the flat string maps of error documents --------------


def _cbor_head(major: int, length: int) -> bytes:
    if length < 24:
        return bytes([(major << 5) | length])
    if length < 0x100:
        return bytes([(major << 5) | 24, length])
    if length < 0x10000:
        return bytes([(major << 5) | 25]) + struct.pack(">H", length)
    if length < 0x100000000:
        return bytes([(major << 5) | 26]) + struct.pack(">I", length)
    return bytes([(major << 5) | 27]) + struct.pack(">Q", length)


def _cbor_text(text: str) -> bytes:
    data = text.encode("utf-8")
    return _cbor_head(3, len(data)) + data


def cbor_encode_text_map(document: Mapping[str, str]) -> bytes:
    """CBOR for a map of text keys to text values."""
    out = bytearray(_cbor_head(5, len(document)))
    for key, value in document.items():
        out += _cbor_text(key)
        out += _cbor_text(value)
    return bytes(out)
