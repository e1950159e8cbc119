"""Where the installed Apache Airflow is, its version, and whether it is usable.

Airflow lives in its own virtualenv (`.airflow/venv` at the project root, made by
`scripts/install-airflow.sh`) so its pins never fight the harness's. Nothing here imports
Airflow: the harness only runs its `airflow` executable.

- `find_installation()` -> `AirflowInstallation` (venv, version, paths), or raises
  `AirflowNotInstalled` whose message says to run scripts/install-airflow.sh.
- `installation_problem()` -> why not, as text (None when usable); cheap, no subprocess.
- `AirflowInstallation.verify()` runs `airflow version` once (a few seconds) for a full check.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

AIRFLOW_VERSION = "3.3.2"
INSTALL_SCRIPT = "scripts/install-airflow.sh"
VENV_VARIABLE = "MWAA_DRILL_AIRFLOW_VENV"


class AirflowNotInstalled(RuntimeError):
    """The Airflow virtualenv is missing, broken, or holds another version."""


def source_root() -> Path:
    """The checkout this module sits in (meaningless when installed as a wheel)."""
    return Path(__file__).resolve().parents[3]


def default_venv() -> Path:
    """$MWAA_DRILL_AIRFLOW_VENV, else the first `.airflow/venv` with an `airflow` in the
    current directory or its parents (tox runs from the project root with the package
    installed elsewhere), else in the source checkout; if none exists yet, where
    scripts/install-airflow.sh would make it."""
    override = os.environ.get(VENV_VARIABLE)
    if override:
        return Path(override)
    cwd = Path.cwd()
    roots = [cwd, *cwd.parents, source_root()]
    for root in roots:
        venv = root / ".airflow" / "venv"
        if (venv / "bin" / "airflow").is_file():
            return venv
    for root in roots:
        if (root / INSTALL_SCRIPT).is_file():
            return root / ".airflow" / "venv"
    return cwd / ".airflow" / "venv"


@dataclass(frozen=True)
class AirflowInstallation:
    venv: Path
    version: str

    @property
    def airflow(self) -> Path:
        """The `airflow` CLI (its shebang is the venv's python)."""
        return self.venv / "bin" / "airflow"

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    @property
    def bin_dir(self) -> Path:
        return self.venv / "bin"

    @property
    def major(self) -> int:
        return int(self.version.split(".", 1)[0])

    def verify(self, timeout_s: float = 90.0) -> None:
        """Run `airflow version` (throwaway AIRFLOW_HOME); raise AirflowNotInstalled unless it
        prints this installation's version."""
        with tempfile.TemporaryDirectory(prefix="mwaa-drill-af-check-") as home:
            env = {
                "PATH": f"{self.bin_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}",
                "AIRFLOW_HOME": home,
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "HOME": home,
                "LANG": "C.UTF-8",
            }
            try:
                result = subprocess.run(
                    [str(self.airflow), "version"],
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=timeout_s,
                    check=False,
                    stdin=subprocess.DEVNULL,
                )
            except (OSError, subprocess.TimeoutExpired) as err:
                raise AirflowNotInstalled(
                    f"{self.airflow} version failed: {err}; run {INSTALL_SCRIPT}"
                ) from err
        lines = result.stdout.strip().splitlines()
        said = lines[-1].strip() if lines else ""
        if result.returncode != 0 or said != self.version:
            detail = (result.stderr or result.stdout).strip()[-500:]
            raise AirflowNotInstalled(
                f"{self.airflow} version: exit {result.returncode}, said {said!r} "
                f"(wanted {self.version}): {detail}; run {INSTALL_SCRIPT}"
            )


def _site_packages(venv: Path) -> list[Path]:
    return sorted((venv / "lib").glob("python3*/site-packages"))


def installed_version(venv: Path) -> str | None:
    """The apache-airflow version installed in `venv` (from its dist-info), or None."""
    for site in _site_packages(venv):
        for dist in site.glob("apache_airflow-*.dist-info"):
            match = re.match(r"apache_airflow-([^-]+)\.dist-info$", dist.name)
            if match:
                return match.group(1)
    return None


def installation_problem(
    venv: Path | None = None, *, version: str | None = AIRFLOW_VERSION
) -> str | None:
    """Why Airflow cannot be used from `venv` (None when it looks usable). No subprocess."""
    venv = default_venv() if venv is None else venv
    fix = f"run {INSTALL_SCRIPT}"
    if not (venv / "bin" / "airflow").is_file():
        return f"Apache Airflow is not installed in {venv} (no bin/airflow): {fix}"
    if not (venv / "bin" / "python").exists():
        return f"{venv} has no bin/python (broken virtualenv): {fix}"
    found = installed_version(venv)
    if found is None:
        return f"{venv} holds no apache-airflow distribution: {fix}"
    if version is not None and found != version:
        return f"{venv} holds apache-airflow {found}, the harness wants {version}: {fix}"
    if not any((site / "psycopg2").is_dir() for site in _site_packages(venv)):
        return f"{venv} has no psycopg2 (PostgreSQL metadata databases need it): {fix}"
    return None


def find_installation(
    venv: Path | None = None, *, version: str | None = AIRFLOW_VERSION, verify: bool = False
) -> AirflowInstallation:
    """The usable Airflow installation, or AirflowNotInstalled saying how to install it."""
    venv = default_venv() if venv is None else venv
    problem = installation_problem(venv, version=version)
    if problem:
        raise AirflowNotInstalled(problem)
    found = installed_version(venv)
    assert found is not None
    installation = AirflowInstallation(venv=venv, version=found)
    if verify:
        installation.verify()
    return installation
