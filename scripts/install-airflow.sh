#!/usr/bin/env bash
# Idempotent install of what the live Airflow environments need on a fresh Debian 12 machine:
#
#   1. PostgreSQL (apt `postgresql`, 15.x on Debian 12) for the metadata databases; installed
#      only when no `initdb` is found. The harness runs its own clusters in temp dirs as the
#      `postgres` user: nothing here starts a server.
#   2. A SEPARATE virtualenv per Airflow line (its pins must not fight the harness's .venv):
#      apache-airflow with the postgres extra (the postgres provider, psycopg2-binary).
#        --line 3 (default): Airflow 3.3.2 in .airflow/venv, requirements/airflow-constraints.txt
#        --line 2:           Airflow 2.10.5 in .airflow/venv-2.10,
#                            requirements/airflow2-constraints.txt (MWAA's other line)
#
# Exact versions come from the line's constraints file (a `pip freeze` of its venv), so every
# machine gets the same set. To regenerate it (new Airflow version), run with
# --refresh-constraints: the venv is rebuilt without constraints and the freeze rewritten.
#
# Re-running is cheap: a stamp in the venv (hash of this script and the constraints) skips pip.
# Environment: AIRFLOW_PYTHON (interpreter for the venv, default python3; 3.10-3.13 for line 3,
# 3.10-3.12 for line 2).
set -euo pipefail
# Airflow's venvs have their own pins: never the harness's (tox sets PIP_CONSTRAINT for its
# envs, and `tox -e integration-airflow2` runs this script: cryptography 42 vs 50 conflicted).
unset PIP_CONSTRAINT PIP_REQUIREMENT PIP_TARGET PIP_PREFIX PIP_USER
SCRIPT="$(cd "$(dirname "$0")" && pwd)/$(basename "$0")"
cd "$(dirname "$SCRIPT")/.."

line=3
refresh=0
while [ "$#" -gt 0 ]; do
    case "$1" in
        --refresh-constraints) refresh=1 ;;
        --line)
            line="${2:-}"
            shift
            ;;
        --line=*) line="${1#--line=}" ;;
        -h | --help)
            sed -n '2,20p' "$SCRIPT"
            exit 0
            ;;
        *)
            echo "install-airflow: unknown argument $1" >&2
            exit 2
            ;;
    esac
    shift
done

# One table of what differs between the lines; everything below is shared.
case "$line" in
    3)
        AIRFLOW_VERSION=3.3.2
        VENV=.airflow/venv
        CONSTRAINTS=requirements/airflow-constraints.txt
        MAX_PYTHON_MINOR=13
        DRIVERS="psycopg2, asyncpg" # the async engine of Airflow 3 needs asyncpg
        LINE_PINS=()
        ;;
    2)
        AIRFLOW_VERSION=2.10.5
        VENV=.airflow/venv-2.10
        CONSTRAINTS=requirements/airflow2-constraints.txt
        MAX_PYTHON_MINOR=12
        DRIVERS="psycopg2"
        # Newer releases break 2.10.5 (Airflow's own constraints pin them): cryptography >= 45
        # made MultiFernet a Rust object, and Airflow 2.10 sets an attribute on it (every
        # Variable.set answered 500).
        LINE_PINS=("cryptography==42.0.8")
        ;;
    *)
        echo "install-airflow: --line must be 2 or 3, got '$line'" >&2
        exit 2
        ;;
esac
# What we install directly (exact pins); everything else is pinned by the constraints file.
REQUIREMENTS=("apache-airflow[postgres]==${AIRFLOW_VERSION}" "${LINE_PINS[@]}")
STAMP="$VENV/.mwaa-drill-airflow-installed"
PYTHON="${AIRFLOW_PYTHON:-python3}"

say() { echo "install-airflow: $*"; }
started=$SECONDS

# 1. PostgreSQL ---------------------------------------------------------------------------------
have_postgres() {
    compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null && id postgres >/dev/null 2>&1
}
if have_postgres; then
    say "PostgreSQL present ($(ls -d /usr/lib/postgresql/*/bin | head -n1))"
else
    if [ "$(id -u)" != 0 ]; then
        echo "install-airflow: PostgreSQL is missing and installing it needs root (apt-get)" >&2
        exit 2
    fi
    say "installing PostgreSQL with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # policy-rc.d 101: the package must not start its default cluster; the harness runs its own.
    policy=/usr/sbin/policy-rc.d
    made_policy=0
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy"
        chmod +x "$policy"
        made_policy=1
    fi
    apt-get install -y -qq --no-install-recommends postgresql >/dev/null
    if [ "$made_policy" = 1 ]; then rm -f "$policy"; fi
    have_postgres || {
        echo "install-airflow: apt installed postgresql but no initdb was found" >&2
        exit 1
    }
    say "PostgreSQL installed ($(ls -d /usr/lib/postgresql/*/bin | head -n1))"
fi

# 2. The Airflow virtualenv ---------------------------------------------------------------------
if [ "$refresh" = 1 ]; then
    say "--refresh-constraints: rebuilding $VENV without constraints"
    rm -rf "$VENV"
fi

if [ "$refresh" = 0 ] && [ ! -f "$CONSTRAINTS" ]; then
    echo "install-airflow: $CONSTRAINTS is missing; run with --refresh-constraints to create it" >&2
    exit 2
fi

want=$( (cat "$SCRIPT" requirements/constraints.txt; [ "$refresh" = 1 ] || cat "$CONSTRAINTS") |
    sha256sum | cut -d' ' -f1)
if [ -x "$VENV/bin/airflow" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$want" ]; then
    say "Airflow venv up to date ($VENV, apache-airflow==$AIRFLOW_VERSION); nothing to do"
    exit 0
fi

if ! "$PYTHON" -c "import sys; sys.exit(not ((3, 10) <= sys.version_info[:2] <= (3, $MAX_PYTHON_MINOR)))" \
    2>/dev/null; then
    echo "install-airflow: Airflow $AIRFLOW_VERSION needs Python 3.10-3.$MAX_PYTHON_MINOR" \
        "as \$AIRFLOW_PYTHON" \
        "(found: $("$PYTHON" --version 2>&1))" >&2
    exit 2
fi

if [ ! -x "$VENV/bin/python" ]; then
    say "creating $VENV with $("$PYTHON" --version 2>&1)"
    mkdir -p "$(dirname "$VENV")"
    if ! "$PYTHON" -m venv "$VENV" 2>/dev/null; then
        # Debian's own python3 needs python3-venv for ensurepip.
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
            say "installing python3-venv with apt-get"
            rm -rf "$VENV"
            DEBIAN_FRONTEND=noninteractive apt-get update -qq
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
            "$PYTHON" -m venv "$VENV"
        else
            echo "install-airflow: '$PYTHON -m venv' failed (python3-venv missing?)" >&2
            exit 1
        fi
    fi
fi

pip=("$VENV/bin/python" -m pip --disable-pip-version-check)
if [ "$refresh" = 1 ]; then
    say "installing ${REQUIREMENTS[*]} (unconstrained) into $VENV"
    "${pip[@]}" install --quiet "${REQUIREMENTS[@]}"
    {
        echo "# pip freeze of $VENV (scripts/install-airflow.sh --line $line --refresh-constraints)."
        echo "# Installed directly: ${REQUIREMENTS[*]}; Python $("$VENV/bin/python" -c \
            'import sys; print(".".join(map(str, sys.version_info[:3])))')."
        "${pip[@]}" freeze --exclude pip --exclude setuptools --exclude wheel
    } >"$CONSTRAINTS"
    say "wrote $CONSTRAINTS ($(grep -vc '^#' "$CONSTRAINTS") packages)"
    want=$(cat "$SCRIPT" requirements/constraints.txt "$CONSTRAINTS" | sha256sum | cut -d' ' -f1)
else
    say "installing ${REQUIREMENTS[*]} into $VENV with -c $CONSTRAINTS"
    "${pip[@]}" install --quiet -c "$CONSTRAINTS" "${REQUIREMENTS[@]}"
fi

# boto3 for the DR DAG tasks (MWAA environments ship it), at the harness's pins. --no-deps:
# botocore declares python-dateutil<3 while Airflow pins 4.0.0; botocore's use of it (parsing
# timestamps) was checked to work with 4.0.0, and the import check below keeps it honest.
BOTO_PINS=()
for package in boto3 botocore s3transfer jmespath; do
    pin=$(grep -i "^${package}==" requirements/constraints.txt || true)
    if [ -z "$pin" ]; then
        echo "install-airflow: no pin for $package in requirements/constraints.txt" >&2
        exit 1
    fi
    BOTO_PINS+=("$pin")
done
say "installing ${BOTO_PINS[*]} into $VENV (--no-deps)"
"${pip[@]}" install --quiet --no-deps "${BOTO_PINS[@]}"

# A usable install: the CLI answers with the pinned version and the PostgreSQL drivers import.
# A throwaway AIRFLOW_HOME: the check must not leave an airflow.cfg in ~/airflow.
check_home=$(mktemp -d)
got=$(AIRFLOW_HOME="$check_home" "$VENV/bin/airflow" version 2>/dev/null | tail -n1 || true)
rm -rf "$check_home"
if [ "$got" != "$AIRFLOW_VERSION" ]; then
    echo "install-airflow: '$VENV/bin/airflow version' said '$got', wanted $AIRFLOW_VERSION" >&2
    exit 1
fi
"$VENV/bin/python" -c "import $DRIVERS" || {
    echo "install-airflow: the PostgreSQL drivers ($DRIVERS) do not import" >&2
    exit 1
}
"$VENV/bin/python" -c '
import boto3
from botocore import parsers
assert parsers.DEFAULT_TIMESTAMP_PARSER("2024-01-01T00:00:00Z").year == 2024
' || {
    echo "install-airflow: boto3 does not work in $VENV" >&2
    exit 1
}
echo "$want" >"$STAMP"
say "Airflow $got ready in $VENV ($((SECONDS - started)) s)"
