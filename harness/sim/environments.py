"""MWAA environments: at most one per Region, its lifecycle and the MWAA API.

The primary's environment is AVAILABLE from the start. Warm standby: the secondary's too, with
the workload paused. Backup and restore: the secondary has none until CreateEnvironment.
A creation takes the calibration's creation time, then ends AVAILABLE, or CREATE_FAILED with
the calibration's probability and, for creations started in a create_environment_failure
window of that Region, with the fault's probability. As in MWAA, a name that exists (even
CREATE_FAILED) must be deleted before it is created again; deleting takes the calibration's
time, then the environment is gone. Every state change is an `env_state` event.

A new environment's workload DAGs start paused, as Airflow's `dags_are_paused_at_creation`
(MWAA default True) says; a creation can set
`AirflowConfigurationOptions: {"core.dags_are_paused_at_creation": "False"}`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from harness.scenario.model import FaultKind
from harness.sim.airflow import AirflowEnv, logical_date
from reference_impl.ports import PortError

if TYPE_CHECKING:
    from harness.sim.world import World

CREATING = "CREATING"
AVAILABLE = "AVAILABLE"
CREATE_FAILED = "CREATE_FAILED"
DELETING = "DELETING"
DELETED = "DELETED"

PAUSED_AT_CREATION = "core.dags_are_paused_at_creation"
# CreateEnvironment's request parameters besides Name (botocore's model of the MWAA API);
# anything else is refused, as boto3 refuses it before sending.
CREATE_ENVIRONMENT_PARAMETERS = frozenset(
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


class Environment:
    def __init__(
        self,
        world: World,
        region: str,
        name: str,
        config: Mapping[str, Any],
        paused: bool,
        role: str,
    ) -> None:
        self.world = world
        self.region = region
        self.name = name
        self.config = dict(config)
        self.created_t = world.engine.t
        self.state = ""
        self.airflow = AirflowEnv(world, region, name, paused, role)

    def set_state(self, state: str) -> None:
        world = self.world
        self.state = state
        world.history.record(
            world.engine.t, "env_state", region=self.region, environment=self.name, state=state
        )
        self.airflow.available = state == AVAILABLE
        self.airflow.reconcile(restart_delay=False)
        self.airflow.update_scheduling()

    def describe(self) -> dict[str, Any]:
        """GetEnvironment's `Environment`: the configuration plus the read-only fields MWAA
        adds (a copy of this answer is not a valid CreateEnvironment request as it is)."""
        account = "123456789012"
        return {
            **self.config,
            "Name": self.name,
            "Status": self.state,
            "Arn": f"arn:aws:airflow:{self.region}:{account}:environment/{self.name}",
            "ServiceRoleArn": f"arn:aws:iam::{account}:role/aws-service-role/"
            "airflow.amazonaws.com/AWSServiceRoleForAmazonMWAA",
            "WebserverUrl": f"{self.name}.{self.region}.airflow.amazonaws.com",
            "CreatedAt": logical_date(self.created_t),
        }


class Environments:
    def __init__(self, world: World) -> None:
        self.world = world
        self.rng = world.rng("mwaa")
        self.cal = world.calibration.mwaa
        self.by_region: dict[str, Environment] = {}

    def get(self, region: str, name: str | None = None) -> Environment | None:
        env = self.by_region.get(region)
        if env is None or (name is not None and env.name != name):
            return None
        return env

    def provision(self, region: str, name: str, paused: bool, role: str) -> Environment:
        """An environment that exists and runs when the drill starts ("primary"/"standby")."""
        env = Environment(self.world, region, name, {"Name": name}, paused, role)
        self.by_region[region] = env
        env.set_state(AVAILABLE)
        return env

    def create(self, region: str, name: str, config: Mapping[str, Any]) -> None:
        unknown = sorted(set(config) - CREATE_ENVIRONMENT_PARAMETERS)
        if unknown:  # what boto3 refuses before sending (ParamValidationError)
            raise PortError("ValidationException", f"unknown parameters: {', '.join(unknown)}")
        if region in self.by_region:
            existing = self.by_region[region]
            raise PortError(
                "ValidationException",
                f"environment {existing.name} exists in {region} ({existing.state})",
            )
        options = config.get("AirflowConfigurationOptions") or {}
        paused = str(options.get(PAUSED_AT_CREATION, "True")).lower() != "false"
        env = Environment(self.world, region, name, config, paused, role="new")
        self.by_region[region] = env
        env.set_state(CREATING)
        # Draws in a fixed order: creation time, then the calibration's failure, then faults'.
        duration = self.cal.create_time.sample(self.rng)
        fails = self.rng.random() < self.cal.create_failure_probability
        now = self.world.engine.t
        for fault in self.world.faults.active(FaultKind.CREATE_ENVIRONMENT_FAILURE, region, now):
            fails = self.rng.random() < fault.params["probability"] or fails
        outcome = CREATE_FAILED if fails else AVAILABLE

        def finish() -> None:
            if self.by_region.get(region) is env and env.state == CREATING:
                env.set_state(outcome)

        self.world.engine.after(duration, finish)

    def delete(self, region: str, name: str) -> None:
        env = self.get(region, name)
        if env is None:
            raise PortError("ResourceNotFoundException", f"no environment {name} in {region}")
        if env.state in (CREATING, DELETING):
            raise PortError("ValidationException", f"environment {name} is {env.state}")
        env.set_state(DELETING)

        def gone() -> None:
            if self.by_region.get(region) is env:
                env.set_state(DELETED)
                del self.by_region[region]

        self.world.engine.after(self.cal.delete_time.sample(self.rng), gone)


class MwaaPort:
    """reference_impl.ports.Mwaa for DR code running in `caller`."""

    def __init__(self, environments: Environments, caller: str) -> None:
        self.envs = environments
        self.caller = caller

    def _call(self, region: str) -> None:
        world = self.envs.world
        world.network.check(self.caller, region)
        world.engine.charge(self.envs.cal.call)

    def get_environment(self, region: str, name: str) -> Mapping[str, Any] | None:
        self._call(region)
        env = self.envs.get(region, name)
        return None if env is None else env.describe()

    def create_environment(self, region: str, name: str, config: Mapping[str, Any]) -> None:
        self._call(region)
        self.envs.create(region, name, config)

    def delete_environment(self, region: str, name: str) -> None:
        self._call(region)
        self.envs.delete(region, name)
