"""The Docker backend and the LocalStack container against a real Docker engine.

No Docker engine runs where mwaa-drill is developed and in its CI: there every test here
SKIPS, saying why (`docker.from_env().ping()` failed). With an engine, it pulls the compose
file's images (apache/airflow, postgres:15, localstack/localstack:4: a few GB the first
time) and runs one environment end to end.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.live import clock
from harness.live.endpoints import LiveAws
from harness.live.mwaa.backend import EnvironmentBackend

pytestmark = [pytest.mark.live, pytest.mark.docker]

EAST = "us-east-1"
FIXTURE_DAGS = Path(__file__).resolve().parents[2] / "fixtures" / "dags"


def engine_problem() -> str | None:
    """Why no Docker engine can be used (None: `docker.from_env().ping()` answered)."""
    try:
        import docker
    except ImportError:
        return "the docker Python SDK is not installed (extra `docker`)"
    try:
        client = docker.from_env(timeout=5)
        try:
            client.ping()
        finally:
            client.close()
    except Exception as err:
        return f"{type(err).__name__}: {err}"
    return None


@pytest.fixture(scope="module", autouse=True)
def docker_engine() -> None:
    problem = engine_problem()
    if problem is not None:
        pytest.skip(f"no Docker engine answers docker.from_env().ping() here: {problem}")


@pytest.fixture(scope="module")
def aws() -> Iterator[LiveAws]:
    with LiveAws([EAST], start_replicator=False) as live:
        s3 = live.client("s3", EAST, direct=True)
        s3.create_bucket(Bucket="dags-east")
        for path in sorted(FIXTURE_DAGS.glob("*.py")):
            s3.put_object(Bucket="dags-east", Key=f"dags/{path.name}", Body=path.read_bytes())
        yield live


def test_an_environment_in_containers(aws: LiveAws, tmp_path: Path) -> None:
    from harness.live.docker_backend import LABEL, DockerBackend

    backend = DockerBackend(
        clients=lambda service, region: aws.client(service, region, direct=True),
        work_dir=tmp_path,
        start_timeout_s=900.0,  # includes pulling the images the first time
    )
    assert isinstance(backend, EnvironmentBackend)
    try:
        handle = backend.provision(
            EAST,
            "drill-primary",
            {
                "SourceBucketArn": "arn:aws:s3:::dags-east",
                "DagS3Path": "dags",
                "AirflowConfigurationOptions": {"core.dags_are_paused_at_creation": "True"},
            },
        )
        deadline = clock.Deadline.after(960.0)
        while handle.poll().state == "pending" and not deadline.expired():
            clock.sleep(2.0)
        status = handle.poll()
        assert status.state == "ready", status
        assert status.webserver_url is not None
        assert status.webserver_url.startswith("http://127.0.0.1:")
        assert backend.health(EAST, "drill-primary") == "healthy"
        code, dags = backend.invoke_rest_api(EAST, "drill-primary", "GET", "/dags", {}, None)
        assert code == 200 and "dags" in dags
        backend.deprovision(EAST, "drill-primary")
        client = backend.client
        left = client.containers.list(
            all=True, filters={"label": f"{LABEL}.backend={backend.backend_id}"}
        )
        assert left == []
    finally:
        backend.close()


def test_localstack_container_as_the_emulator() -> None:
    with LiveAws([EAST], emulator="localstack-docker", start_replicator=False) as live:
        s3 = live.client("s3", EAST)
        s3.create_bucket(Bucket="from-a-container")
        s3.put_object(Bucket="from-a-container", Key="k", Body=b"v")
        assert s3.get_object(Bucket="from-a-container", Key="k")["Body"].read() == b"v"
        live.faults.error(EAST, "s3", "SlowDown")
        with pytest.raises(Exception, match="SlowDown"):
            live.client("s3", EAST, max_attempts=0).list_buckets()
