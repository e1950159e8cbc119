"""`LiveAws`: the emulated AWS of a live drill, as the rest of the harness sees it.

    with LiveAws(["us-east-1", "us-west-2"], on_fault=record) as aws:
        cw = aws.client("cloudwatch", "us-east-1")        # through the Region's fault proxy
        aws.faults.error("us-east-1", "cloudwatch", "ServiceUnavailable")
        aws.faults.unreachable("us-east-1", mode="refuse")
        aws.faults.clear_all()
        aws.replicator.set_lag(30.0)

It starts one moto server (every Region's state, in its own process group), one fault proxy
per Region (so `endpoint_url(region)` is that Region's endpoint for every service) and one per
cross-Region path (`endpoint_url(region, caller=other)`: the same Region as DR code in
`other` reaches it, so a `partition` fault can cut the Regions apart), the
fault control API (`control_url`, for faults driven from another process) and the S3
replicator, all on loopback. `emulator="localstack"` starts LocalStack instead of moto
(`harness.live.localstack`), `"localstack-docker"` its container (needs a Docker engine,
`harness.live.docker_backend`); `emulator_url=` uses an emulator the user runs (loopback only).
Leaving the block (normally, by an exception or by Ctrl-C) stops everything, in well under
10 s.

Clients get dummy credentials, a loopback endpoint, no HTTP proxy from the environment, and
`Config(retries={"mode": "standard", "max_attempts": 4}, connect_timeout, read_timeout)`,
each settable per client or for all (`ClientSettings`).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, cast, get_args

import boto3
from botocore.client import BaseClient
from botocore.config import Config

from harness.live import safety
from harness.live.clock import LiveClock
from harness.live.fault_proxy import ControlServer, RegionProxy, Upstream
from harness.live.faults import FaultController, FaultListener
from harness.live.localstack import Emulator, EmulatorKind, ExistingEmulator, LocalStackServer
from harness.live.moto_server import MotoServer
from harness.live.mwaa.service import MwaaService
from harness.live.mwaa_api import RegionalMwaaApi
from harness.live.processes import LOOPBACK, ProcessRegistry
from harness.live.replication import ArrivalListener, LagPolicy, Replicator


@dataclass(frozen=True)
class ClientSettings:
    """botocore settings of the clients LiveAws makes.

    `max_attempts` is botocore's Config `retries.max_attempts`, which counts *retries*: a
    call is tried at most max_attempts + 1 times (0: no retry). (The AWS_MAX_ATTEMPTS
    variable and the config file's max_attempts count the first try too.)"""

    retry_mode: str = "standard"
    max_attempts: int = 4
    connect_timeout_s: float = 2.0
    read_timeout_s: float = 10.0

    def config(self) -> Config:
        return Config(
            retries={
                "mode": cast(Literal["legacy", "standard", "adaptive"], self.retry_mode),
                "max_attempts": self.max_attempts,
            },
            connect_timeout=self.connect_timeout_s,
            read_timeout=self.read_timeout_s,
            proxies={},  # never an HTTP proxy from the environment
            inject_host_prefix=False,  # MWAA and others prefix hosts; not on loopback
            s3={"addressing_style": "path"},
        )


class LiveAws:
    """An emulated AWS endpoint per Region with a fault layer in front of it."""

    def __init__(
        self,
        regions: Sequence[str],
        *,
        now: Callable[[], float] | None = None,
        on_fault: FaultListener | None = None,
        on_replication: ArrivalListener | None = None,
        replication_lag_s: LagPolicy = 0.0,
        replication_poll_s: float = 0.1,
        client_settings: ClientSettings | None = None,
        allow_real_credentials: bool = False,
        control_api: bool = True,
        fault_seed: int = 0,
        registry: ProcessRegistry | None = None,
        work_dir: Path | None = None,
        host: str = LOOPBACK,
        start_replicator: bool = True,
        mwaa: MwaaService | None = None,
        emulator: EmulatorKind = "moto",
        emulator_url: str | None = None,
    ) -> None:
        if len(set(regions)) != len(regions) or not regions:
            raise ValueError(f"regions must be distinct and non-empty, got {list(regions)}")
        if emulator not in get_args(EmulatorKind):
            raise ValueError(f"emulator must be one of {get_args(EmulatorKind)}, got {emulator!r}")
        safety.check_environment(
            [f"http://{host}", *([emulator_url] if emulator_url else [])],
            allow_real_credentials=allow_real_credentials,
        )
        self.regions = tuple(regions)
        self.host = host
        self.now = now or LiveClock().now
        self.client_settings = client_settings or ClientSettings()
        self.faults = FaultController(
            now=self.now, on_change=on_fault, seed=fault_seed, regions=self.regions
        )
        self._owns_registry = registry is None
        self._registry = registry or ProcessRegistry()
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._work_dir = work_dir
        self._control_api = control_api
        self._start_replicator = start_replicator
        self._replication_lag = replication_lag_s
        self._replication_poll_s = replication_poll_s
        self._on_replication = on_replication
        self._mwaa_service = mwaa
        self.mwaa_api: RegionalMwaaApi | None = None
        # The emulator: started by us (moto or localstack), or the user's at emulator_url.
        self.emulator: EmulatorKind = emulator
        self._given_emulator_url = emulator_url
        self._emulator: Emulator | None = None
        self.moto: MotoServer | None = None
        self.localstack: LocalStackServer | None = None
        self.proxies: dict[str, RegionProxy] = {}
        self.paths: dict[tuple[str, str], RegionProxy] = {}  # (caller, target) -> its proxy
        self.control: ControlServer | None = None
        self._replicator: Replicator | None = None
        self._sessions: dict[str, boto3.session.Session] = {}
        self._clients: dict[
            tuple[str, str, bool, str | None, tuple[tuple[str, Any], ...]], BaseClient
        ] = {}
        self._started = False

    # Lifecycle ----------------------------------------------------------------------------
    def start(self) -> LiveAws:
        if self._started:
            return self
        self._started = True
        try:
            if self._owns_registry:
                self._registry.__enter__()
            if self._work_dir is None:
                self._tmp = tempfile.TemporaryDirectory(prefix="mwaa-drill-aws-")
                self._work_dir = Path(self._tmp.name)
            self._emulator = self._start_emulator(self._work_dir)
            upstream = Upstream.from_url(self._emulator.url)
            if self._mwaa_service is not None:
                self.mwaa_api = RegionalMwaaApi(self._mwaa_service, self.regions, host=self.host)
                safety.check_endpoints(list(self.mwaa_api.endpoint_urls().values()))
                self.mwaa_api.start()
            for region in self.regions:
                routes = (
                    {} if self.mwaa_api is None else {"mwaa": self.mwaa_api.endpoint_url(region)}
                )
                self.proxies[region] = RegionProxy(
                    region, upstream, self.faults, host=self.host, routes=routes
                ).start()
                for caller in self.regions:
                    if caller != region:
                        self.paths[(caller, region)] = RegionProxy(
                            region,
                            upstream,
                            self.faults,
                            host=self.host,
                            routes=routes,
                            caller=caller,
                        ).start()
            proxies = [*self.proxies.values(), *self.paths.values()]
            safety.check_endpoints([p.url for p in proxies] + [self._emulator.url])
            if self._control_api:
                self.control = ControlServer(self.faults, host=self.host).start()
            self._replicator = Replicator(
                self._emulator.url,
                now=self.now,
                lag_s=self._replication_lag,
                poll_interval_s=self._replication_poll_s,
                on_arrival=self._on_replication,
            )
            if self._start_replicator:
                self._replicator.start()
        except BaseException:
            self.close()
            raise
        return self

    def _start_emulator(self, work_dir: Path) -> Emulator:
        """The user's emulator at emulator_url (checked, not started), else ours."""
        if self._given_emulator_url is not None:
            return ExistingEmulator(self._given_emulator_url, kind=self.emulator).start()
        if self.emulator == "localstack":
            self.localstack = LocalStackServer(
                self._registry,
                host=self.host,
                data_dir=work_dir / "localstack",
                log_path=work_dir / "localstack.log",
            ).start()
            return self.localstack
        if self.emulator == "localstack-docker":
            from harness.live.docker_backend import LocalStackContainer  # the optional extra

            return LocalStackContainer(host=self.host).start()
        self.moto = MotoServer(
            self._registry, host=self.host, log_path=work_dir / "moto_server.log"
        ).start()
        return self.moto

    def close(self) -> None:
        """Stop the replicator, the control API, the proxies, the MWAA API and the emulator.
        Idempotent. (The environments behind the MWAA API are the backend owner's to stop.)"""
        if self._replicator is not None:
            self._replicator.stop(timeout_s=3.0)
        if self.control is not None:
            self.control.stop(timeout_s=1.0)
            self.control = None
        for proxy in [*self.proxies.values(), *self.paths.values()]:
            proxy.stop(timeout_s=1.0)
        if self.mwaa_api is not None:
            self.mwaa_api.stop(timeout_s=5.0)
            self.mwaa_api = None
        if self._emulator is not None:
            self._emulator.stop()
        if self._owns_registry:
            self._registry.close()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> LiveAws:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # Endpoints ----------------------------------------------------------------------------
    def endpoint_url(self, region: str, caller: str | None = None) -> str:
        """The Region's endpoint (its fault proxy), for every service, as a caller in
        `caller` reaches it (None or the Region itself: from inside, or the harness)."""
        if region not in self.proxies:
            raise KeyError(f"no endpoint for region {region!r}; have {self.regions}")
        if caller is None or caller == region:
            return self.proxies[region].url
        try:
            return self.paths[(caller, region)].url
        except KeyError:
            raise KeyError(f"no caller region {caller!r}; have {self.regions}") from None

    def endpoint_urls(self) -> Mapping[str, str]:
        return {region: proxy.url for region, proxy in self.proxies.items()}

    def routes(self) -> dict[str, dict[str, str]]:
        """caller Region -> target Region -> the endpoint that caller uses for that target."""
        return {
            caller: {target: self.endpoint_url(target, caller) for target in self.regions}
            for caller in self.regions
        }

    @property
    def emulator_url(self) -> str:
        """The emulator itself, behind no fault (AWS-internal traffic such as replication)."""
        if self._emulator is None:
            raise RuntimeError("LiveAws is not started")
        return self._emulator.url

    @property
    def control_url(self) -> str | None:
        return self.control.url if self.control is not None else None

    @property
    def replicator(self) -> Replicator:
        if self._replicator is None:
            raise RuntimeError("LiveAws is not started")
        return self._replicator

    @property
    def registry(self) -> ProcessRegistry:
        return self._registry

    @property
    def work_dir(self) -> Path | None:
        return self._work_dir

    # Clients ------------------------------------------------------------------------------
    def session(self, region: str) -> boto3.session.Session:
        session = self._sessions.get(region)
        if session is None:
            session = boto3.session.Session(
                region_name=region,
                aws_access_key_id=safety.DUMMY_ACCESS_KEY_ID,
                aws_secret_access_key=safety.DUMMY_SECRET_ACCESS_KEY,
            )
            self._sessions[region] = session
        return session

    def client_config(self, **overrides: Any) -> Config:
        """The botocore Config of clients, with ClientSettings fields overridden."""
        return replace(self.client_settings, **overrides).config()

    def client(
        self,
        service: str,
        region: str,
        *,
        direct: bool = False,
        caller: str | None = None,
        max_attempts: int | None = None,
        retry_mode: str | None = None,
        connect_timeout_s: float | None = None,
        read_timeout_s: float | None = None,
    ) -> BaseClient:
        """A boto3 client for `service` in `region`, through the Region's fault proxy as
        `caller` reaches it (`endpoint_url`; `direct=True`: straight to the emulator, for
        set-up and checks behind the faults). Clients are cached per (service, Region,
        direct, caller, settings); `new_client` makes one that shares nothing (its own
        connection pool)."""
        key = (
            service,
            region,
            direct,
            caller if caller != region else None,
            tuple(
                sorted(
                    {
                        "max_attempts": max_attempts,
                        "retry_mode": retry_mode,
                        "connect_timeout_s": connect_timeout_s,
                        "read_timeout_s": read_timeout_s,
                    }.items()
                )
            ),
        )
        client = self._clients.get(key)
        if client is None:
            client = self.new_client(
                service,
                region,
                direct=direct,
                caller=caller,
                max_attempts=max_attempts,
                retry_mode=retry_mode,
                connect_timeout_s=connect_timeout_s,
                read_timeout_s=read_timeout_s,
            )
            self._clients[key] = client
        return client

    def new_client(
        self,
        service: str,
        region: str,
        *,
        direct: bool = False,
        caller: str | None = None,
        max_attempts: int | None = None,
        retry_mode: str | None = None,
        connect_timeout_s: float | None = None,
        read_timeout_s: float | None = None,
    ) -> BaseClient:
        """A new boto3 client (see `client`)."""
        overrides: dict[str, Any] = {
            name: value
            for name, value in (
                ("max_attempts", max_attempts),
                ("retry_mode", retry_mode),
                ("connect_timeout_s", connect_timeout_s),
                ("read_timeout_s", read_timeout_s),
            )
            if value is not None
        }
        if direct and service == "mwaa" and self.mwaa_api is not None:
            url = self.mwaa_api.endpoint_url(region)
        else:
            url = self.emulator_url if direct else self.endpoint_url(region, caller)
        safety.check_endpoint(url)
        make: Callable[..., BaseClient] = self.session(region).client
        return make(service, endpoint_url=url, config=self.client_config(**overrides))

    def client_factory(self, service: str, **settings: Any) -> Callable[[str], BaseClient]:
        """`factory(region)` -> a client of `service` with these settings."""

        def make(region: str) -> BaseClient:
            return self.client(service, region, **settings)

        return make

    def child_environment(
        self, region: str, extra: Mapping[str, str] | None = None
    ) -> dict[str, str]:
        """Environment for a child process (e.g. Airflow) that should use this Region's
        endpoint: dummy credentials, AWS_ENDPOINT_URL and AWS_DEFAULT_REGION set."""
        env = {
            "AWS_ENDPOINT_URL": self.endpoint_url(region),
            "AWS_DEFAULT_REGION": region,
            "AWS_REGION": region,
        }
        env.update(extra or {})
        return safety.emulator_environment(extra=env)
