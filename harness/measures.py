"""What the checkers measure in one trial. Computed by `harness.checkers` from a history only.

A number that could not be measured is None, and `reasons` says why (one entry per missing
number, starting with its name, e.g. "rto_s: never recovered before the drill ended").
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class TrialMeasures:
    t_fault: float | None  # start of the first primary-disabling fault, None if there was none
    failovers: int  # failover decisions taken (failbacks not counted)
    failover_triggered: bool
    spurious_failover: bool  # a failover decided while the primary could run workflows
    recovered: bool  # a workload run due after t_fault succeeded in the secondary
    detection_s: float | None
    rto_s: float | None
    rpo_s: float | None
    split_brain_s: float  # seconds during which both Regions scheduled the workload
    lost_runs: int | None
    duplicate_runs: int
    complete: bool  # the history has drill_start and drill_end and was not aborted
    reasons: tuple[str, ...] = field(default=())
    # completed restores of data that was not one consistent backup (mixed or torn)
    torn_restores: int = 0
    # from the first failback decision to the first successful primary run due after it;
    # None when no failback was decided (with a reason only if the operator asked for one)
    failback_s: float | None = None
