"""Faults switched on and off at run time, per (Region, service): the state the proxies read.

A `FaultController` holds the active faults of every Region. Each Region's proxy asks it,
per request, what to do (`decide`); switching a fault on or off takes effect for the very
next request (the state is read under a lock on every request; a Region's listener is closed
or reopened synchronously, before the switch call returns). Every switch is reported through
the `on_change` callbacks, after it has taken effect, so the drill history can record it.

Fault kinds (`service` is an SDK name such as `cloudwatch`, `s3`, `mwaa`, or `*` for all):

- `error`: answer `code` (HTTP `status`, default: what AWS uses for that code) instead of
  forwarding, for a fraction `rate` of requests. The body is in the request's protocol.
- `latency`: delay every request by `latency_s` (+ uniform jitter up to `jitter_s`).
- `hang`: accept the request and never answer, until the fault is cleared (then the request
  goes on as usual) or `max_hang_s` passes (then the connection is closed without an answer).
- `drop`: close the connection without an answer, for a fraction `rate` of requests.
- `unreachable` (whole Region, every service), by `mode`:
  `refuse` closes the Region's listener (connections are refused: ECONNREFUSED);
  `blackhole` listens with a full accept queue, so connection attempts time out (SYN dropped);
  `reset` accepts and resets every connection at once (ECONNRESET);
  `hang` accepts and never answers (like `hang` on every service).
  Open connections are closed when `refuse`, `blackhole` or `reset` starts.
- `partition` (whole Region, every service): the Region is cut off from every other Region.
  Only cross-Region paths see it: a request that a caller in one Region sends to another
  Region's endpoint (a `RegionProxy` with a `caller`), when either end is the cut Region. It
  acts on those paths as `unreachable` does, by `mode` (default `blackhole`: packets dropped,
  so connections time out); calls inside a Region, and the harness's own, go through.

Paths: a request is decided for a target Region and, when the caller is in another Region,
that caller (`decide(region, service, caller=...)`). A caller in a Region that is
`unreachable` reaches nothing either (nothing leaves a dark Region); faults of a service
(error, latency, hang, drop) belong to the target Region only.
"""

from __future__ import annotations

import itertools
import random
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal, cast, get_args

from harness.live.clock import LiveClock

FaultKind = Literal["error", "latency", "hang", "drop", "unreachable", "partition"]
UnreachableMode = Literal["refuse", "blackhole", "reset", "hang"]
FAULT_KINDS: tuple[str, ...] = get_args(FaultKind)
UNREACHABLE_MODES: tuple[str, ...] = get_args(UnreachableMode)
ANY_SERVICE = "*"
DEFAULT_MAX_HANG_S = 300.0
# Kinds that act on connections (a Region's listener), not on one service's requests.
PATH_KINDS = frozenset({"unreachable", "partition"})


class FaultError(ValueError):
    """A fault that cannot be switched on as asked."""


@dataclass(frozen=True)
class Fault:
    """One active fault. `id` is unique per controller."""

    id: int
    kind: FaultKind
    region: str
    service: str = ANY_SERVICE
    code: str | None = None
    status: int | None = None
    message: str | None = None
    rate: float = 1.0
    latency_s: float = 0.0
    jitter_s: float = 0.0
    mode: UnreachableMode | None = None
    max_hang_s: float = DEFAULT_MAX_HANG_S

    def matches(self, region: str, service: str) -> bool:
        """A service fault of `region` that applies to `service` (not the path kinds)."""
        return (
            self.kind not in PATH_KINDS
            and self.region == region
            and self.service in (ANY_SERVICE, service)
        )

    def cuts(self, target: str, caller: str | None) -> bool:
        """Whether this fault makes `target` unreachable for `caller` (None: a caller inside
        `target`'s Region, or the harness)."""
        crossing = caller is not None and caller != target
        if self.kind == "unreachable":
            return self.region == target or (crossing and self.region == caller)
        if self.kind == "partition":
            return crossing and self.region in (target, caller)
        return False

    def params(self) -> dict[str, Any]:
        """The parameters that matter for this kind (for the history's `fault_on.params`)."""
        out: dict[str, Any] = {"service": self.service}
        if self.kind == "error":
            out.update(code=self.code, status=self.status, rate=self.rate)
            if self.message is not None:
                out["message"] = self.message
        elif self.kind == "latency":
            out.update(latency_s=self.latency_s, jitter_s=self.jitter_s)
        elif self.kind == "hang":
            out.update(max_hang_s=self.max_hang_s)
        elif self.kind == "drop":
            out.update(rate=self.rate)
        elif self.kind in PATH_KINDS:
            out.update(mode=self.mode, max_hang_s=self.max_hang_s)
        return out

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "region": self.region, **self.params()}


@dataclass(frozen=True)
class FaultEvent:
    """A fault switched on or off, at `t` on the controller's clock."""

    action: Literal["on", "off"]
    fault: Fault
    t: float

    def to_json(self) -> dict[str, Any]:
        return {"action": self.action, "t": self.t, "fault": self.fault.to_json()}


@dataclass(frozen=True)
class Decision:
    """What to do with one request, read from the active faults at that moment."""

    version: int  # the controller's state version the decision was read at
    hang: Fault | None = None  # hold the request (hang fault or unreachable/hang)
    refuse: Fault | None = None  # Region unreachable (refuse/blackhole/reset): close at once
    delay_s: float = 0.0
    drop: Fault | None = None
    error: Fault | None = None
    latency: tuple[Fault, ...] = ()


FaultListener = Callable[[FaultEvent], None]


class FaultController:
    """The active faults of every Region, switched through this API (thread-safe)."""

    def __init__(
        self,
        *,
        now: Callable[[], float] | None = None,
        on_change: FaultListener | None = None,
        seed: int = 0,
        regions: tuple[str, ...] = (),
    ) -> None:
        self._now = now or LiveClock().now
        self._listeners: list[FaultListener] = [on_change] if on_change else []
        self._rng = random.Random(seed)
        self._ids = itertools.count(1)
        self._faults: dict[int, Fault] = {}
        self._version = 0
        self._cond = threading.Condition()
        self._switch_lock = threading.RLock()
        self._regions: set[str] = set(regions)
        self._reconcilers: dict[str, list[Callable[[], None]]] = {}
        self._injected: Counter[int] = Counter()
        self._history: list[FaultEvent] = []

    # Wiring -----------------------------------------------------------------------------
    def add_listener(self, listener: FaultListener) -> None:
        with self._switch_lock:
            self._listeners.append(listener)

    def register_region(self, region: str, reconcile: Callable[[], None] | None = None) -> None:
        """Declare a Region (faults for unknown Regions are refused) and, for its proxy, a
        function that brings its listener in line with the faults (called on every switch)."""
        with self._switch_lock:
            self._regions.add(region)
            if reconcile is not None:
                self._reconcilers.setdefault(region, []).append(reconcile)

    def unregister_reconciler(self, region: str, reconcile: Callable[[], None]) -> None:
        with self._switch_lock:
            callbacks = self._reconcilers.get(region, [])
            if reconcile in callbacks:
                callbacks.remove(reconcile)

    @property
    def regions(self) -> tuple[str, ...]:
        return tuple(sorted(self._regions))

    # Switching on -------------------------------------------------------------------------
    def error(
        self,
        region: str,
        service: str,
        code: str,
        *,
        status: int | None = None,
        rate: float = 1.0,
        message: str | None = None,
    ) -> Fault:
        return self.switch_on(
            "error", region, service=service, code=code, status=status, rate=rate, message=message
        )

    def latency(
        self, region: str, service: str, latency_s: float, *, jitter_s: float = 0.0
    ) -> Fault:
        return self.switch_on(
            "latency", region, service=service, latency_s=latency_s, jitter_s=jitter_s
        )

    def hang(self, region: str, service: str, *, max_hang_s: float = DEFAULT_MAX_HANG_S) -> Fault:
        return self.switch_on("hang", region, service=service, max_hang_s=max_hang_s)

    def drop(self, region: str, service: str, *, rate: float = 1.0) -> Fault:
        return self.switch_on("drop", region, service=service, rate=rate)

    def unreachable(
        self,
        region: str,
        mode: UnreachableMode = "refuse",
        *,
        max_hang_s: float = DEFAULT_MAX_HANG_S,
    ) -> Fault:
        return self.switch_on("unreachable", region, mode=mode, max_hang_s=max_hang_s)

    def partition(
        self,
        region: str,
        mode: UnreachableMode = "blackhole",
        *,
        max_hang_s: float = DEFAULT_MAX_HANG_S,
    ) -> Fault:
        return self.switch_on("partition", region, mode=mode, max_hang_s=max_hang_s)

    def switch_on(self, kind: str, region: str, **params: Any) -> Fault:
        """Switch a fault on; it applies to the next request. Generic form of the helpers
        above (also what the HTTP control API calls). Raises FaultError on bad parameters."""
        with self._switch_lock:
            fault = self._build(kind, region, params)
            with self._cond:
                self._faults[fault.id] = fault
                self._version += 1
                self._cond.notify_all()
            self._reconcile(region)
            return self._emit("on", fault)

    # Switching off ------------------------------------------------------------------------
    def clear(self, fault: Fault | int) -> bool:
        """Switch one fault off; False if it was not active."""
        fault_id = fault if isinstance(fault, int) else fault.id
        with self._switch_lock:
            with self._cond:
                removed = self._faults.pop(fault_id, None)
                if removed is None:
                    return False
                self._version += 1
                self._cond.notify_all()
            self._reconcile(removed.region)
            self._emit("off", removed)
            return True

    def clear_all(self, region: str | None = None) -> list[Fault]:
        """Switch off every fault (of one Region, or all); returns what was switched off."""
        with self._switch_lock:
            targets = [f for f in self.active() if region is None or f.region == region]
            for fault in targets:
                self.clear(fault)
            return targets

    # Reading ------------------------------------------------------------------------------
    def active(self, region: str | None = None) -> list[Fault]:
        with self._cond:
            faults = sorted(self._faults.values(), key=lambda f: f.id)
        return [f for f in faults if region is None or f.region == region]

    def get(self, fault_id: int) -> Fault | None:
        with self._cond:
            return self._faults.get(fault_id)

    @property
    def events(self) -> list[FaultEvent]:
        """Every switch so far, in order."""
        with self._switch_lock:
            return list(self._history)

    def unreachable_mode(self, region: str, caller: str | None = None) -> UnreachableMode | None:
        """How `region` looks to `caller` (None: from inside the Region): the mode of the
        newest fault that cuts that path (`Fault.cuts`), if any."""
        newest = self.cutting_fault(region, caller)
        return newest.mode if newest is not None else None

    def cutting_fault(self, region: str, caller: str | None = None) -> Fault | None:
        """The newest active fault that makes `region` unreachable for `caller`, if any."""
        with self._cond:
            cutting = [f for f in self._faults.values() if f.cuts(region, caller)]
        return max(cutting, key=lambda f: f.id, default=None)

    def decide(self, region: str, service: str, caller: str | None = None) -> Decision:
        """What to do with a request for `service` in `region` from `caller` (None: from
        inside the Region), now. Rates are sampled here (seeded, so a run with the same
        requests in the same order decides the same)."""
        with self._cond:
            matching = sorted(
                (
                    f
                    for f in self._faults.values()
                    if f.matches(region, service) or f.cuts(region, caller)
                ),
                key=lambda f: f.id,
            )
            refuse: Fault | None = None
            hang: Fault | None = None
            drop: Fault | None = None
            error: Fault | None = None
            delay = 0.0
            latency: list[Fault] = []
            for fault in matching:
                if fault.kind in PATH_KINDS:
                    if fault.mode == "hang":
                        hang = hang or fault
                    else:
                        refuse = fault  # the newest wins, as in unreachable_mode()
                elif fault.kind == "hang":
                    hang = hang or fault
                elif fault.kind == "latency":
                    extra = self._rng.uniform(0.0, fault.jitter_s) if fault.jitter_s else 0.0
                    delay += fault.latency_s + extra
                    latency.append(fault)
                elif fault.kind == "drop":
                    if drop is None and self._rng.random() < fault.rate:
                        drop = fault
                elif fault.kind == "error" and error is None and self._rng.random() < fault.rate:
                    error = fault
            return Decision(
                version=self._version,
                hang=hang,
                refuse=refuse,
                delay_s=delay,
                drop=drop,
                error=error,
                latency=tuple(latency),
            )

    def wait_for_change(self, version: int, timeout_s: float) -> int:
        """Block until the state version moves past `version` or `timeout_s` passes; returns
        the current version. Used by hung requests to wake up when their fault is cleared."""
        with self._cond:
            if self._version == version and timeout_s > 0:
                self._cond.wait_for(lambda: self._version != version, timeout=timeout_s)
            return self._version

    def wake_all(self) -> None:
        """Wake every waiter (a proxy that is stopping)."""
        with self._cond:
            self._version += 1
            self._cond.notify_all()

    # Counting -----------------------------------------------------------------------------
    def count_injection(self, fault: Fault) -> None:
        """A proxy applied `fault` to one request (or connection)."""
        with self._cond:
            self._injected[fault.id] += 1

    def injected(self, fault: Fault | int) -> int:
        """How many requests/connections `fault` has hit so far (proof that it landed)."""
        fault_id = fault if isinstance(fault, int) else fault.id
        with self._cond:
            return self._injected[fault_id]

    # Internals ----------------------------------------------------------------------------
    def _reconcile(self, region: str) -> None:
        for reconcile in list(self._reconcilers.get(region, [])):
            reconcile()

    def _emit(self, action: Literal["on", "off"], fault: Fault) -> Fault:
        event = FaultEvent(action=action, fault=fault, t=self._now())
        self._history.append(event)
        for listener in list(self._listeners):
            listener(event)
        return fault

    def _build(self, kind: str, region: str, params: Mapping[str, Any]) -> Fault:
        if kind not in FAULT_KINDS:
            raise FaultError(f"unknown fault kind {kind!r}; one of {', '.join(FAULT_KINDS)}")
        if self._regions and region not in self._regions:
            raise FaultError(f"unknown region {region!r}; one of {', '.join(self.regions)}")
        allowed = {
            "error": {"service", "code", "status", "rate", "message"},
            "latency": {"service", "latency_s", "jitter_s"},
            "hang": {"service", "max_hang_s"},
            "drop": {"service", "rate"},
            "unreachable": {"mode", "max_hang_s"},
            "partition": {"mode", "max_hang_s"},
        }[kind]
        unknown = sorted(set(params) - allowed)
        if unknown:
            raise FaultError(f"{kind} fault: unknown parameter(s) {', '.join(unknown)}")
        values = {k: v for k, v in params.items() if v is not None}
        service = str(values.get("service", ANY_SERVICE))
        rate = _number(values.get("rate", 1.0), "rate")
        if not 0.0 < rate <= 1.0:
            raise FaultError(f"rate must be in (0, 1], got {rate}")
        latency_s = _number(values.get("latency_s", 0.0), "latency_s")
        jitter_s = _number(values.get("jitter_s", 0.0), "jitter_s")
        max_hang_s = _number(values.get("max_hang_s", DEFAULT_MAX_HANG_S), "max_hang_s")
        if latency_s < 0 or jitter_s < 0 or max_hang_s <= 0:
            raise FaultError("latency_s and jitter_s must be >= 0 and max_hang_s > 0")
        if kind == "latency" and latency_s + jitter_s <= 0:
            raise FaultError("a latency fault needs latency_s > 0 or jitter_s > 0")
        code = values.get("code")
        status = values.get("status")
        if kind == "error":
            if not isinstance(code, str) or not code:
                raise FaultError("an error fault needs a code, e.g. ServiceUnavailable")
            if status is not None and (
                isinstance(status, bool) or not isinstance(status, int) or not 400 <= status < 600
            ):
                raise FaultError(f"status must be an HTTP error status 400-599, got {status!r}")
        mode: UnreachableMode | None = None
        if kind in PATH_KINDS:
            raw_mode = values.get("mode", "refuse" if kind == "unreachable" else "blackhole")
            if raw_mode not in UNREACHABLE_MODES:
                raise FaultError(f"mode must be one of {', '.join(UNREACHABLE_MODES)}")
            mode = cast(UnreachableMode, raw_mode)
        message = values.get("message")
        return Fault(
            id=next(self._ids),
            kind=cast(FaultKind, kind),
            region=region,
            service=service,
            code=code if kind == "error" else None,
            status=status if kind == "error" else None,
            message=str(message) if message is not None else None,
            rate=rate,
            latency_s=latency_s,
            jitter_s=jitter_s,
            mode=mode,
            max_hang_s=max_hang_s,
        )


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FaultError(f"{name} must be a number, got {value!r}")
    return float(value)


def fault_from_json(obj: Mapping[str, Any]) -> Fault:
    """A Fault from its `to_json()` form (for clients of the control API)."""
    known = set(Fault.__dataclass_fields__)
    data = {k: v for k, v in obj.items() if k in known}
    return Fault(**data)


def fault_as_dict(fault: Fault) -> dict[str, Any]:
    return asdict(fault)
