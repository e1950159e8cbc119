"""Which endpoints a caller can reach: Regional outages and partitions between the Regions.

Ports are bound to the caller's Region, so every call is judged here first:

- region_outage of the target Region (or of the caller's own: nothing leaves a dark Region):
  `refused` fails at once with UNREACHABLE, `hang` waits for the caller's timeout, TIMED_OUT;
- network_partition of either Region: a call between the two Regions fails as the partition
  says (`hang`: TIMED_OUT after the caller's timeout, `refused`: UNREACHABLE at once); calls
  inside a Region work.
"""

from __future__ import annotations

from harness.sim.calibration import Network as NetworkCalibration
from harness.sim.engine import Engine
from reference_impl.ports import TIMED_OUT, UNREACHABLE, PortError


class Network:
    def __init__(self, engine: Engine, calibration: NetworkCalibration) -> None:
        self.engine = engine
        self.cal = calibration
        self._outages: dict[str, list[str]] = {}  # Region -> unreachable_as of active outages
        self._cut: dict[str, list[str]] = {}  # Region -> unreachable_as of active partitions

    # Fault edges ------------------------------------------------------------------------------
    def outage_on(self, region: str, unreachable_as: str) -> None:
        self._outages.setdefault(region, []).append(unreachable_as)

    def outage_off(self, region: str, unreachable_as: str) -> None:
        self._outages[region].remove(unreachable_as)

    def partition_on(self, region: str, unreachable_as: str) -> None:
        self._cut.setdefault(region, []).append(unreachable_as)

    def partition_off(self, region: str, unreachable_as: str) -> None:
        self._cut[region].remove(unreachable_as)

    # Queries ----------------------------------------------------------------------------------
    def is_out(self, region: str) -> bool:
        return bool(self._outages.get(region))

    def is_cut(self, region: str) -> bool:
        return bool(self._cut.get(region))

    def check(self, caller: str, target: str, hang_timeout: float | None = None) -> None:
        """Raise PortError (after charging the time the failure takes) if `caller` cannot
        reach `target`'s endpoints now; otherwise charge the cross-Region latency, if any."""
        timeout = self.cal.hang_timeout if hang_timeout is None else hang_timeout
        for region in (target, caller):
            modes = self._outages.get(region)
            if modes:
                if "hang" in modes:  # a hanging outage hides a refusing one behind the wait
                    self.engine.charge(timeout)
                    raise PortError(TIMED_OUT, f"{region} does not answer")
                self.engine.charge(self.cal.refused)
                raise PortError(UNREACHABLE, f"{region} refuses connections")
        if caller != target:
            cuts = self._cut.get(caller, []) + self._cut.get(target, [])
            if cuts:
                if "hang" in cuts:  # as for outages, a hanging cut hides a refusing one
                    self.engine.charge(timeout)
                    raise PortError(TIMED_OUT, f"{caller} cannot reach {target} (partition)")
                self.engine.charge(self.cal.refused)
                raise PortError(UNREACHABLE, f"{caller} cannot reach {target} (partition)")
            self.engine.charge(self.cal.cross_region_call)
