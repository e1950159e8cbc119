"""Where the installed Apache Airflow is, its version, and whether it is usable.

Airflow lives in its own virtualenv per line (MWAA runs both), made by
`scripts/install-airflow.sh --line 3|2`, so its pins never fight the harness's:

    line "3": Airflow 3.3.2  in .airflow/venv       ($MWAA_DRILL_AIRFLOW_VENV overrides)
    line "2": Airflow 2.10.5 in .airflow/venv-2.10  ($MWAA_DRILL_AIRFLOW2_VENV overrides)

Nothing here imports Airflow: the harness only runs its `airflow` executable.

- `find_installation(line="3")` -> `AirflowInstallation` (venv, version, paths), or raises
  `AirflowNotInstalled` whose message says which install command to run.
- `line_of("2.10.5")` -> "2": the line of an MWAA AirflowVersion (ValueError for others).
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
from typing import Literal

AirflowLine = Literal["2", "3"]
INSTALL_SCRIPT = "scripts/install-airflow.sh"


@dataclass(frozen=True)
class LineSpec:
    """What scripts/install-airflow.sh --line <line> installs, and where."""

    version: str
    venv_name: str  # under .airflow/
    venv_variable: str

    def install_command(self, line: AirflowLine) -> str:
        return INSTALL_SCRIPT if line == "3" else f"{INSTALL_SCRIPT} --line {line}"


LINES: dict[AirflowLine, LineSpec] = {
    "3": LineSpec("3.3.2", "venv", "MWAA_DRILL_AIRFLOW_VENV"),
    "2": LineSpec("2.10.5", "venv-2.10", "MWAA_DRILL_AIRFLOW2_VENV"),
}
AIRFLOW_VERSION = LINES["3"].version  # the default line
AIRFLOW2_VERSION = LINES["2"].version
VENV_VARIABLE = LINES["3"].venv_variable


def line_of(airflow_version: str) -> AirflowLine:
    """The installed line serving an MWAA AirflowVersion ("2.10.5" -> "2", "3.0.6" -> "3")."""
    major = str(airflow_version).split(".", 1)[0]
    if major == "2":
        return "2"
    if major == "3":
        return "3"
    raise ValueError(f"no Airflow line for AirflowVersion {airflow_version!r} (2.x or 3.x)")


class AirflowNotInstalled(RuntimeError):
    """The Airflow virtualenv is missing, broken, or holds another version."""


def source_root() -> Path:
    """The checkout this module sits in (meaningless when installed as a wheel)."""
    return Path(__file__).resolve().parents[3]


def default_venv(line: AirflowLine = "3") -> Path:
    """The line's variable ($MWAA_DRILL_AIRFLOW_VENV for "3"), else the first
    `.airflow/<venv>` with an `airflow` in the current directory or its parents (tox runs from
    the project root with the package installed elsewhere), else in the source checkout; if
    none exists yet, where scripts/install-airflow.sh would make it."""
    spec = LINES[line]
    override = os.environ.get(spec.venv_variable)
    if override:
        return Path(override)
    cwd = Path.cwd()
    roots = [cwd, *cwd.parents, source_root()]
    for root in roots:
        venv = root / ".airflow" / spec.venv_name
        if (venv / "bin" / "airflow").is_file():
            return venv
    for root in roots:
        if (root / INSTALL_SCRIPT).is_file():
            return root / ".airflow" / spec.venv_name
    return cwd / ".airflow" / spec.venv_name


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

    @property
    def line(self) -> AirflowLine:
        return line_of(self.version)

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
                    f"{self.airflow} version failed: {err}; run {self._install_command()}"
                ) from err
        lines = result.stdout.strip().splitlines()
        said = lines[-1].strip() if lines else ""
        if result.returncode != 0 or said != self.version:
            detail = (result.stderr or result.stdout).strip()[-500:]
            raise AirflowNotInstalled(
                f"{self.airflow} version: exit {result.returncode}, said {said!r} "
                f"(wanted {self.version}): {detail}; run {self._install_command()}"
            )

    def _install_command(self) -> str:
        return LINES[self.line].install_command(self.line)


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
    venv: Path | None = None, *, line: AirflowLine = "3", version: str | None = ""
) -> str | None:
    """Why Airflow of `line` cannot be used from `venv` (default: the line's venv); None when
    it looks usable. `version`: "" = the line's pinned version, None = any. No subprocess."""
    spec = LINES[line]
    venv = default_venv(line) if venv is None else venv
    wanted = spec.version if version == "" else version
    fix = f"run {spec.install_command(line)}"
    if not (venv / "bin" / "airflow").is_file():
        return f"Apache Airflow is not installed in {venv} (no bin/airflow): {fix}"
    if not (venv / "bin" / "python").exists():
        return f"{venv} has no bin/python (broken virtualenv): {fix}"
    found = installed_version(venv)
    if found is None:
        return f"{venv} holds no apache-airflow distribution: {fix}"
    if wanted is not None and found != wanted:
        return f"{venv} holds apache-airflow {found}, the harness wants {wanted}: {fix}"
    if not any((site / "psycopg2").is_dir() for site in _site_packages(venv)):
        return f"{venv} has no psycopg2 (PostgreSQL metadata databases need it): {fix}"
    return None


def find_installation(
    venv: Path | None = None,
    *,
    line: AirflowLine = "3",
    version: str | None = "",
    verify: bool = False,
) -> AirflowInstallation:
    """The usable Airflow installation of `line`, or AirflowNotInstalled saying how to install
    it. `version` as for installation_problem."""
    venv = default_venv(line) if venv is None else venv
    problem = installation_problem(venv, line=line, version=version)
    if problem:
        raise AirflowNotInstalled(problem)
    found = installed_version(venv)
    assert found is not None
    installation = AirflowInstallation(venv=venv, version=found)
    if verify:
        installation.verify()
    return installation
