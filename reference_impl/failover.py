"""The failover steps of each strategy, run by the recovery workflow in the secondary once it has
decided to fail over. Returns whether the secondary now runs the workload.

backup_restore: read the primary's saved configuration -> CreateEnvironment -> poll GetEnvironment
every `create_poll_interval` until AVAILABLE -> restore DAG -> unpause the workload.
warm_standby: cleanup DAG (`standby_cleanup_tables`; hardened has none) -> cool-off -> restore
DAG -> unpause.

seed (`resumable_failover` False), as the reference's state machine: the first error of a step
(an API error, a missing saved configuration) ends the execution; CREATE_FAILED does not end the
poll loop (`create_exits_on_failure` False); everything is bounded only by the 60-minute
`workflow_timeout`, counted from the start of the execution (the health check).

hardened: steps look before they act (an environment that already exists is used, one in
CREATE_FAILED is deleted and created again, up to `create_attempts` creations), transient errors
are polled through, a creation stuck in CREATING gives up after `create_timeout`, a DAG run
after `dag_run_timeout`, and the restore DAG is triggered up to `restore_attempts` times. A
failed failover can therefore be run again later from the top (see `recovery`).

The DAG runs are waited for by polling their state every `restore_poll_interval` (the reference
waits on a task token; a poll that fails is simply repeated, as a token wait would not notice).
The restore DAG is triggered with conf {} and picks its backup itself (see `restore`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from reference_impl.context import CLEANUP_DAG, RESTORE_DAG, DrContext
from reference_impl.layout import ENVIRONMENT_CONFIG_KEY
from reference_impl.ports import PortError, RunState
from reference_impl.runtime import Process, Wait

# GetEnvironment fields that describe the primary and cannot be passed to CreateEnvironment.
# What of a saved GetEnvironment answer goes back into CreateEnvironment: its request
# parameters only (GetEnvironment adds read-only fields: Arn, Status, ServiceRoleArn, ...,
# which CreateEnvironment refuses). Found by the first live backup-and-restore drill.
CREATE_PARAMETERS = frozenset(
    {
        "AirflowConfigurationOptions",
        "AirflowVersion",
        "DagS3Path",
        "EndpointManagement",
        "EnvironmentClass",
        "ExecutionRoleArn",
        "IdentityCenterConfiguration",
        "KmsKey",
        "LoggingConfiguration",
        "MaxWebservers",
        "MaxWorkers",
        "MinWebservers",
        "MinWorkers",
        "NetworkConfiguration",
        "PluginsS3ObjectVersion",
        "PluginsS3Path",
        "RequirementsS3ObjectVersion",
        "RequirementsS3Path",
        "Schedulers",
        "SourceBucketArn",
        "StartupScriptS3ObjectVersion",
        "StartupScriptS3Path",
        "Tags",
        "Teams",
        "WebserverAccessMode",
        "WeeklyMaintenanceWindowStart",
    }
)
UNKNOWN = "UNKNOWN"  # environment status when GetEnvironment failed (hardened polls through)


class WorkflowTimedOut(Exception):
    """The workflow's own timeout (seed: 60 minutes) fired during a step."""


def pause(ctx: DrContext, seconds: float, deadline: float | None) -> Process[None]:
    """Wait `seconds`, or raise WorkflowTimedOut when the deadline comes first."""
    if deadline is not None:
        remaining = deadline - ctx.clock.now()
        if remaining <= 0:
            raise WorkflowTimedOut
        if seconds >= remaining:
            yield Wait(remaining)
            raise WorkflowTimedOut
    yield Wait(seconds)


def run_failover(
    ctx: DrContext,
    deadline: float | None,
    still_ours: Callable[[], bool] | None = None,
    fenced_at: float | None = None,
) -> Process[bool]:
    """The steps of ctx.strategy; True when the workload was unpaused in the secondary.
    `still_ours` (fencing) is asked right before the unpause: False means the record changed
    hands meanwhile (say, an operator failed back), so the secondary must not start.
    `fenced_at`: when the record was claimed; the unpause waits until config.fence_wait after
    it, so the old primary has seen the record and paused (no two Regions scheduling at once)."""
    try:
        if ctx.strategy == "backup_restore":
            restored = yield from _backup_restore(ctx, deadline)
        else:
            restored = yield from _warm_standby(ctx, deadline)
        if not restored:
            return False
        if fenced_at is not None:
            remaining = fenced_at + ctx.config.fence_wait - ctx.clock.now()
            if remaining > 0:
                ctx.journal.note(f"failover: waiting {remaining:.0f}s for the old primary to pause")
                yield Wait(remaining)
        if still_ours is not None and not still_ours():
            ctx.journal.note("failover: the active-Region record changed; not unpausing")
            return False
        return unpause_workload(ctx)
    except WorkflowTimedOut:
        ctx.journal.note("failover: the recovery workflow timed out")
    except PortError as err:
        ctx.journal.note(f"failover: step failed: {err}")
    return False


def _backup_restore(ctx: DrContext, deadline: float | None) -> Process[bool]:
    """Up to the restore; the caller unpauses."""
    env_config = saved_environment_config(ctx)
    if env_config is None:
        return False
    if not (yield from ensure_environment(ctx, env_config, deadline)):
        return False
    return (yield from restore_with_retries(ctx, deadline))


def _warm_standby(ctx: DrContext, deadline: float | None) -> Process[bool]:
    """Up to the restore; the caller unpauses."""
    tables = list(ctx.config.standby_cleanup_tables)
    if tables:
        state = yield from run_dag(ctx, CLEANUP_DAG, {"tables": tables}, deadline)
        if state != "success":
            ctx.journal.note(f"failover: cleanup {state or 'did not finish'}")
            return False
    if ctx.config.standby_cooloff > 0:
        yield from pause(ctx, ctx.config.standby_cooloff, deadline)
    return (yield from restore_with_retries(ctx, deadline))


def create_request(environment: Mapping[str, Any]) -> dict[str, Any]:
    """The CreateEnvironment parameters of a GetEnvironment answer. Its LoggingConfiguration
    carries each log group's ARN, which the request's shape does not take."""
    request = {k: v for k, v in environment.items() if k in CREATE_PARAMETERS}
    logging = request.get("LoggingConfiguration")
    if isinstance(logging, Mapping):
        request["LoggingConfiguration"] = {
            module: {k: v for k, v in setting.items() if k != "CloudWatchLogGroupArn"}
            if isinstance(setting, Mapping)
            else setting
            for module, setting in logging.items()
        }
    return request


def saved_environment_config(ctx: DrContext) -> Mapping[str, Any] | None:
    """The primary's configuration saved by the healthy checks, ready for CreateEnvironment."""
    secondary = ctx.topology.secondary
    try:
        saved = ctx.store.get(secondary, ctx.topology.bucket(secondary), ENVIRONMENT_CONFIG_KEY)
    except PortError:
        if not ctx.config.resumable_failover:
            raise
        saved = None
    if saved is not None:
        environment = saved.body.get("environment", {})
        return create_request(environment)
    if ctx.config.create_without_saved_config:
        ctx.journal.note("failover: no saved environment configuration; using a minimal one")
        return {"Name": ctx.topology.environment}
    ctx.journal.note("failover: no saved environment configuration to create from")
    return None


def _status(ctx: DrContext) -> str | None:
    """The secondary environment's status, None when absent, UNKNOWN when the call failed
    (hardened only; seed lets the error end the execution)."""
    try:
        env = ctx.mwaa.get_environment(ctx.topology.secondary, ctx.topology.environment)
    except PortError:
        if not ctx.config.resumable_failover:
            raise
        return UNKNOWN
    return None if env is None else str(env.get("Status"))


def _create(ctx: DrContext, env_config: Mapping[str, Any]) -> None:
    region, name = ctx.topology.secondary, ctx.topology.environment
    try:
        ctx.mwaa.create_environment(region, name, env_config)
    except PortError as err:
        if not ctx.config.resumable_failover:
            raise
        ctx.journal.note(f"failover: CreateEnvironment failed: {err}")
        return
    ctx.journal.note(f"failover: CreateEnvironment {name} in {region}")


def _delete(ctx: DrContext, why: str) -> None:
    region, name = ctx.topology.secondary, ctx.topology.environment
    ctx.journal.note(f"failover: {why}; deleting {name} in {region} to create it again")
    try:
        ctx.mwaa.delete_environment(region, name)
    except PortError as err:
        ctx.journal.note(f"failover: DeleteEnvironment failed: {err}")


def ensure_environment(
    ctx: DrContext, env_config: Mapping[str, Any], deadline: float | None
) -> Process[bool]:
    """Create the secondary environment and wait until it is AVAILABLE (see the module doc)."""
    cfg = ctx.config
    attempts = 0
    created_at = ctx.clock.now()
    deleting = False
    if cfg.resumable_failover:
        status = _status(ctx)
    else:
        # The reference creates straight away and only then starts polling.
        _create(ctx, env_config)
        attempts, status = 1, UNKNOWN
    while True:
        if status == "AVAILABLE":
            ctx.journal.note(f"failover: environment AVAILABLE in {ctx.topology.secondary}")
            return True
        now = ctx.clock.now()
        if status in (None, "DELETED"):
            deleting = False
            if attempts >= cfg.create_attempts:
                ctx.journal.note(f"failover: giving up after {attempts} creation(s)")
                return False
            _create(ctx, env_config)
            attempts, created_at = attempts + 1, now
        elif not deleting and cfg.create_exits_on_failure and status == "CREATE_FAILED":
            if attempts >= cfg.create_attempts:
                ctx.journal.note(f"failover: CREATE_FAILED, giving up after {attempts} creation(s)")
                return False
            _delete(ctx, f"CREATE_FAILED ({attempts} of {cfg.create_attempts} creations used)")
            deleting = True
        elif (
            not deleting
            and status == "CREATING"
            and cfg.create_timeout is not None
            and now - created_at > cfg.create_timeout
        ):
            if attempts >= cfg.create_attempts:
                ctx.journal.note("failover: creation timed out, no attempt left")
                return False
            _delete(ctx, f"still CREATING after {cfg.create_timeout:.0f}s")
            deleting = True
        # CREATING, DELETING, UNKNOWN, and for seed CREATE_FAILED too: poll on.
        yield from pause(ctx, cfg.create_poll_interval, deadline)
        status = _status(ctx)


def run_dag(
    ctx: DrContext, dag_id: str, conf: Mapping[str, Any], deadline: float | None
) -> Process[RunState | None]:
    """Trigger a DR DAG in the secondary and wait for its run to end; None when it could not be
    triggered (hardened) or did not end in time."""
    region, name = ctx.topology.secondary, ctx.topology.environment
    try:
        run_id = ctx.airflow.trigger_dag(region, name, dag_id, conf)
    except PortError as err:
        if not ctx.config.resumable_failover:
            raise
        ctx.journal.note(f"failover: cannot trigger {dag_id}: {err}")
        return None
    ctx.journal.note(f"failover: triggered {dag_id} ({run_id})")
    started = ctx.clock.now()
    timeout = ctx.config.dag_run_timeout
    while timeout is None or ctx.clock.now() - started < timeout:
        yield from pause(ctx, ctx.config.restore_poll_interval, deadline)
        try:
            state = ctx.airflow.dag_run_state(region, name, dag_id, run_id)
        except PortError:
            continue
        if state in ("success", "failed"):
            ctx.journal.note(f"failover: {dag_id} ({run_id}) {state}")
            return state
    ctx.journal.note(f"failover: {dag_id} ({run_id}) not finished after {timeout:.0f}s")
    return None


def restore_with_retries(ctx: DrContext, deadline: float | None) -> Process[bool]:
    attempts = ctx.config.restore_attempts
    for attempt in range(1, attempts + 1):
        state = yield from run_dag(ctx, RESTORE_DAG, {}, deadline)
        if state == "success":
            return True
        ctx.journal.note(f"failover: restore attempt {attempt}/{attempts} did not succeed")
    return False


def unpause_workload(ctx: DrContext) -> bool:
    """The last step: the secondary schedules the workload. PortError ends the attempt."""
    region = ctx.topology.secondary
    ctx.airflow.set_workload_paused(region, ctx.topology.environment, False)
    ctx.journal.note(f"failover: workload unpaused in {region}")
    return True
