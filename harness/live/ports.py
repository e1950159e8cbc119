"""The live Metrics and ObjectStore ports: boto3 against the emulated Regions of `LiveAws`.

    clock = LiveClock()
    with LiveAws(["us-east-1", "us-west-2"], now=clock.now) as aws:
        metrics, store = live_ports(aws, "us-west-2", clock)   # DR code running in us-west-2
        metrics.scheduler_heartbeat("us-east-1", "env", 300.0)  # a cross-Region call

A port is made for the caller's Region, as the simulator's `World.ports_for(region)`; every
call goes to the *target* Region's endpoint as the caller reaches it (`LiveAws.endpoint_url(
target, caller)`, a fault proxy per path), so a fault of the target Region, a partition
between the two, or an outage of the caller's own Region is what the caller sees. The contract tests
(tests/contract) run the same assertions against these ports and the simulator's.

Failures are `PortError`s (`translate_error`):

    botocore                                        PortError.code
    ClientError Throttling, ThrottlingException,    THROTTLED ("ThrottlingException"): one
      ThrottledException, RequestThrottled(Except-  code for "slow down" whatever the service
      ion), TooManyRequestsException, SlowDown,     calls it (CloudWatch says "Throttling",
      RequestLimitExceeded, BandwidthLimitExceeded  S3 "SlowDown"); the original is in the
                                                    message
    ClientError PreconditionFailed (412)            PRECONDITION_FAILED
    ClientError on a conditional PutObject:         PRECONDITION_FAILED: the condition "the
      NoSuchKey (If-Match on a missing key, 404),   object is at this ETag" does not hold, or
      ConditionalRequestConflict (409)              a concurrent write won (S3 asks to retry
                                                    the read-modify-write; the caller must
                                                    re-read either way)
    any other ClientError                           its code as is (ServiceUnavailable,
                                                    InternalFailure, NoSuchBucket, ...; the
                                                    HTTP status as text when there is none)
    ConnectTimeoutError, ReadTimeoutError           TIMED_OUT: the caller's own timeout fired
    EndpointConnectionError and the other           UNREACHABLE: no HTTP answer (refused,
      botocore ConnectionErrors, ConnectionClosed-  reset, closed without an answer)
      Error and the other HTTPClientErrors,
      IncompleteReadError
    other BotoCoreErrors (ParamValidationError,     not translated: a bug or a broken set-up,
      NoCredentialsError, ...), everything else     not an observation of the world

Retries are botocore's (the client's Config); the code above is that of the last attempt.

Objects: the body is serialized as compact JSON with sorted keys (so equal bodies have equal
ETags, as S3's MD5 ETags do), ContentType application/json. `etag` is S3's ETag (with its
quotes); `last_modified` is S3's LastModified on the drill clock (whole seconds in moto and in
S3's GetObject answer, so it may read up to 1 s before the write). Conditional writes use
PutObject's If-Match / If-None-Match: "*", which S3 (since 2024) and moto 5.2.5 evaluate
server-side; nothing here reads before writing. (moto checks the condition and stores the
object in one request handler but without a lock, so two racing writers are not excluded by
construction; 300 rounds of 12 racing writers always produced exactly one winner. S3 itself
is atomic: the loser gets 412, or 409 ConditionalRequestConflict.)
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from botocore.exceptions import (
    ClientError,
    ConnectionError,
    ConnectTimeoutError,
    HTTPClientError,
    IncompleteReadError,
    ReadTimeoutError,
)

from reference_impl.ports import (
    PRECONDITION_FAILED,
    THROTTLED,
    TIMED_OUT,
    UNREACHABLE,
    PortError,
    StoredObject,
)

if TYPE_CHECKING:
    from harness.live.endpoints import LiveAws

# botocore's throttling codes (botocore.retries.standard) that mean "slow down"; not
# LimitExceededException (a quota in many services) nor TransactionInProgressException.
THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottled",
        "RequestThrottledException",
        "TooManyRequestsException",
        "SlowDown",
        "RequestLimitExceeded",
        "BandwidthLimitExceeded",
    }
)
# A conditional PutObject that lost: these mean "the condition does not hold (any more)".
CONDITIONAL_FAILURE_CODES = frozenset(
    {PRECONDITION_FAILED, "NoSuchKey", "ConditionalRequestConflict", "412", "409"}
)
# An object that is not a JSON object (written by something other than a port): live only.
MALFORMED_BODY = "MalformedObjectBody"

NAMESPACE = "AmazonMWAA"
HEARTBEAT_METRIC = "SchedulerHeartbeat"
HIGH_RESOLUTION_PERIODS = (1, 5, 10, 30)
QUERY_ID = "heartbeat"

# (service, target Region) -> a boto3 client of that Region's endpoint.
ClientFactory = Callable[[str, str], Any]


class DrillClock(Protocol):
    """What the ports need of the clock (`harness.live.clock.LiveClock` has it)."""

    def now(self) -> float: ...

    def wall_of(self, t: float) -> float: ...

    def drill_time_of(self, unix_time: float) -> float: ...


# Errors ---------------------------------------------------------------------------------------


def client_error_code(err: ClientError) -> str:
    """The AWS error code of a ClientError (the HTTP status as text when there is none)."""
    code = err.response.get("Error", {}).get("Code")
    if code:
        return str(code)
    status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return str(status) if status is not None else "Unknown"


def translate_error(err: BaseException, *, conditional_write: bool = False) -> PortError | None:
    """The PortError a botocore failure means (module docstring), or None when `err` is not
    a failure of the world (a bug: let it propagate). `conditional_write`: the call was a
    PutObject with If-Match / If-None-Match."""
    if isinstance(err, PortError):
        return err
    if isinstance(err, ClientError):
        code = client_error_code(err)
        message = str(err.response.get("Error", {}).get("Message") or "")
        if code in THROTTLING_CODES:
            return PortError(THROTTLED, f"{code}: {message}" if message else code)
        if code == PRECONDITION_FAILED or (conditional_write and code in CONDITIONAL_FAILURE_CODES):
            return PortError(PRECONDITION_FAILED, f"{code}: {message}" if message else code)
        return PortError(code, message)
    # Timeouts first: ConnectTimeoutError is also a botocore ConnectionError.
    if isinstance(err, ConnectTimeoutError | ReadTimeoutError):
        return PortError(TIMED_OUT, f"{type(err).__name__}: {err}")
    if isinstance(err, ConnectionError | HTTPClientError | IncompleteReadError):
        return PortError(UNREACHABLE, f"{type(err).__name__}: {err}")
    return None


@contextmanager
def translated(*, conditional_write: bool = False) -> Iterator[None]:
    """Raise the PortError of any world failure inside the block (the cause chained)."""
    try:
        yield
    except Exception as err:
        port_error = translate_error(err, conditional_write=conditional_write)
        if port_error is None or port_error is err:
            raise
        raise port_error from err


# Clients --------------------------------------------------------------------------------------


def aws_clients(aws: LiveAws, caller: str | None = None, **settings: Any) -> ClientFactory:
    """Clients of `aws` through each Region's fault proxy as `caller` reaches it (None: the
    harness), with `LiveAws.client` settings (max_attempts counts retries, as botocore's
    Config does; timeouts in seconds)."""

    def make(service: str, region: str) -> Any:
        return aws.client(service, region, caller=caller, **settings)

    return make


def live_ports(
    aws: LiveAws, caller: str, clock: DrillClock, **settings: Any
) -> tuple[LiveMetrics, LiveObjectStore]:
    """The Metrics and ObjectStore ports of DR code running in `caller`."""
    if caller not in aws.regions:
        raise ValueError(f"caller {caller!r} is not a Region of this LiveAws: {aws.regions}")
    clients = aws_clients(aws, caller, **settings)
    return LiveMetrics(clients, caller, clock), LiveObjectStore(clients, caller, clock)


# Metrics --------------------------------------------------------------------------------------


def cloudwatch_period(period_s: float) -> int:
    """The GetMetricData Period for a window of `period_s` seconds: rounded up to a period
    CloudWatch accepts (1, 5, 10, 30 or a multiple of 60), so one period covers the window."""
    if not math.isfinite(period_s) or period_s <= 0:
        raise ValueError(f"a period is a positive number of seconds, got {period_s!r}")
    for allowed in HIGH_RESOLUTION_PERIODS:
        if period_s <= allowed:
            return allowed
    return 60 * math.ceil(period_s / 60.0 - 1e-9)


def heartbeat_dimensions(environment: str) -> list[dict[str, str]]:
    return [
        {"Name": "Environment", "Value": environment},
        {"Name": "Function", "Value": "Scheduler"},
    ]


def _utc(unix_time: float) -> datetime:
    return datetime.fromtimestamp(unix_time, UTC)


class LiveMetrics:
    """reference_impl.ports.Metrics for DR code running in `caller`, against CloudWatch."""

    def __init__(
        self, clients: ClientFactory, caller: str, clock: DrillClock, *, max_pages: int = 10
    ) -> None:
        self.clients = clients
        self.caller = caller
        self.clock = clock
        self.max_pages = max_pages

    def scheduler_heartbeat(
        self, region: str, environment: str, period_s: float
    ) -> Sequence[float]:
        """GetMetricData, one query: Average of SchedulerHeartbeat over [now - period_s, now)
        with Period = `cloudwatch_period(period_s)` (at most one datapoint). [] when none."""
        period = cloudwatch_period(period_s)
        now = self.clock.now()
        start, end = self.clock.wall_of(now - period_s), self.clock.wall_of(now)
        query = {
            "Id": QUERY_ID,
            "MetricStat": {
                "Metric": {
                    "Namespace": NAMESPACE,
                    "MetricName": HEARTBEAT_METRIC,
                    "Dimensions": heartbeat_dimensions(environment),
                },
                "Period": period,
                "Stat": "Average",
            },
            "ReturnData": True,
        }
        client = self.clients("cloudwatch", region)
        values: list[float] = []
        token: str | None = None
        for _ in range(self.max_pages):
            kwargs: dict[str, Any] = {
                "MetricDataQueries": [query],
                "StartTime": _utc(start),
                "EndTime": _utc(end),
            }
            if token:
                kwargs["NextToken"] = token
            with translated():
                answer = client.get_metric_data(**kwargs)
            for result in answer.get("MetricDataResults", []):
                if result.get("Id") != QUERY_ID:
                    continue
                status = str(result.get("StatusCode", "Complete"))
                if status in ("InternalError", "Forbidden"):
                    messages = "; ".join(
                        str(m.get("Value", "")) for m in result.get("Messages", [])
                    )
                    raise PortError(status, messages or f"GetMetricData result {status}")
                values.extend(float(value) for value in result.get("Values", []))
            token = answer.get("NextToken")
            if not token:
                return values
        raise RuntimeError(f"GetMetricData still paging after {self.max_pages} pages")


# Objects --------------------------------------------------------------------------------------


def _jsonable(value: Any, path: str = "body") -> Any:
    """`value` as plain JSON data (Mappings -> dict, tuples -> list); TypeError/ValueError for
    what JSON cannot carry (non-str keys, NaN, other types), instead of a silent change."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{path}: {value} is not a JSON number")
        return value
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"{path}: key {key!r} is not a string")
            out[key] = _jsonable(item, f"{path}.{key}")
        return out
    if isinstance(value, list | tuple):
        return [_jsonable(item, f"{path}[{i}]") for i, item in enumerate(value)]
    raise TypeError(f"{path}: {type(value).__name__} is not JSON data")


def encode_body(body: Mapping[str, Any]) -> bytes:
    """Compact JSON, keys sorted: equal bodies are equal bytes (hence equal ETags)."""
    if not isinstance(body, Mapping):
        raise TypeError(f"a body is a mapping, got {type(body).__name__}")
    return json.dumps(
        _jsonable(body), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode("utf-8")


def decode_body(data: bytes, key: str) -> dict[str, Any]:
    try:
        body = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise PortError(MALFORMED_BODY, f"{key}: not JSON: {err}") from err
    if not isinstance(body, dict):
        raise PortError(MALFORMED_BODY, f"{key}: not a JSON object")
    return body


class LiveObjectStore:
    """reference_impl.ports.ObjectStore for DR code running in `caller`, against S3."""

    def __init__(
        self,
        clients: ClientFactory,
        caller: str,
        clock: DrillClock,
        *,
        max_pages: int = 1000,
        page_size: int = 1000,
    ) -> None:
        self.clients = clients
        self.caller = caller
        self.clock = clock
        self.max_pages = max_pages
        self.page_size = page_size

    def put(
        self,
        region: str,
        bucket: str,
        key: str,
        body: Mapping[str, Any],
        *,
        if_match: str | None = None,
        if_none_match: bool = False,
    ) -> str:
        kwargs: dict[str, Any] = {
            "Bucket": bucket,
            "Key": key,
            "Body": encode_body(body),
            "ContentType": "application/json",
        }
        if if_match is not None:
            kwargs["IfMatch"] = if_match
        if if_none_match:
            kwargs["IfNoneMatch"] = "*"
        conditional = if_match is not None or if_none_match
        client = self.clients("s3", region)
        with translated(conditional_write=conditional):
            answer = client.put_object(**kwargs)
        return str(answer["ETag"])

    def get(self, region: str, bucket: str, key: str) -> StoredObject | None:
        client = self.clients("s3", region)
        try:
            with translated():
                answer = client.get_object(Bucket=bucket, Key=key)
                data = answer["Body"].read()
        except PortError as err:
            if err.code == "NoSuchKey":
                return None
            raise
        modified = answer["LastModified"]
        return StoredObject(
            key=key,
            body=decode_body(data, key),
            etag=str(answer["ETag"]),
            last_modified=self.clock.drill_time_of(modified.timestamp()),
        )

    def list_keys(self, region: str, bucket: str, prefix: str) -> Sequence[str]:
        """Every key under `prefix`, sorted; at most `max_pages` ListObjectsV2 pages (then
        RuntimeError: a listing cut short would be a wrong answer, not a smaller one)."""
        client = self.clients("s3", region)
        keys: list[str] = []
        token: str | None = None
        for _ in range(self.max_pages):
            kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix, "MaxKeys": self.page_size}
            if token:
                kwargs["ContinuationToken"] = token
            with translated():
                page = client.list_objects_v2(**kwargs)
            keys.extend(str(item["Key"]) for item in page.get("Contents", []))
            next_token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or not next_token:
                return sorted(keys)
            if next_token == token:
                raise RuntimeError(f"ListObjectsV2 of {bucket} repeats its continuation token")
            token = str(next_token)
        raise RuntimeError(f"{bucket}/{prefix}: more than {self.max_pages} pages of keys")
