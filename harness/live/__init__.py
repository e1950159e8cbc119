"""The live world: emulated AWS endpoints per Region with a fault layer, S3 replication done
by the harness, and child processes that always go away.

Modules:
- `clock`: the only place that reads the wall clock or sleeps (LiveClock, Deadline).
- `processes`: process groups, a registry that stops them on any exit, ports, bounded waits.
- `moto_server`: the AWS emulator (moto server) as a child process.
- `protocols`: which service a request is for, and AWS error replies per wire protocol.
- `faults`: the fault state per (Region, service), switched at run time.
- `fault_proxy`: the per-Region HTTP proxies that apply faults, and their control API.
- `replication`: S3 cross-Region replication with lag and stalls.
- `safety`: loopback-only endpoints, no real credentials.
- `endpoints`: `LiveAws`, the facade the rest of the harness uses.
- `localstack`, `docker_backend`: LocalStack instead of moto; environments as containers.
- `mwaa_api`, `mwaa/`: the MWAA-compatible API; `airflow/`: real Airflow on PostgreSQL.
- `ports`, `mwaa_ports`: the DR logic's ports over boto3; `heartbeat`: SchedulerHeartbeat.
- `airflow_api`: the REST dialect of each Airflow line (3: /api/v2, 2.10: /api/v1) that
  `mwaa_ports.LiveAirflow` speaks, chosen from the environment's AirflowVersion.
- `drill`: one live drill (`mwaa-drill run`), with `drill_spec`, `task_binding` (the DR logic
  inside Airflow), `runner` (DR processes on real time), `journal` (journal and run ledger),
  `time_scale`, `stop` (stop conditions, `run -v`), `calibrate` (a calibration from a history).
"""
