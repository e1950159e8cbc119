"""S3: one backup bucket per Region, with cross-Region replication from the primary's bucket to
the secondary's.

An object written to the primary's bucket arrives in the secondary's after a base lag
(calibration, per object) plus the lag of every replication_lag fault of the primary covering
its write. Nothing arrives while replication is blocked: during a replication_stall of the
primary, or while the source or destination Region is dark (region_outage); what was due then
arrives when the block ends, or never if it lasts to the drill's end. A partition between the
Regions does not stop replication (it runs inside AWS). Each arrival is recorded as a
`replication` event whose backup_id is the object key and whose written_t is the time the
object was written in the source bucket.

Writes are conditional as in S3 (If-Match / If-None-Match on ETags). Bodies are copied on the
way in and out, as a real store serializes them.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
from collections.abc import Mapping, Sequence
from typing import Any

from harness.history import History
from harness.scenario.model import FaultKind
from harness.sim.calibration import S3 as S3Calibration
from harness.sim.engine import Engine
from harness.sim.faults import FaultSchedule
from harness.sim.network import Network
from reference_impl.context import Topology
from reference_impl.ports import PRECONDITION_FAILED, PortError, StoredObject

_SCALARS = frozenset({str, int, float, bool, type(None)})


def json_copy(value: Any) -> Any:
    """A copy of JSON-like data (what a store that serializes bodies would hand back); much
    faster than copy.deepcopy, which is built for arbitrary objects."""
    kind = type(value)
    if kind in _SCALARS:
        return value
    # Scalars are checked inline: most values of a backup's rows are scalars.
    scalars = _SCALARS
    if kind is dict or isinstance(value, Mapping):
        return {
            key: item if type(item) in scalars else json_copy(item) for key, item in value.items()
        }
    if kind is list or kind is tuple:
        return [item if type(item) in scalars else json_copy(item) for item in value]
    return value


class S3:
    def __init__(
        self,
        engine: Engine,
        calibration: S3Calibration,
        faults: FaultSchedule,
        network: Network,
        history: History,
        topology: Topology,
        rng: random.Random,
    ) -> None:
        self.engine = engine
        self.cal = calibration
        self.faults = faults
        self.network = network
        self.history = history
        self.rng = rng
        self.source = topology.primary
        self.dest = topology.secondary
        self.source_bucket = topology.bucket(topology.primary)
        self.dest_bucket = topology.bucket(topology.secondary)
        # (Region, bucket) -> key -> (object, version): the version orders replicas.
        self.buckets: dict[tuple[str, str], dict[str, tuple[StoredObject, int]]] = {
            (self.source, self.source_bucket): {},
            (self.dest, self.dest_bucket): {},
        }
        self._version = 0
        # What holds replication up: stalls of the source, the source or destination dark.
        self._blocks = (
            *faults.of(FaultKind.REPLICATION_STALL, self.source),
            *faults.of(FaultKind.REGION_OUTAGE, self.source),
            *faults.of(FaultKind.REGION_OUTAGE, self.dest),
        )

    def bucket(self, region: str, bucket: str) -> dict[str, tuple[StoredObject, int]]:
        found = self.buckets.get((region, bucket))
        if found is None:
            raise PortError("NoSuchBucket", f"no bucket {bucket} in {region}")
        return found

    # Writing -----------------------------------------------------------------------------------
    def put(
        self,
        region: str,
        bucket: str,
        key: str,
        body: Mapping[str, Any],
        if_match: str | None,
        if_none_match: bool,
    ) -> str:
        objects = self.bucket(region, bucket)
        existing = objects.get(key)
        if if_none_match and existing is not None:
            raise PortError(PRECONDITION_FAILED, f"{key} exists")
        if if_match is not None and (existing is None or existing[0].etag != if_match):
            raise PortError(PRECONDITION_FAILED, f"{key} is not at ETag {if_match}")
        self._version += 1
        stored = StoredObject(key, json_copy(body), content_etag(body), self.engine.t)
        objects[key] = (stored, self._version)
        if (region, bucket) == (self.source, self.source_bucket):
            self._replicate(stored, self._version)
        return stored.etag

    # Replication --------------------------------------------------------------------------------
    def arrival_time(self, written: float) -> float:
        """When an object written at `written` reaches the replica bucket (inf: never)."""
        lag = self.cal.replication_lag.sample(self.rng)
        for fault in self.faults.of(FaultKind.REPLICATION_LAG, self.source):
            if fault.covers(written):
                lag += fault.params["lag"]
        blocks = self._blocks
        arrival = written + lag
        moved = True
        while moved and math.isfinite(arrival):  # a block can end inside the next one
            moved = False
            for block in blocks:
                if block.covers(arrival):
                    arrival = block.end
                    moved = True
        return arrival

    def _replicate(self, stored: StoredObject, version: int) -> None:
        arrival = self.arrival_time(stored.last_modified)
        if arrival < self.engine.end:
            self.engine.at(arrival, lambda: self._arrive(stored, version))

    def _arrive(self, stored: StoredObject, version: int) -> None:
        replicas = self.buckets[(self.dest, self.dest_bucket)]
        current = replicas.get(stored.key)
        if current is None or current[1] < version:  # an older version arriving late loses
            replicas[stored.key] = (stored, version)
        self.history.record(
            self.engine.t,
            "replication",
            source=self.source,
            dest=self.dest,
            backup_id=stored.key,
            state="arrived",
            written_t=stored.last_modified,
        )


class StorePort:
    """reference_impl.ports.ObjectStore for DR code running in `caller`."""

    def __init__(self, s3: S3, caller: str) -> None:
        self.s3 = s3
        self.caller = caller

    def _call(self, region: str) -> None:
        self.s3.network.check(self.caller, region)
        self.s3.engine.charge(self.s3.cal.call)

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
        self._call(region)
        return self.s3.put(region, bucket, key, body, if_match, if_none_match)

    def get(self, region: str, bucket: str, key: str) -> StoredObject | None:
        self._call(region)
        found = self.s3.bucket(region, bucket).get(key)
        if found is None:
            return None
        obj = found[0]
        return StoredObject(obj.key, json_copy(obj.body), obj.etag, obj.last_modified)

    def list_keys(self, region: str, bucket: str, prefix: str) -> Sequence[str]:
        self._call(region)
        return sorted(key for key in self.s3.bucket(region, bucket) if key.startswith(prefix))


def content_etag(body: Mapping[str, Any]) -> str:
    """S3's ETag of a single-part PUT: the MD5 of the bytes, quoted. The bytes are the body as
    the live store serializes it (compact JSON, sorted keys), so the same body gets the same
    ETag in both worlds and an identical rewrite keeps it, as in S3."""
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return '"' + hashlib.md5(text.encode("utf-8"), usedforsecurity=False).hexdigest() + '"'
