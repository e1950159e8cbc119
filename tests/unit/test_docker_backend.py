"""The Docker backend without a Docker engine: the containers it would create are checked
against docker-compose.yml (same images, command, environment, published ports, DAG mount),
and its lifecycle is driven through a fake Docker client, with a fake Airflow API on loopback
standing in for the container's published port."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

import pytest
import yaml
from docker.errors import ImageNotFound

from harness.live import clock
from harness.live import docker_backend as db
from harness.live.airflow.install import AIRFLOW_VERSION
from harness.live.mwaa.backend import BackendUnavailable, EnvironmentBackend
from harness.live.processes import wait_until
from harness.live.safety import UnsafeEnvironment

REPO = Path(__file__).resolve().parents[2]
EAST = "us-east-1"


def compose() -> dict[str, Any]:
    data = yaml.safe_load((REPO / "docker-compose.yml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def compose_service(name: str) -> dict[str, Any]:
    service: dict[str, Any] = compose()["services"][name]
    return service


def published(port: str) -> tuple[str, str]:
    """A compose `ports` entry `host_ip:host_port:container_port` -> (host_ip, container_port)."""
    host_ip, _, container_port = port.split(":")
    return host_ip, container_port


def env_config(**overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "Name": "drill-primary",
        "SourceBucketArn": "arn:aws:s3:::dags-east",
        "DagS3Path": "dags",
        "AirflowConfigurationOptions": {"core.dags_are_paused_at_creation": "True"},
    }
    config.update(overrides)
    return config


def specs(tmp_path: Path, region: str = EAST) -> tuple[db.ContainerSpec, db.ContainerSpec]:
    return db.environment_specs(
        region,
        "drill-primary",
        env_config(),
        dags_dir=tmp_path / "dags",
        host_port=28080,
        labels=db.labels_for("b1", "1-1", region, "drill-primary"),
    )


# The specs against docker-compose.yml ---------------------------------------------------------


@pytest.mark.parametrize(("role", "region"), [("primary", "us-east-1"), ("secondary", "us-west-2")])
def test_airflow_container_is_the_compose_one(tmp_path: Path, role: str, region: str) -> None:
    service = compose_service(f"airflow-{role}")
    postgres, airflow = specs(tmp_path, region)
    assert airflow.image == service["image"] == f"apache/airflow:{AIRFLOW_VERSION}-python3.11"
    assert airflow.command == service["command"]
    # Every setting of the compose file, with the same value; the database URL differs only
    # in the host (this environment's own PostgreSQL container instead of the compose one).
    compose_env = {k: str(v) for k, v in service["environment"].items()}
    conn = compose_env.pop("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN")
    for name, value in compose_env.items():
        assert airflow.environment[name] == value, name
    assert (
        conn.replace(f"@postgres-{role}/", f"@{postgres.name}/")
        == (airflow.environment["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
    )
    assert airflow.environment["MWAA_DRILL_REGION"] == region
    # The same container port, published on loopback only (a free host port per environment).
    [port] = service["ports"]
    host_ip, container_port = published(port)
    assert {cport.split("/")[0] for cport in airflow.ports} == {container_port}
    assert {host for host, _ in airflow.ports.values()} == {host_ip} == {"127.0.0.1"}
    assert airflow.published == {"8080/tcp": "127.0.0.1:28080"}
    # The DAG folder at the compose file's mount point, read-only.
    [volume] = service["volumes"]
    _, target, mode = volume.split(":")
    [(source, bind)] = airflow.volumes.items()
    assert source == str((tmp_path / "dags").resolve())
    assert bind == {"bind": target, "mode": mode}
    # Airflow and its database on the environment's own network; the database unpublished.
    assert airflow.network == postgres.network == db.network_name(region, "drill-primary")
    assert not postgres.ports


@pytest.mark.parametrize("role", ["primary", "secondary"])
def test_postgres_container_is_the_compose_one(tmp_path: Path, role: str) -> None:
    service = compose_service(f"postgres-{role}")
    postgres, _ = specs(tmp_path)
    assert postgres.image == service["image"]
    assert dict(postgres.environment) == {k: str(v) for k, v in service["environment"].items()}
    assert postgres.command is None and not postgres.volumes


def test_localstack_container_is_the_compose_aws_service() -> None:
    service = compose_service("aws")
    spec = db.localstack_spec(24566, labels={"x": "y"})
    assert spec.image == service["image"]
    assert dict(spec.environment) == {k: str(v) for k, v in service["environment"].items()}
    [port] = service["ports"]
    host_ip, container_port = published(port)
    assert spec.published == {f"{container_port}/tcp": f"{host_ip}:24566"}


def test_configuration_options_become_airflow_variables(tmp_path: Path) -> None:
    _, airflow = db.environment_specs(
        EAST,
        "e",
        env_config(AirflowConfigurationOptions={"core.parallelism": 8, "nodot": "x"}),
        dags_dir=tmp_path,
        host_port=1,
        labels={},
    )
    assert airflow.environment["AIRFLOW__CORE__PARALLELISM"] == "8"
    assert not any("NODOT" in name for name in airflow.environment)


def test_names_are_per_region_and_environment(tmp_path: Path) -> None:
    east_pg, east_af = specs(tmp_path, "us-east-1")
    west_pg, west_af = specs(tmp_path, "us-west-2")
    names = {east_pg.name, east_af.name, west_pg.name, west_af.name}
    assert len(names) == 4
    assert east_af.labels[f"{db.LABEL}.region"] == "us-east-1"
    assert east_af.labels[f"{db.LABEL}.role"] == "airflow"


def test_ports_off_loopback_are_refused(tmp_path: Path) -> None:
    spec = db.localstack_spec(1, labels={}, host="0.0.0.0")
    with pytest.raises(UnsafeEnvironment):
        spec.run(FakeDocker())  # type: ignore[arg-type]


# A fake Docker engine -------------------------------------------------------------------------


class FakeContainer:
    def __init__(self, engine: FakeDocker, image: str, kwargs: dict[str, Any]) -> None:
        self.engine = engine
        self.image = image
        self.kwargs = kwargs
        self.name: str = kwargs["name"]
        self.labels: dict[str, str] = dict(kwargs.get("labels") or {})
        self.status = "running"
        self.stop_timeouts: list[Any] = []
        self.removed = False
        self.execs: list[Any] = []

    def exec_run(self, cmd: Any, **_: Any) -> Any:
        self.execs.append(cmd)
        return SimpleNamespace(exit_code=0 if len(self.execs) >= 2 else 1, output=b"")

    def reload(self) -> None:
        pass

    def logs(self, **_: Any) -> bytes:
        return b"line one\nline two\n"

    def stop(self, timeout: Any = None) -> None:
        self.stop_timeouts.append(timeout)
        self.status = "exited"

    def remove(self, force: bool = False, v: bool = False) -> None:
        self.removed = True


class FakeNetwork:
    def __init__(self, name: str, labels: dict[str, str]) -> None:
        self.name = name
        self.attrs = {"Labels": labels}
        self.removed = False

    def remove(self) -> None:
        self.removed = True


def matches(labels: dict[str, str], filters: dict[str, Any] | None) -> bool:
    wanted = (filters or {}).get("label", [])
    for item in [wanted] if isinstance(wanted, str) else wanted:
        key, _, value = item.partition("=")
        if key not in labels or (value and labels[key] != value):
            return False
    return True


class FakeDocker:
    """What DockerBackend uses of docker.DockerClient, recorded."""

    def __init__(self, images: tuple[str, ...] = (), base_url: str = "http+docker://localhost"):
        self.api = SimpleNamespace(base_url=base_url)
        self.images_present = set(images)
        self.pulled: list[tuple[str, str]] = []
        self.created: list[FakeContainer] = []
        self.networks_made: list[FakeNetwork] = []
        self.closed = False
        engine = self

        class Containers:
            def run(self, image: str, **kwargs: Any) -> FakeContainer:
                assert kwargs["detach"] is True
                container = FakeContainer(engine, image, kwargs)
                engine.created.append(container)
                return container

            def list(self, all: bool = False, filters: Any = None) -> list[FakeContainer]:
                return [c for c in engine.created if not c.removed and matches(c.labels, filters)]

        class Networks:
            def create(self, name: str, driver: str = "", labels: Any = None) -> FakeNetwork:
                network = FakeNetwork(name, dict(labels or {}))
                engine.networks_made.append(network)
                return network

            def list(self, filters: Any = None) -> list[FakeNetwork]:
                return [
                    n
                    for n in engine.networks_made
                    if not n.removed and matches(n.attrs["Labels"], filters)
                ]

        class Images:
            def get(self, name: str) -> Any:
                if name not in engine.images_present:
                    raise ImageNotFound(name)
                return SimpleNamespace(tags=[name])

            def pull(self, repository: str, tag: str | None = None) -> Any:
                engine.pulled.append((repository, tag or ""))
                engine.images_present.add(f"{repository}:{tag}")
                return SimpleNamespace(tags=[f"{repository}:{tag}"])

        self.containers = Containers()
        self.networks = Networks()
        self.images = Images()

    def ping(self) -> bool:
        return True

    def close(self) -> None:
        self.closed = True


# A fake Airflow API (what the container's published port would answer) -----------------------


class FakeAirflow(BaseHTTPRequestHandler):
    requests: ClassVar[list[tuple[str, str, Any]]] = []

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _answer(self, status: int, document: Any) -> None:
        body = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        FakeAirflow.requests.append(("GET", self.path, None))
        if self.path == db.HEALTH_PATH:
            beat = datetime.fromtimestamp(clock.wall_time(), UTC).isoformat()
            self._answer(
                200,
                {
                    "metadatabase": {"status": "healthy"},
                    "scheduler": {"status": "healthy", "latest_scheduler_heartbeat": beat},
                },
            )
        elif self.path.startswith("/api/v2/dags"):
            self._answer(200, {"dags": [{"dag_id": "canary"}], "total_entries": 1})
        else:
            self._answer(404, {"detail": "Not Found"})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        FakeAirflow.requests.append(("POST", self.path, body))
        self._answer(200, {"echo": body})


@pytest.fixture
def fake_airflow() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeAirflow)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    FakeAirflow.requests = []
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


class FakeS3:
    def list_objects_v2(self, **kwargs: Any) -> dict[str, Any]:
        assert kwargs["Bucket"] == "dags-east" and kwargs["Prefix"] == "dags/"
        return {"Contents": [{"Key": "dags/canary_dag.py"}], "IsTruncated": False}

    def get_object(self, **kwargs: Any) -> dict[str, Any]:
        return {"Body": SimpleNamespace(read=lambda: b"# a DAG\n")}


class FakeCloudWatch:
    def __init__(self) -> None:
        self.puts: list[dict[str, Any]] = []

    def put_metric_data(self, **kwargs: Any) -> None:
        self.puts.append(kwargs)


def wait_state(handle: Any, timeout_s: float = 10.0) -> Any:
    wait_until(lambda: handle.poll().state != "pending", timeout_s, what="provisioned")
    return handle.poll()


def test_lifecycle_through_a_fake_engine(
    tmp_path: Path, fake_airflow: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db, "free_port", lambda host: fake_airflow)
    engine = FakeDocker(images=(db.POSTGRES_IMAGE,))
    cloudwatch = FakeCloudWatch()
    factory = {"s3": FakeS3(), "cloudwatch": cloudwatch}
    backend = db.DockerBackend(
        client=engine,  # type: ignore[arg-type]
        clients=lambda service, region: factory[service],
        work_dir=tmp_path,
        heartbeat_interval_s=0.05,
    )
    assert isinstance(backend, EnvironmentBackend)
    start = clock.monotonic()
    handle = backend.provision(EAST, "drill-primary", env_config())
    assert clock.monotonic() - start < 1.0  # returns at once
    status = wait_state(handle)
    assert status.state == "ready", status
    assert status.webserver_url == f"http://127.0.0.1:{fake_airflow}"
    # Only the missing image was pulled; one network, then the database, then Airflow.
    assert engine.pulled == [tuple(db.AIRFLOW_IMAGE.rsplit(":", 1))]
    assert [c.image for c in engine.created] == [db.POSTGRES_IMAGE, db.AIRFLOW_IMAGE]
    postgres, airflow = engine.created
    assert postgres.execs and postgres.execs[0][0] == "pg_isready"  # waited for the database
    expected_pg, expected_af = backend.specs(EAST, "drill-primary")
    for made, spec in ((postgres, expected_pg), (airflow, expected_af)):
        assert made.kwargs["name"] == spec.name
        assert made.kwargs["environment"] == dict(spec.environment)
        assert made.kwargs["ports"] == dict(spec.ports)
        assert made.kwargs["network"] == engine.networks_made[0].name
        assert made.kwargs["command"] == spec.command
        assert made.labels[f"{db.LABEL}.backend"] == backend.backend_id
    assert airflow.kwargs["ports"] == {"8080/tcp": ("127.0.0.1", fake_airflow)}
    # The DAGs from the bucket are in the mounted folder.
    [mounted] = airflow.kwargs["volumes"]
    assert (Path(mounted) / "canary_dag.py").read_text() == "# a DAG\n"
    # The MWAA side: REST calls, health, heartbeats.
    assert backend.invoke_rest_api(EAST, "drill-primary", "GET", "/dags", {"limit": "5"}, None) == (
        200,
        {"dags": [{"dag_id": "canary"}], "total_entries": 1},
    )
    assert ("GET", "/api/v2/dags?limit=5", None) in FakeAirflow.requests
    status_code, echoed = backend.invoke_rest_api(
        EAST, "drill-primary", "POST", "/api/v2/variables", {}, {"key": "k"}
    )
    assert (status_code, echoed) == (200, {"echo": {"key": "k"}})
    assert backend.health(EAST, "drill-primary") == "healthy"
    wait_until(lambda: len(cloudwatch.puts) >= 1, 5.0, what="a heartbeat")
    # Deprovision: Airflow, then its database, stopped and removed; the network too.
    backend.deprovision(EAST, "drill-primary")
    assert airflow.removed and postgres.removed
    assert airflow.stop_timeouts == [10]
    assert engine.networks_made[0].removed
    assert not (tmp_path / "us-east-1.drill-primary").exists()
    assert backend.health(EAST, "drill-primary") == "unhealthy"
    with pytest.raises(BackendUnavailable):
        backend.invoke_rest_api(EAST, "drill-primary", "GET", "/dags", {}, None)
    backend.deprovision(EAST, "drill-primary")  # idempotent
    backend.close()
    assert engine.closed


def test_unreachable_airflow_is_unavailable_and_unhealthy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dead_port = db.free_port("127.0.0.1")
    monkeypatch.setattr(db, "free_port", lambda host: dead_port)
    engine = FakeDocker(images=(db.POSTGRES_IMAGE, db.AIRFLOW_IMAGE))
    backend = db.DockerBackend(
        client=engine,  # type: ignore[arg-type]
        clients=lambda service, region: FakeS3(),
        work_dir=tmp_path,
        start_timeout_s=1.5,
    )
    handle = backend.provision(EAST, "drill-primary", env_config())
    status = wait_state(handle)
    assert (status.state, status.error_code) == ("failed", "TIMED_OUT")
    assert "line two" in (status.error_message or "")  # the container's log tail
    assert backend.health(EAST, "drill-primary") == "unhealthy"
    with pytest.raises(BackendUnavailable):
        backend.invoke_rest_api(EAST, "drill-primary", "GET", "/dags", {}, None)
    backend.close()
    assert all(c.removed for c in engine.created)


def test_a_bad_dag_bucket_is_an_incorrect_configuration(tmp_path: Path) -> None:
    engine = FakeDocker()
    backend = db.DockerBackend(
        client=engine,  # type: ignore[arg-type]
        clients=lambda service, region: FakeS3(),
        work_dir=tmp_path,
    )
    handle = backend.provision(EAST, "e", env_config(SourceBucketArn="not-an-arn"))
    status = wait_state(handle)
    assert (status.state, status.error_code) == ("failed", "INCORRECT_CONFIGURATION")
    assert not engine.created  # nothing started
    backend.close()


def test_a_remote_engine_is_refused() -> None:
    engine = FakeDocker(base_url="http://10.0.0.5:2375")
    with pytest.raises(db.DockerUnavailable, match="not on this machine"):
        db.check_local(engine)  # type: ignore[arg-type]
    backend = db.DockerBackend(client=engine)  # type: ignore[arg-type]
    with pytest.raises(db.DockerUnavailable):
        _ = backend.client


def test_orphans_of_dead_owners_are_swept() -> None:
    engine = FakeDocker()
    dead = engine.containers.run(
        "x", detach=True, name="dead", labels={f"{db.LABEL}.owner": "999999999-1"}
    )
    mine = engine.containers.run(
        "x", detach=True, name="mine", labels={f"{db.LABEL}.owner": db.process_token()}
    )
    other = engine.containers.run("x", detach=True, name="not-ours", labels={})
    network = engine.networks.create("n", labels={f"{db.LABEL}.owner": "999999999-1"})
    removed = db.sweep_orphans(engine)  # type: ignore[arg-type]
    assert sorted(removed) == ["dead", "n"]
    assert dead.removed and network.removed
    assert not mine.removed and not other.removed


def test_process_token_tells_live_from_dead() -> None:
    token = db.process_token()
    assert db.owner_alive(token)
    assert not db.owner_alive("999999999-1")
    pid = token.split("-")[0]
    assert not db.owner_alive(f"{pid}-0")  # the same pid, started at another time


def test_no_engine_reports_why(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    problem = db.docker_problem()
    assert problem is not None and "no Docker engine answers" in problem
