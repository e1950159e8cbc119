"""The scenario language: frozen typed objects (`model`) parsed and validated from YAML (`load`),
the fault kinds and their parameters (`faults`), and the shipped scenario catalog (`catalog`)."""

from harness.scenario.faults import FAULT_SPECS, FaultSpec, ParamSpec
from harness.scenario.load import (
    FieldError,
    ScenarioError,
    load_scenario,
    parse_scenario,
    scenario_from_data,
)
from harness.scenario.model import (
    BackupSettings,
    DetectorOverrides,
    Fault,
    FaultKind,
    Objective,
    Objectives,
    Profile,
    Regions,
    Scenario,
    Strategy,
    Uniform,
    Varying,
    Workload,
    to_json,
)

__all__ = [
    "FAULT_SPECS",
    "BackupSettings",
    "DetectorOverrides",
    "Fault",
    "FaultKind",
    "FaultSpec",
    "FieldError",
    "Objective",
    "Objectives",
    "ParamSpec",
    "Profile",
    "Regions",
    "Scenario",
    "ScenarioError",
    "Strategy",
    "Uniform",
    "Varying",
    "Workload",
    "load_scenario",
    "parse_scenario",
    "scenario_from_data",
    "to_json",
]
