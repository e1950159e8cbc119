"""Real Apache Airflow environments on this machine, each with its own PostgreSQL database.

The engine behind the MWAA-compatible API: one `AirflowInstance` per (Region, environment),
its metadata database made in a `PostgresCluster` (one cluster per Region, so a Regional
outage can freeze the Region's database too).

Modules:
- `install`: where the Airflow virtualenv of each line is (3.3.2 in .airflow/venv, 2.10.5 in
  .airflow/venv-2.10, made by scripts/install-airflow.sh [--line 2]), its version, whether it
  is usable, and which line serves an MWAA AirflowVersion (`line_of`).
- `lines`: what differs between the lines an instance runs (`LineProfile`: processes, REST
  prefix, health path, auth, airflow.cfg keys).
- `postgres`: `PostgresCluster` (initdb + postgres on a free loopback port, one database and
  role per environment, a stop that leaves nothing) and `Database`.
- `instance`: `AirflowInstance` (the line's processes, each in its own process group;
  health, scheduler liveness from the heartbeat age, REST calls, scheduler kill and restart,
  freeze/thaw, stop), `stop_instances`, `reap_orphans`, `process_memory`.

Typical use:

    with ProcessRegistry() as registry, PostgresCluster(registry) as cluster:
        env = AirflowInstance(registry, name="us-east-1.prod", dags_folder=dags,
                              postgres=cluster).start()
        env.wait_healthy(90.0)
        status, dag = env.rest("PATCH", "/dags/canary", body={"is_paused": False})
        env.stop()
"""

from harness.live.airflow.install import (
    AIRFLOW_VERSION,
    AirflowInstallation,
    AirflowNotInstalled,
    find_installation,
    installation_problem,
)
from harness.live.airflow.instance import (
    AirflowInstance,
    AirflowStartError,
    AirflowUnreachable,
    Health,
    process_memory,
    reap_orphans,
    stop_instances,
)
from harness.live.airflow.postgres import (
    Database,
    PostgresCluster,
    PostgresError,
    postgres_problem,
    reap_stale_clusters,
    safe_identifier,
)

__all__ = [
    "AIRFLOW_VERSION",
    "AirflowInstallation",
    "AirflowInstance",
    "AirflowNotInstalled",
    "AirflowStartError",
    "AirflowUnreachable",
    "Database",
    "Health",
    "PostgresCluster",
    "PostgresError",
    "find_installation",
    "installation_problem",
    "postgres_problem",
    "process_memory",
    "reap_orphans",
    "reap_stale_clusters",
    "safe_identifier",
    "stop_instances",
]
