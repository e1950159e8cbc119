"""The MWAA-compatible API over real Airflow: LiveAws (two Regions) serving an MwaaService whose
backend is `AirflowBackend`, driven by plain boto3 `mwaa` and `cloudwatch` clients through the
Region's fault proxy.

CreateEnvironment -> AVAILABLE (Airflow healthy, its DAGs synced from the DAG bucket) ->
InvokeRestApi GET /dags lists the canary DAG -> SchedulerHeartbeat datapoints in CloudWatch ->
UpdateEnvironment (new configuration options: Airflow restarted on them; a version change:
UPDATE_FAILED, still serving) -> DeleteEnvironment -> nothing of ours left (no process, no
bound port). The environment's
AirflowVersion is the line under test ($MWAA_DRILL_AIRFLOW_LINE): on 2.10 InvokeRestApi
reaches /api/v1 of a webserver.

Needs scripts/install-airflow.sh to have run: without it these tests FAIL (not skip).
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from harness.live import clock, safety
from harness.live.endpoints import LiveAws
from harness.live.mwaa.airflow_backend import (
    AirflowBackend,
    DagSyncError,
    bucket_of,
    instance_name,
    sync_dag_folder,
)
from harness.live.mwaa.service import REAL_AIRFLOW_HEALTH, MwaaService
from harness.live.ports import HEARTBEAT_METRIC, NAMESPACE, heartbeat_dimensions
from harness.live.processes import _group_exists, port_is_free
from tests.integration.airflow_support import airflow_version, require_airflow, wait_for

pytestmark = [pytest.mark.live, pytest.mark.airflow]

PRIMARY, SECONDARY = "us-east-1", "us-west-2"
FIXTURE_DAGS = Path(__file__).resolve().parents[2] / "fixtures" / "dags"
BUCKET = "mwaa-drill-dags-east"
ENV = "drill-primary"


def mwaa_client(region: str, endpoint_url: str) -> Any:
    """A plain boto3 mwaa client, as a DR runbook would make one (endpoint: the proxy)."""
    return boto3.client(
        "mwaa",
        region_name=region,
        endpoint_url=endpoint_url,
        aws_access_key_id=safety.DUMMY_ACCESS_KEY_ID,
        aws_secret_access_key=safety.DUMMY_SECRET_ACCESS_KEY,
        config=Config(
            inject_host_prefix=False,
            retries={"mode": "standard", "max_attempts": 2},
            connect_timeout=2,
            read_timeout=20,
            proxies={},
        ),
    )


def env_request() -> dict[str, Any]:
    return {
        "AirflowVersion": airflow_version(),
        "ExecutionRoleArn": "arn:aws:iam::123456789012:role/mwaa-exec",
        "SourceBucketArn": f"arn:aws:s3:::{BUCKET}",
        "DagS3Path": "dags",
        "NetworkConfiguration": {"SubnetIds": ["subnet-a", "subnet-b"], "SecurityGroupIds": ["sg"]},
        "EnvironmentClass": "mw1.small",
        "MaxWorkers": 2,
        "AirflowConfigurationOptions": {"core.dags_are_paused_at_creation": "True"},
    }


@pytest.fixture(scope="module")
def ready() -> None:
    require_airflow()


def test_helpers() -> None:
    assert bucket_of("arn:aws:s3:::dags") == "dags"
    with pytest.raises(DagSyncError):
        bucket_of("arn:aws:s3:::")
    with pytest.raises(DagSyncError):
        bucket_of("dags")
    assert instance_name("us-east-1", "prod") == "us-east-1.prod"
    long = instance_name("us-east-1", "x" * 80)
    assert len(long) <= 63 and long != instance_name("us-east-1", "x" * 79)


def test_dag_sync_mirrors_the_bucket(tmp_path: Path) -> None:
    with LiveAws([PRIMARY]) as aws:
        s3 = aws.client("s3", PRIMARY, direct=True)
        s3.create_bucket(Bucket="dag-bucket")
        s3.put_object(Bucket="dag-bucket", Key="dags/a.py", Body=b"A = 1\n")
        s3.put_object(Bucket="dag-bucket", Key="dags/sub/b.py", Body=b"B = 1\n")
        s3.put_object(Bucket="dag-bucket", Key="other/c.py", Body=b"C = 1\n")
        folder = tmp_path / "dags"
        assert sync_dag_folder(s3, "dag-bucket", "dags", folder) == 2
        assert (folder / "a.py").read_bytes() == b"A = 1\n"
        assert (folder / "sub" / "b.py").exists() and not (folder / "c.py").exists()
        assert sync_dag_folder(s3, "dag-bucket", "/dags/", folder) == 0  # unchanged
        s3.delete_object(Bucket="dag-bucket", Key="dags/a.py")
        s3.put_object(Bucket="dag-bucket", Key="dags/sub/b.py", Body=b"B = 2\n")
        assert sync_dag_folder(s3, "dag-bucket", "dags", folder) == 1
        assert not (folder / "a.py").exists()
        assert (folder / "sub" / "b.py").read_bytes() == b"B = 2\n"
        with pytest.raises(DagSyncError):
            sync_dag_folder(s3, "no-such-bucket", "dags", folder)


def test_create_invoke_heartbeat_delete_over_real_airflow(ready: None) -> None:
    started = clock.monotonic()
    backend = AirflowBackend(dag_sync_interval_s=2.0, heartbeat_interval_s=2.0)
    service = MwaaService(backend, **REAL_AIRFLOW_HEALTH)
    with contextlib.ExitStack() as stack:
        stack.callback(backend.close)
        aws = stack.enter_context(LiveAws([PRIMARY, SECONDARY], mwaa=service))
        backend.use_clients(lambda name, region: aws.client(name, region, direct=True))
        assert aws.mwaa_api is not None
        api_ports = [server.port for server in aws.mwaa_api.servers.values()]
        assert aws.moto is not None
        stack_ports = [aws.moto.port or 0, *api_ports]
        stack_ports += [proxy.port for proxy in aws.proxies.values()]

        s3 = aws.client("s3", PRIMARY, direct=True)
        s3.create_bucket(Bucket=BUCKET)
        s3.put_object(
            Bucket=BUCKET,
            Key="dags/canary_dag.py",
            Body=(FIXTURE_DAGS / "canary_dag.py").read_bytes(),
        )
        mwaa = mwaa_client(PRIMARY, aws.endpoint_url(PRIMARY))
        secondary = mwaa_client(SECONDARY, aws.endpoint_url(SECONDARY))

        arn = mwaa.create_environment(Name=ENV, **env_request())["Arn"]
        assert arn.endswith(f":environment/{ENV}") and f":{PRIMARY}:" in arn

        def status() -> str:
            return str(mwaa.get_environment(Name=ENV)["Environment"]["Status"])

        final = wait_for(
            lambda: (lambda s: s if s not in ("CREATING",) else None)(status()),
            90.0,
            "environment out of CREATING",
        )
        environment = mwaa.get_environment(Name=ENV)["Environment"]
        assert final == "AVAILABLE", environment
        assert environment["AirflowVersion"] == airflow_version()
        available_after = clock.monotonic() - started
        instance = backend.instance(PRIMARY, ENV)
        assert instance is not None
        assert instance.installation.version == airflow_version()  # the line asked for
        assert environment["WebserverUrl"].endswith(f":{instance.ports.api}")  # type: ignore[union-attr]
        assert secondary.list_environments()["Environments"] == []
        assert mwaa.list_environments()["Environments"] == [ENV]

        def dag_ids() -> list[str] | None:
            try:
                answer = mwaa.invoke_rest_api(Name=ENV, Path="/dags", Method="GET")
            except ClientError as err:
                tail = instance.log_tail(instance.profile.api_process, 20)
                pytest.fail(f"InvokeRestApi failed: {err.response}; API server log: {tail}")
            assert answer["RestApiStatusCode"] == 200, answer
            ids = [dag["dag_id"] for dag in answer["RestApiResponse"]["dags"]]
            return ids if "canary" in ids else None

        assert wait_for(dag_ids, 30.0, "canary DAG listed through InvokeRestApi") == ["canary"]
        answer = mwaa.invoke_rest_api(Name=ENV, Path="/dags/canary", Method="GET")
        assert answer["RestApiResponse"]["is_paused"] is True  # the configuration option

        cloudwatch = aws.client("cloudwatch", PRIMARY)  # through the proxy, like a detector

        def heartbeats() -> list[float] | None:
            end = datetime.fromtimestamp(clock.wall_time(), UTC) + timedelta(minutes=1)
            result = cloudwatch.get_metric_data(
                MetricDataQueries=[
                    {
                        "Id": "hb",
                        "MetricStat": {
                            "Metric": {
                                "Namespace": NAMESPACE,
                                "MetricName": HEARTBEAT_METRIC,
                                "Dimensions": heartbeat_dimensions(ENV),
                            },
                            "Period": 60,
                            "Stat": "Sum",
                        },
                    }
                ],
                StartTime=end - timedelta(minutes=10),
                EndTime=end,
            )
            values = [float(v) for v in result["MetricDataResults"][0]["Values"]]
            return values or None

        assert sum(wait_for(heartbeats, 20.0, "a SchedulerHeartbeat datapoint")) >= 1
        publisher = backend.publisher(PRIMARY, ENV)
        assert publisher is not None and publisher.published >= 1

        # Update: new configuration options restart Airflow on them (same database).
        scheduler_pid = instance.processes["scheduler"].pid
        options = {**env_request()["AirflowConfigurationOptions"], "core.default_task_retries": "2"}
        mwaa.update_environment(Name=ENV, AirflowConfigurationOptions=options)
        assert status() == "UPDATING"
        final = wait_for(
            lambda: (lambda s: s if s != "UPDATING" else None)(status()), 120.0, "update done"
        )
        environment = mwaa.get_environment(Name=ENV)["Environment"]
        assert final == "AVAILABLE", environment
        assert environment["LastUpdate"]["Status"] == "SUCCESS", environment["LastUpdate"]
        assert environment["AirflowConfigurationOptions"] == options
        assert instance.processes["scheduler"].pid != scheduler_pid  # restarted
        assert instance.home is not None
        cfg = (instance.home / "airflow.cfg").read_text()
        assert "default_task_retries = 2" in cfg, cfg
        answer = mwaa.invoke_rest_api(Name=ENV, Path="/dags/canary", Method="GET")
        assert answer["RestApiResponse"]["dag_id"] == "canary"  # serves, its history kept
        # A version change is refused: UPDATE_FAILED, the environment keeps serving.
        other = "2.10.5" if airflow_version() != "2.10.5" else "3.3.2"
        mwaa.update_environment(Name=ENV, AirflowVersion=other)
        final = wait_for(
            lambda: (lambda s: s if s != "UPDATING" else None)(status()), 30.0, "update refused"
        )
        environment = mwaa.get_environment(Name=ENV)["Environment"]
        assert final == "UPDATE_FAILED", environment
        assert environment["AirflowVersion"] == airflow_version()
        assert "version change" in environment["LastUpdate"]["Error"]["ErrorMessage"]
        answer = mwaa.invoke_rest_api(Name=ENV, Path="/dags/canary", Method="GET")
        assert answer["RestApiStatusCode"] == 200

        # Delete: the environment goes, and its Airflow with it.
        assert instance.ports is not None
        airflow_ports = list(instance.ports.all())
        groups = [process.pgid for process in backend.registry.processes]
        mwaa.delete_environment(Name=ENV)

        def gone() -> bool:
            try:
                mwaa.get_environment(Name=ENV)
            except ClientError as err:
                return err.response["Error"]["Code"] == "ResourceNotFoundException"
            return False

        wait_for(gone, 60.0, "environment deleted")
        assert backend.environments() == []
        assert instance.leftovers() == []
        assert instance.bound_ports() == []
        assert [port for port in airflow_ports if not port_is_free(port)] == []
        assert publisher is not None and not publisher.running
        cluster = backend.cluster
        assert cluster is not None and cluster.port is not None
        cluster_port = cluster.port

    # Both LiveAws and the backend are closed now.
    assert cluster.leftovers() == []
    assert port_is_free(cluster_port)
    assert [pgid for pgid in groups if _group_exists(pgid)] == []
    assert not any(process.alive() for process in backend.registry.processes)
    assert [port for port in stack_ports if port and not port_is_free(port)] == []
    took = clock.monotonic() - started
    print(f"AVAILABLE after {available_after:.1f} s; whole test {took:.1f} s")
    assert took < 240.0
