"""How the live Airflow port (`harness.live.mwaa_ports.LiveAirflow`) speaks each Airflow line's
stable REST API: one `RestDialect` per line, chosen from the environment's MWAA AirflowVersion
(`dialect_for("2.10.5")`). Pure request building and answer reading; no I/O.

    what                     Airflow 3 (/api/v2)                 Airflow 2.10 (/api/v1)
    create variables, ...    one bulk PATCH (action create,      one POST each; variables
                             action_on_existence)                upsert, so existing keys are
                                                                 listed first; 409 = exists
    delete variables, ...    one bulk PATCH (action delete)      one DELETE each (404 = gone)
    trigger a DR DAG         POST dagRuns, logical_date null     POST dagRuns, no logical_date
                                                                 (2.10 makes it "now")
    list runs                POST /dags/~/dagRuns/list,          the same, ordered by
                             ordered by logical_date             execution_date
    task instance's date     logical_date                        execution_date
    set a task's state       PATCH .../taskInstances/{task}      the same with dry_run false
                             {new_state}                         (the default is a dry run)
    pause a DAG              PATCH /dags/{id} {is_paused}        the same, ?update_mask=is_paused
    a DAG's next run         GET /dags/{id}                      the same
                             next_dagrun_logical_date            next_dagrun
    set a run's state        PATCH .../dagRuns/{run} {state}: Airflow marks the run's
                             unfinished task instances:
                             skipped (success or failed run)     success (success run) or
                                                                 skipped (failed run)

MWAA InvokeRestApi takes paths relative to the line's prefix, so paths are the same strings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from harness.live.airflow.install import AirflowLine, line_of

# table -> (REST list path, response field, key field of an entity)
COLLECTIONS: Mapping[str, tuple[str, str, str]] = {
    "variable": ("/variables", "variables", "key"),
    "connection": ("/connections", "connections", "connection_id"),
    "slot_pool": ("/pools", "pools", "name"),
}


@dataclass(frozen=True)
class RestDialect:
    line: AirflowLine
    bulk: bool  # bulk PATCH of variables/connections/pools (3) or one call per entity (2)
    run_order: str  # order_by of the runs list
    ti_date_field: str  # the task instance's field holding its run's logical date
    placeholder_states: Mapping[str, str]  # run state set -> state Airflow gives pending TIs
    next_run_field: str  # the DAG's field holding the logical date of its next scheduled run

    def trigger_body(self, run_id: str, conf: Mapping[str, Any]) -> dict[str, Any]:
        """A DR DAG run: no logical date (3: null; 2.10 refuses null and uses now if absent)."""
        body: dict[str, Any] = {"dag_run_id": run_id, "conf": dict(conf)}
        if self.line == "3":
            body["logical_date"] = None
        return body

    def runs_list_body(self, dag_ids: list[str], states: list[str]) -> dict[str, Any]:
        body: dict[str, Any] = {"dag_ids": dag_ids, "order_by": self.run_order}
        if states:
            body["states"] = states
        return body

    def ti_logical_date(self, item: Mapping[str, Any]) -> Any:
        return item.get(self.ti_date_field)

    def ti_state_body(self, state: Any) -> dict[str, Any]:
        if self.line == "2":
            return {"new_state": state, "dry_run": False}
        return {"new_state": state}

    def pause_request(self, dag_id: str, paused: bool) -> tuple[str, dict[str, str], Any]:
        """(path, query, body) of pausing or unpausing a DAG."""
        query = {"update_mask": "is_paused"} if self.line == "2" else {}
        return f"/dags/{dag_id}", query, {"is_paused": paused}

    def bulk_body(self, action: str, entities: list[Any], on_existence: str) -> dict[str, Any]:
        """Airflow 3's bulk PATCH body: one create (with action_on_existence) or delete."""
        if action == "create":
            step = {"action": "create", "entities": entities, "action_on_existence": on_existence}
        else:
            step = {"action": "delete", "entities": entities, "action_on_non_existence": "skip"}
        return {"actions": [step]}

    def entity_path(self, table: str, key: str) -> str:
        """Airflow 2's path of one variable, connection or pool (DELETE)."""
        return f"{COLLECTIONS[table][0]}/{key}"

    def is_placeholder(self, run_state: Any, ti_state: Any) -> bool:
        """Whether a task instance of a run restored by the port holds the state Airflow gave
        it when the port set the run's state (not a restored row yet)."""
        return ti_state is not None and self.placeholder_states.get(str(run_state)) == ti_state


AIRFLOW_3_REST = RestDialect(
    line="3",
    bulk=True,
    run_order="logical_date",
    ti_date_field="logical_date",
    placeholder_states={"success": "skipped", "failed": "skipped"},
    next_run_field="next_dagrun_logical_date",
)
AIRFLOW_2_REST = RestDialect(
    line="2",
    bulk=False,
    run_order="execution_date",
    ti_date_field="execution_date",
    placeholder_states={"success": "success", "failed": "skipped"},
    next_run_field="next_dagrun",
)
DIALECTS: Mapping[AirflowLine, RestDialect] = {"3": AIRFLOW_3_REST, "2": AIRFLOW_2_REST}


def dialect_for(airflow_version: str) -> RestDialect:
    """The dialect of an MWAA AirflowVersion ("2.10.5" -> /api/v1); ValueError if unknown."""
    return DIALECTS[line_of(airflow_version)]
