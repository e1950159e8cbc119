"""One health check's observations, read through the ports and handed to the pure detector.

CloudWatch is asked across Regions (the primary's SchedulerHeartbeat); the canary is read in the
secondary's own bucket, where S3 replication puts it, so an outage of the primary Region, of its
CloudWatch or of the link between the Regions does not hide the canary's age.
"""

from __future__ import annotations

from reference_impl.context import DrContext
from reference_impl.detector import CloudWatchStatus, Observation
from reference_impl.layout import CANARY_KEY, ENVIRONMENT_CONFIG_KEY
from reference_impl.ports import TIMED_OUT, PortError
from reference_impl.runtime import CHECKPOINT, Process


def observe(ctx: DrContext) -> Process[Observation]:
    """Ask CloudWatch, then (with `second_signal`) read the canary. Never raises PortError."""
    primary = ctx.topology.primary
    detector = ctx.config.detector
    try:
        values = ctx.metrics.scheduler_heartbeat(
            primary, ctx.topology.environment, detector.metric_period
        )
    except PortError as err:
        status: CloudWatchStatus = "timed_out" if err.code == TIMED_OUT else "error"
        cw = Observation(status, err.code)
    else:
        if any(value > 0 for value in values):
            cw = Observation("healthy", f"{len(values)} datapoint(s)")
        else:
            cw = Observation("no_data", "no heartbeat datapoint > 0")
    # Let the CloudWatch call's time pass before timing the canary.
    yield CHECKPOINT
    if not detector.second_signal:
        return cw
    secondary = ctx.topology.secondary
    try:
        canary = ctx.store.get(secondary, ctx.topology.bucket(secondary), CANARY_KEY)
    except PortError as err:
        return Observation(cw.cloudwatch, f"{cw.detail}; canary read: {err.code}", "unreadable")
    if canary is None:
        return Observation(cw.cloudwatch, cw.detail, "absent")
    written_at = canary.body.get("written_at")
    if not isinstance(written_at, int | float):
        return Observation(cw.cloudwatch, f"{cw.detail}; canary malformed", "unreadable")
    return Observation(cw.cloudwatch, cw.detail, "read", ctx.clock.now() - float(written_at))


def save_environment_config(ctx: DrContext) -> bool:
    """Steps 2.c/2.d of the post: GetEnvironment of the primary (across Regions), stored in the
    secondary's bucket, so that backup and restore can create an identical environment."""
    primary, secondary = ctx.topology.primary, ctx.topology.secondary
    try:
        environment = ctx.mwaa.get_environment(primary, ctx.topology.environment)
        if environment is None:
            ctx.journal.note(f"save config: no environment {ctx.topology.environment} in {primary}")
            return False
        body = {"saved_at": ctx.clock.now(), "environment": dict(environment)}
        ctx.store.put(secondary, ctx.topology.bucket(secondary), ENVIRONMENT_CONFIG_KEY, body)
    except PortError as err:
        ctx.journal.note(f"save config failed: {err}")
        return False
    return True
