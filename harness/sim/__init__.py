"""The simulator: two Regions on virtual time, deterministic per seed, running the real DR logic.

Modules, one concept each:
- `engine`       the discrete-event loop (heap of (time, sequence, action)) and DR processes;
- `calibration`  every timing and probability of the world, read from a YAML file;
- `faults`       a trial's fault schedule, sampled once;
- `network`      Region outages and partitions: who can reach which endpoint;
- `metrics`      CloudWatch: heartbeats answered analytically, API faults with retries;
- `storage`      S3 with cross-Region replication;
- `environments` MWAA environments and their lifecycle;
- `airflow`      Airflow in an environment: scheduler, workload, DR DAGs, metadata;
- `journal`      what the DR logic reports, as history events;
- `world`        one trial's world, wiring the models to the DR logic's entry points;
- `trial`        run one trial and measure its history;
- `campaign`     many trials over local processes or Dask, into a report;
- `sweep`        one campaign per point of a grid of detector settings.
"""

from harness.sim.calibration import Calibration, default_calibration, load_calibration
from harness.sim.campaign import run_campaign
from harness.sim.trial import SimTrial, run_trial, trial_seed
from harness.sim.world import DrLogic, World

__all__ = [
    "Calibration",
    "DrLogic",
    "SimTrial",
    "World",
    "default_calibration",
    "load_calibration",
    "run_campaign",
    "run_trial",
    "trial_seed",
]
