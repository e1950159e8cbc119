"""The recovery workflow: runs in the secondary for the whole drill, checks the primary every
`check_interval` and, on a failover decision, runs the failover steps of ctx.strategy.

Every check is journaled (`probe`), the decision too (`decision`, before any failover step).
On a healthy check, a backup-and-restore workflow saves the primary's configuration (steps
2.c/2.d of the post); warm standby has an environment already and does not.

Without fencing (seed, as the reference): the first check comes one interval after the start
(EventBridge's rate schedule); the only latch is disabling its own schedule, so the workflow
ends after the failover steps, whatever their outcome. The 60-minute `workflow_timeout` runs
from the start of the execution that decided. There is no record of the active Region, so a
primary that comes back schedules again, and there is no failback.

With fencing (hardened), the active-Region record (see `fencing`) is the latch, read in the
secondary's own bucket before every check:
- primary active (or no record): check and decide; the failover starts by claiming the record
  with a conditional write; losing the race means no failover (the decision stands, journaled
  with a note that nothing was done);
- secondary active and ready: the failover is done; no checks. If a failback later makes the
  primary active again, checking resumes from a clean detector state;
- secondary active, not ready: a failover whose steps failed (or were cut short). It is run
  again from the top, with backoff: `failover_retry_base` doubling up to `failover_retry_max`.
  The steps are idempotent (an existing environment is reused, the restore skips existing
  rows), so repeating them is safe. No new decision is journaled for a retry.
"""

from __future__ import annotations

from reference_impl.context import DrContext
from reference_impl.detector import DetectorState, Verdict, step
from reference_impl.failover import run_failover
from reference_impl.fencing import ActiveRecord, claim, read_record, write_record
from reference_impl.health import observe, save_environment_config
from reference_impl.ports import PortError
from reference_impl.runtime import Process, Wait


def recovery_workflow(ctx: DrContext) -> Process[None]:
    if ctx.config.fencing:
        yield from _fenced_workflow(ctx)
    else:
        yield from _reference_workflow(ctx)


def _sleep_until(ctx: DrContext, t: float) -> Process[None]:
    yield Wait(max(0.0, t - ctx.clock.now()))


def _check(ctx: DrContext, state: DetectorState) -> Process[tuple[DetectorState, Verdict]]:
    """One health check: observe, judge, journal; save the primary's configuration if healthy."""
    observation = yield from observe(ctx)
    state, verdict = step(ctx.config.detector, state, observation)
    ctx.journal.probe(ctx.topology.primary, verdict.probe, verdict.detail)
    if verdict.probe == "healthy" and ctx.strategy == "backup_restore":
        save_environment_config(ctx)
    return state, verdict


def _decide(ctx: DrContext, verdict: Verdict) -> None:
    ctx.journal.decision("failover", ctx.topology.primary, ctx.topology.secondary, verdict.detail)


def _reference_workflow(ctx: DrContext) -> Process[None]:
    interval = ctx.config.detector.check_interval
    timeout = ctx.config.workflow_timeout
    state = DetectorState()
    next_check = ctx.clock.now() + interval
    while True:
        yield from _sleep_until(ctx, next_check)
        started = ctx.clock.now()
        next_check += interval  # a rate schedule: late checks do not shift the next ones
        state, verdict = yield from _check(ctx, state)
        if not verdict.failover:
            continue
        _decide(ctx, verdict)
        ctx.journal.note("recovery workflow: own schedule disabled")
        deadline = None if timeout is None else started + timeout
        done = yield from run_failover(ctx, deadline)
        ctx.journal.note(f"failover {'completed' if done else 'FAILED'}; workflow ends")
        return


class _Retry:
    """Backoff between attempts of a failover whose steps failed."""

    def __init__(self, ctx: DrContext) -> None:
        self.ctx = ctx
        self.failures = 0
        self.not_before = 0.0

    def due(self) -> bool:
        return self.ctx.clock.now() >= self.not_before

    def failed(self) -> None:
        base = self.ctx.config.failover_retry_base
        self.failures += 1
        if base is None:
            self.not_before = float("inf")
            self.ctx.journal.note("failover FAILED; no retry in this profile")
            return
        delay = min(self.ctx.config.failover_retry_max, base * 2 ** (self.failures - 1))
        self.not_before = self.ctx.clock.now() + delay
        self.ctx.journal.note(f"failover FAILED (attempt {self.failures}); retry in {delay:.0f}s")

    def succeeded(self) -> None:
        self.failures, self.not_before = 0, 0.0


def _complete_failover(ctx: DrContext, record: ActiveRecord, retry: _Retry) -> Process[None]:
    """Run the steps under a claimed record, then mark it ready."""
    claimed_at = ctx.clock.now()

    def still_ours() -> bool:
        try:
            current = read_record(ctx)
        except PortError:
            return True  # cannot tell; the guard enforces the record once it is readable
        return current is not None and current.etag == record.etag

    done = yield from run_failover(ctx, None, still_ours, fenced_at=claimed_at)
    if not done:
        retry.failed()
        return
    try:
        write_record(ctx, record, ctx.topology.secondary, ready=True, by="failover")
    except PortError as err:
        # The steps are idempotent: the next attempt repeats them and marks the record then.
        ctx.journal.note(f"failover: cannot mark the record ready: {err}")
        retry.failed()
        return
    retry.succeeded()
    ctx.journal.note("failover completed")


def _fenced_workflow(ctx: DrContext) -> Process[None]:
    primary, secondary = ctx.topology.primary, ctx.topology.secondary
    interval = ctx.config.detector.check_interval
    state = DetectorState()
    retry = _Retry(ctx)
    secondary_was_active = False
    next_check = ctx.clock.now() + interval
    while True:
        yield from _sleep_until(ctx, next_check)
        next_check += interval
        try:
            record = read_record(ctx)
        except PortError:
            if secondary_was_active:
                continue  # latched: nothing to decide without the record
            record = None  # check anyway; a claim re-reads the record before writing it
        if record is not None and record.active == secondary:
            secondary_was_active = True
            if not record.ready and retry.due():
                yield from _complete_failover(ctx, record, retry)
                next_check = ctx.clock.now() + interval
            continue
        if secondary_was_active and record is not None and record.active == primary:
            ctx.journal.note(f"recovery workflow: failback seen (epoch {record.epoch}); checking")
            secondary_was_active = False
            state = DetectorState()
            retry.succeeded()

        state, verdict = yield from _check(ctx, state)
        if not verdict.failover:
            continue
        _decide(ctx, verdict)
        state = DetectorState()
        claimed = claim(ctx, secondary, by="failover")
        if claimed.outcome != "claimed" or claimed.record is None:
            ctx.journal.note(f"failover not started: {claimed.detail}")
            continue
        ctx.journal.note(f"failover: active-Region record claimed ({claimed.detail})")
        secondary_was_active = True
        yield from _complete_failover(ctx, claimed.record, retry)
        next_check = ctx.clock.now() + interval
