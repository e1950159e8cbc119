"""The DR DAGs as an Airflow DAG file (Airflow 3 and 2.10): backup, restore, cleanup and guard.

Deployed to each environment's DAG folder. Each DR DAG (ids and schedules from
`reference_impl.dags`) has one task, which runs the DR logic's task for that DAG through a
*binding*: the module named by MWAA_DR_BINDING (default: mwaa-drill's live binding,
`harness.live.task_binding`). The binding gives the task its DrContext (ports onto this
Region's AWS endpoints, the Airflow REST API through MWAA InvokeRestApi, the journal) and drives
the task on real time, so the DR code never reads Airflow's metadata database directly (which
Airflow 3 forbids to task code): backups and restores go through the stable REST API, on
2.10 too (where tasks could read the database, the REST path keeps one portable DR code).

Scheduled DR DAGs (backup in the primary, the guard where the profile uses it) are created
unpaused, with one run at a time; triggered ones (restore, cleanup) have no schedule and
are unpaused too, so a run triggered by a failover in a new environment starts at once.
"""

from __future__ import annotations

import importlib
import os
from datetime import timedelta
from typing import Any

try:  # Airflow 3 (Task SDK)
    from airflow.sdk import DAG, get_current_context, task
except ImportError:  # Airflow 2.10, MWAA's other line: the same three, same behaviour
    from airflow.decorators import task
    from airflow.models.dag import DAG
    from airflow.operators.python import get_current_context

binding: Any = importlib.import_module(
    os.environ.get("MWAA_DR_BINDING", "harness.live.task_binding")
)


def _dr_dag(dag_id: str, interval_s: float | None) -> DAG:
    with DAG(
        dag_id=dag_id,
        schedule=timedelta(seconds=interval_s) if interval_s else None,
        start_date=binding.start_date(),
        catchup=False,
        max_active_runs=1 if interval_s else 16,
        is_paused_upon_creation=False,
        tags=["mwaa-drill", "dr"],
    ) as dag:

        @task(task_id="run")
        def run() -> None:
            dag_run = get_current_context()["dag_run"]
            binding.run_dr_task(dag_id, dict(dag_run.conf or {}))

        run()
    return dag


for _dag_id, _interval in binding.dr_dag_schedule().items():
    globals()[_dag_id] = _dr_dag(_dag_id, _interval)
