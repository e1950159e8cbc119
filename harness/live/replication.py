"""S3 Cross-Region Replication, performed by the harness (moto stores the configuration only).

For every bucket with a replication configuration (read through GetBucketReplication), the
`Replicator` copies new and changed objects to each rule's destination bucket, `lag_s` after
it saw them written (per object: arrival >= written + lag), and not at all while stalled (it
keeps watching, and catches up when resumed). Every arrival is reported through `on_arrival`
with the time the object was seen written and the time its copy landed.

It polls each source bucket with ListObjectsV2 (bounded page loops) and copies with
GetObject(IfMatch=<the ETag it saw>) + PutObject, straight to the emulator: replication is
AWS-internal traffic, so it does not go through the Regions' fault proxies and carries on
during a network partition between Regions.

What it models and what not:
- `written_at` is when the replicator first saw the new ETag (<= one poll interval after the
  real write; S3's LastModified only has whole seconds in moto), so arrivals never come early.
- Rules: Status Enabled, Filter.Prefix / Filter.And.Prefix / legacy Prefix; among rules to the
  same destination the highest Priority wins. Tag filters are ignored.
- Objects written by the replicator (replicas) are not replicated again (as S3 does).
- Deletes are not replicated (DeleteMarkerReplication Disabled, the default for V2 rules).
- If an object changes again before its copy is due, only the newest version is copied.
- Objects already in a bucket when its rule is first read are replicated too (as with S3's
  existing-object replication); set replication up before writing to avoid that.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from harness.live import safety
from harness.live.clock import LiveClock

MAX_PAGES = 1000  # ListObjectsV2 pages per bucket per poll (1000 keys each)


@dataclass(frozen=True)
class ReplicationRule:
    source_bucket: str
    source_region: str
    dest_bucket: str
    dest_region: str
    prefix: str = ""
    rule_id: str = ""
    priority: int = 0


@dataclass(frozen=True)
class ReplicationArrival:
    """One object copy that landed in the destination bucket."""

    source_region: str
    source_bucket: str
    dest_region: str
    dest_bucket: str
    key: str
    etag: str
    written_at: float  # when the replicator saw the write (replicator clock)
    due_at: float  # written_at + lag
    arrived_at: float  # when the copy was complete

    @property
    def lag_s(self) -> float:
        return self.arrived_at - self.written_at

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source_region,
            "dest": self.dest_region,
            "source_bucket": self.source_bucket,
            "dest_bucket": self.dest_bucket,
            "key": self.key,
            "etag": self.etag,
            "written_at": self.written_at,
            "due_at": self.due_at,
            "arrived_at": self.arrived_at,
        }


@dataclass
class _Pending:
    rule: ReplicationRule
    key: str
    etag: str
    written_at: float
    due_at: float


LagPolicy = float | Callable[[ReplicationRule, str], float]
ArrivalListener = Callable[[ReplicationArrival], None]


def rules_from_configuration(
    source_bucket: str,
    source_region: str,
    configuration: dict[str, Any],
    region_of_bucket: Callable[[str], str],
) -> list[ReplicationRule]:
    """The enabled rules of a GetBucketReplication `ReplicationConfiguration`."""
    rules: list[ReplicationRule] = []
    for raw in configuration.get("Rules", []):
        if raw.get("Status") != "Enabled":
            continue
        arn = str(raw.get("Destination", {}).get("Bucket", ""))
        dest_bucket = arn.rsplit(":::", 1)[-1] if ":::" in arn else arn
        if not dest_bucket:
            continue
        filter_ = raw.get("Filter") or {}
        prefix = filter_.get("Prefix")
        if prefix is None:
            prefix = (filter_.get("And") or {}).get("Prefix")
        if prefix is None:
            prefix = raw.get("Prefix", "")
        rules.append(
            ReplicationRule(
                source_bucket=source_bucket,
                source_region=source_region,
                dest_bucket=dest_bucket,
                dest_region=region_of_bucket(dest_bucket),
                prefix=str(prefix or ""),
                rule_id=str(raw.get("ID", "")),
                priority=int(raw.get("Priority", 0)),
            )
        )
    return rules


def rule_for(rules: list[ReplicationRule], dest_bucket: str, key: str) -> ReplicationRule | None:
    """The rule that replicates `key` to `dest_bucket` (highest priority match), if any."""
    matching = [r for r in rules if r.dest_bucket == dest_bucket and key.startswith(r.prefix)]
    return max(matching, key=lambda r: r.priority) if matching else None


class Replicator:
    """Copies objects between buckets as S3 replication would, with lag and stalls."""

    def __init__(
        self,
        emulator_url: str,
        *,
        now: Callable[[], float] | None = None,
        lag_s: LagPolicy = 0.0,
        poll_interval_s: float = 0.1,
        rules_refresh_s: float = 1.0,
        on_arrival: ArrivalListener | None = None,
        on_error: Callable[[Exception], None] | None = None,
        client_factory: Callable[[str], Any] | None = None,
    ) -> None:
        safety.check_endpoint(emulator_url)
        self._client_factory = client_factory
        self.emulator_url = emulator_url
        self._now = now or LiveClock().now
        self._lag = lag_s
        self.poll_interval_s = poll_interval_s
        self.rules_refresh_s = rules_refresh_s
        self._listeners: list[ArrivalListener] = [on_arrival] if on_arrival else []
        self._on_error = on_error
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._stalled_all = False
        self._stalled_regions: set[str] = set()
        self._rules: list[ReplicationRule] = []
        self._rules_read_at: float | None = None
        self._seen: dict[tuple[str, str], str] = {}  # (bucket, key) -> ETag last seen
        self._replicas: dict[tuple[str, str], str] = {}  # (bucket, key) -> ETag we wrote
        self._pending: dict[tuple[str, str, str], _Pending] = {}  # (src, dest, key)
        self._arrivals: list[ReplicationArrival] = []
        self._clients: dict[str, Any] = {}  # boto3 S3 clients
        self._bucket_regions: dict[str, str] = {}
        self.errors: list[str] = []

    # Configuration ------------------------------------------------------------------------
    def add_listener(self, listener: ArrivalListener) -> None:
        with self._lock:
            self._listeners.append(listener)

    def set_lag(self, lag_s: LagPolicy) -> None:
        """Change the lag for objects seen written from now on."""
        with self._lock:
            self._lag = lag_s

    def stall(self, source_region: str | None = None) -> None:
        """No copies (from `source_region`, or at all) until `resume`; writes are still seen."""
        with self._lock:
            if source_region is None:
                self._stalled_all = True
            else:
                self._stalled_regions.add(source_region)

    def resume(self, source_region: str | None = None) -> None:
        """Copies go on; everything that came due during the stall is copied at once."""
        with self._lock:
            if source_region is None:
                self._stalled_all = False
                self._stalled_regions.clear()
            else:
                self._stalled_regions.discard(source_region)
        self._wake.set()

    def stalled(self, source_region: str | None = None) -> bool:
        with self._lock:
            if self._stalled_all:
                return True
            if source_region is None:
                return bool(self._stalled_regions)
            return source_region in self._stalled_regions

    # Reading state ------------------------------------------------------------------------
    @property
    def rules(self) -> list[ReplicationRule]:
        with self._lock:
            return list(self._rules)

    @property
    def arrivals(self) -> list[ReplicationArrival]:
        with self._lock:
            return list(self._arrivals)

    def pending(self) -> list[tuple[ReplicationRule, str, float]]:
        """(rule, key, due_at) of every copy not made yet."""
        with self._lock:
            return [(p.rule, p.key, p.due_at) for p in self._pending.values()]

    # Running ------------------------------------------------------------------------------
    def start(self) -> Replicator:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="replicator", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout_s)
            self._thread = None

    def __enter__(self) -> Replicator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def poke(self) -> None:
        """Poll now instead of at the end of the current interval."""
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once()
            except (BotoCoreError, ClientError, OSError) as err:
                self._error(err)
            self._wake.wait(self.poll_interval_s)
            self._wake.clear()

    def refresh_rules(self) -> list[ReplicationRule]:
        """Read every bucket's replication configuration (ListBuckets, GetBucketReplication)."""
        s3 = self._client("us-east-1")
        rules: list[ReplicationRule] = []
        buckets = [b["Name"] for b in s3.list_buckets().get("Buckets", [])]
        for bucket in buckets:
            try:
                configuration = s3.get_bucket_replication(Bucket=bucket)
            except ClientError as err:
                if _code(err) in ("ReplicationConfigurationNotFoundError", "NoSuchBucket"):
                    continue
                raise
            rules.extend(
                rules_from_configuration(
                    bucket,
                    self._region_of(bucket),
                    configuration.get("ReplicationConfiguration", {}),
                    self._region_of,
                )
            )
        with self._lock:
            self._rules = rules
            self._rules_read_at = self._now()
        return rules

    def poll_once(self) -> int:
        """One pass: refresh rules if due, see new writes, copy what is due. Returns the
        number of copies made."""
        with self._lock:
            stale = (
                self._rules_read_at is None
                or self._now() - self._rules_read_at >= self.rules_refresh_s
            )
        if stale:
            self.refresh_rules()
        self._scan()
        return self._copy_due()

    # Internals ----------------------------------------------------------------------------
    def _scan(self) -> None:
        rules = self.rules
        by_source: dict[str, list[ReplicationRule]] = {}
        for rule in rules:
            by_source.setdefault(rule.source_bucket, []).append(rule)
        for source_bucket, source_rules in by_source.items():
            region = source_rules[0].source_region
            for key, etag in self._list(region, source_bucket):
                with self._lock:
                    if self._seen.get((source_bucket, key)) == etag:
                        continue
                    self._seen[(source_bucket, key)] = etag
                    if self._replicas.get((source_bucket, key)) == etag:
                        continue  # a replica we wrote: S3 does not replicate it again
                    written_at = self._now()
                    for dest_bucket in sorted({r.dest_bucket for r in source_rules}):
                        chosen = rule_for(source_rules, dest_bucket, key)
                        if chosen is None:
                            continue
                        lag = self._lag(chosen, key) if callable(self._lag) else self._lag
                        self._pending[(source_bucket, dest_bucket, key)] = _Pending(
                            rule=chosen,
                            key=key,
                            etag=etag,
                            written_at=written_at,
                            due_at=written_at + max(0.0, float(lag)),
                        )

    def _copy_due(self) -> int:
        copies = 0
        with self._lock:
            now = self._now()
            due = sorted(
                (
                    p
                    for p in self._pending.values()
                    if p.due_at <= now
                    and not self._stalled_all
                    and p.rule.source_region not in self._stalled_regions
                ),
                key=lambda p: (p.due_at, p.key),
            )
        for pending in due:
            if self._stop.is_set() or self.stalled(pending.rule.source_region):
                break
            arrival = self._copy(pending)
            if arrival is None:
                continue
            copies += 1
            with self._lock:
                self._arrivals.append(arrival)
                listeners = list(self._listeners)
            for listener in listeners:
                listener(arrival)
        return copies

    def _copy(self, pending: _Pending) -> ReplicationArrival | None:
        rule = pending.rule
        source = self._client(rule.source_region)
        dest = self._client(rule.dest_region)
        slot = (rule.source_bucket, rule.dest_bucket, pending.key)
        try:
            got = source.get_object(
                Bucket=rule.source_bucket, Key=pending.key, IfMatch=pending.etag
            )
            data = got["Body"].read()
        except ClientError as err:
            if _code(err) in ("PreconditionFailed", "NoSuchKey", "412", "404"):
                # Changed or deleted since seen: the newer version has its own pending copy.
                with self._lock:
                    if self._pending.get(slot) is pending:
                        del self._pending[slot]
                return None
            raise
        extra: dict[str, Any] = {}
        if got.get("ContentType"):
            extra["ContentType"] = got["ContentType"]
        if got.get("Metadata"):
            extra["Metadata"] = got["Metadata"]
        put = dest.put_object(Bucket=rule.dest_bucket, Key=pending.key, Body=data, **extra)
        arrived_at = self._now()
        with self._lock:
            self._replicas[(rule.dest_bucket, pending.key)] = str(put.get("ETag", ""))
            if self._pending.get(slot) is pending:
                del self._pending[slot]
        return ReplicationArrival(
            source_region=rule.source_region,
            source_bucket=rule.source_bucket,
            dest_region=rule.dest_region,
            dest_bucket=rule.dest_bucket,
            key=pending.key,
            etag=pending.etag,
            written_at=pending.written_at,
            due_at=pending.due_at,
            arrived_at=arrived_at,
        )

    def _list(self, region: str, bucket: str) -> Iterator[tuple[str, str]]:
        s3 = self._client(region)
        token: str | None = None
        for _ in range(MAX_PAGES):
            kwargs: dict[str, Any] = {"Bucket": bucket}
            if token:
                kwargs["ContinuationToken"] = token
            try:
                page = s3.list_objects_v2(**kwargs)
            except ClientError as err:
                if _code(err) == "NoSuchBucket":
                    return
                raise
            for item in page.get("Contents", []):
                yield str(item["Key"]), str(item.get("ETag", ""))
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or not token:
                return
        self._error(RuntimeError(f"{bucket}: more than {MAX_PAGES} pages; listing cut short"))

    def _region_of(self, bucket: str) -> str:
        with self._lock:
            known = self._bucket_regions.get(bucket)
        if known is not None:
            return known
        location = self._client("us-east-1").get_bucket_location(Bucket=bucket)
        region = str(location.get("LocationConstraint") or "us-east-1")
        with self._lock:
            self._bucket_regions[bucket] = region
        return region

    def _client(self, region: str) -> Any:
        with self._lock:
            client = self._clients.get(region)
            if client is None and self._client_factory is not None:
                client = self._client_factory(region)
                self._clients[region] = client
            if client is None:
                client = boto3.session.Session(
                    region_name=region,
                    aws_access_key_id=safety.DUMMY_ACCESS_KEY_ID,
                    aws_secret_access_key=safety.DUMMY_SECRET_ACCESS_KEY,
                ).client(
                    "s3",
                    endpoint_url=self.emulator_url,
                    config=Config(
                        retries={"mode": "standard", "max_attempts": 2},
                        connect_timeout=2,
                        read_timeout=10,
                        proxies={},
                        s3={"addressing_style": "path"},
                    ),
                )
                self._clients[region] = client
            return client

    def _error(self, err: Exception) -> None:
        with self._lock:
            self.errors.append(f"{type(err).__name__}: {err}")
            del self.errors[:-100]
        if self._on_error is not None:
            with contextlib.suppress(Exception):
                self._on_error(err)


def _code(err: ClientError) -> str:
    return str(err.response.get("Error", {}).get("Code", ""))
