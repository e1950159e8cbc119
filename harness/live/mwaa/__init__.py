"""The parts of the emulated MWAA service (the HTTP API itself is `harness.live.mwaa_api`).

Modules:
- `backend`: the `EnvironmentBackend` contract: what runs behind each environment (real
  Airflow processes in a live drill, `ScriptedBackend` in tests).
- `service`: `MwaaService`, the MWAA control plane: environments per Region, their status
  lifecycle (CREATING -> AVAILABLE / CREATE_FAILED, UPDATING, DELETING, UNAVAILABLE), the
  creation delays and the errors, with no HTTP in it.
- `faults`: `CreateFailureFaults`, the scenario fault `create_environment_failure` (per
  Region, a probability, a seeded RNG).
- `scripted`: `ScriptedBackend`, a backend without Airflow, with an in-memory stand-in of the
  Airflow REST API for unit tests.
"""
