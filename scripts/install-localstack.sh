#!/usr/bin/env bash
# Idempotent install of LocalStack (community, `localstack-core`) for the live drills' optional
# second emulator (`LiveAws(emulator="localstack")`, `tox -e localstack`).
#
# LocalStack runs here in host mode, without Docker, as a plain child process. It needs
# Python 3.13 (newer LocalStack does not run on the harness's 3.11), so it gets its own
# virtualenv at .localstack/venv, made with pyenv's Python 3.13 (`$(pyenv root)/versions/3.13.*`,
# the newest one). Set LOCALSTACK_PYTHON to use another Python 3.13 interpreter instead.
#
# Exact versions come from requirements/localstack-constraints.txt (a `pip freeze` of the
# venv), so every machine gets the same set. It holds the pins LocalStack needs to start in host
# mode: cbor2<6, pyopenssl==24.2.1, cryptography==43.0.3, service-identity==24.2.0. To
# regenerate it (new LocalStack version), run with --refresh-constraints.
#
# Re-running is cheap: a stamp in the venv (hash of this script and the constraints) skips pip.
set -euo pipefail
SCRIPT="$(cd "$(dirname "$0")" && pwd)/$(basename "$0")"
cd "$(dirname "$SCRIPT")/.."

LOCALSTACK_VERSION=2026.3.0
# What we install directly (exact pins); everything else is pinned by the constraints file.
REQUIREMENTS=(
    "localstack-core[runtime]==${LOCALSTACK_VERSION}"
    "cbor2<6"
    "pyopenssl==24.2.1"
    "cryptography==43.0.3"
    "service-identity==24.2.0"
)
VENV=.localstack/venv
CONSTRAINTS=requirements/localstack-constraints.txt
STAMP="$VENV/.mwaa-drill-localstack-installed"

refresh=0
for arg in "$@"; do
    case "$arg" in
        --refresh-constraints) refresh=1 ;;
        -h | --help)
            sed -n '2,16p' "$SCRIPT"
            exit 0
            ;;
        *)
            echo "install-localstack: unknown argument $arg" >&2
            exit 2
            ;;
    esac
done

# LocalStack's venv has its own pins: never the harness's (tox sets PIP_CONSTRAINT for its envs).
unset PIP_CONSTRAINT PIP_REQUIREMENT PIP_TARGET PIP_PREFIX PIP_USER

say() { echo "install-localstack: $*"; }
started=$SECONDS

if [ "$refresh" = 1 ]; then
    say "--refresh-constraints: rebuilding $VENV without constraints"
    rm -rf "$VENV"
fi
if [ "$refresh" = 0 ] && [ ! -f "$CONSTRAINTS" ]; then
    echo "install-localstack: $CONSTRAINTS is missing; run with --refresh-constraints to create it" >&2
    exit 2
fi

want=$( (cat "$SCRIPT"; [ "$refresh" = 1 ] || cat "$CONSTRAINTS") | sha256sum | cut -d' ' -f1)
if [ -x "$VENV/bin/python" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$want" ]; then
    say "LocalStack venv up to date ($VENV, localstack-core==$LOCALSTACK_VERSION); nothing to do"
    exit 0
fi

# Python 3.13 --------------------------------------------------------------------------------
is_313() { "$1" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' 2>/dev/null; }

find_python() {
    if [ -n "${LOCALSTACK_PYTHON:-}" ]; then
        echo "$LOCALSTACK_PYTHON"
        return
    fi
    local root=""
    if command -v pyenv >/dev/null 2>&1; then
        root=$(pyenv root)
    elif [ -x "${PYENV_ROOT:-$HOME/.pyenv}/bin/pyenv" ]; then
        root=$("${PYENV_ROOT:-$HOME/.pyenv}/bin/pyenv" root)
    else
        echo "install-localstack: pyenv was not found (not on PATH, nor in \${PYENV_ROOT:-~/.pyenv})." >&2
        echo "  LocalStack runs without Docker only on Python 3.13: install pyenv and" \
            "'pyenv install 3.13', or set LOCALSTACK_PYTHON to a Python 3.13 interpreter." >&2
        exit 1
    fi
    local found=""
    # The newest 3.13.x that pyenv has (version sort, so 3.13.10 beats 3.13.9).
    found=$(find "$root/versions" -maxdepth 1 -name '3.13.*' -type d 2>/dev/null |
        sort -V | tail -n1)
    if [ -z "$found" ] || [ ! -x "$found/bin/python3.13" ]; then
        echo "install-localstack: pyenv ($root) has no Python 3.13 (looked for $root/versions/3.13.*)." >&2
        echo "  LocalStack runs without Docker only on Python 3.13: run 'pyenv install 3.13'," \
            "or set LOCALSTACK_PYTHON to a Python 3.13 interpreter." >&2
        exit 1
    fi
    echo "$found/bin/python3.13"
}

if [ -x "$VENV/bin/python" ] && ! is_313 "$VENV/bin/python"; then
    say "$VENV is not a Python 3.13 venv; rebuilding it"
    rm -rf "$VENV"
fi

if [ ! -x "$VENV/bin/python" ]; then
    PYTHON=$(find_python)
    if ! is_313 "$PYTHON"; then
        echo "install-localstack: $PYTHON is not Python 3.13 (it says: $("$PYTHON" --version 2>&1))" >&2
        exit 1
    fi
    say "creating $VENV with $("$PYTHON" --version 2>&1) ($PYTHON)"
    mkdir -p "$(dirname "$VENV")"
    "$PYTHON" -m venv "$VENV"
fi
# Nothing under .localstack/ belongs in git (the venv alone is ~500 MB).
[ -f .localstack/.gitignore ] || printf '# Made by scripts/install-localstack.sh\n*\n' >.localstack/.gitignore

# LocalStack ---------------------------------------------------------------------------------
pip=("$VENV/bin/python" -m pip --disable-pip-version-check)
if [ "$refresh" = 1 ]; then
    say "installing ${REQUIREMENTS[*]} (no constraints file) into $VENV"
    "${pip[@]}" install --quiet "${REQUIREMENTS[@]}"
    {
        echo "# pip freeze of .localstack/venv (scripts/install-localstack.sh --refresh-constraints)."
        echo "# Installed directly: ${REQUIREMENTS[*]}; Python $("$VENV/bin/python" -c \
            'import sys; print(".".join(map(str, sys.version_info[:3])))')."
        "${pip[@]}" freeze --exclude pip --exclude setuptools --exclude wheel
    } >"$CONSTRAINTS"
    say "wrote $CONSTRAINTS ($(grep -vc '^#' "$CONSTRAINTS") packages)"
    want=$(cat "$SCRIPT" "$CONSTRAINTS" | sha256sum | cut -d' ' -f1)
else
    say "installing ${REQUIREMENTS[*]} into $VENV with -c $CONSTRAINTS"
    "${pip[@]}" install --quiet -c "$CONSTRAINTS" "${REQUIREMENTS[@]}"
fi

# A usable install: the runtime and the providers the drills use import, at the pinned version.
got=$("$VENV/bin/python" -c '
import hypercorn, localstack.runtime.main, localstack.services.s3.provider
import localstack.services.cloudwatch.provider_v2
from localstack import constants
print(constants.VERSION)' 2>&1 | tail -n1 || true)
if [ "$got" != "$LOCALSTACK_VERSION" ]; then
    echo "install-localstack: the LocalStack runtime in $VENV does not import or is not" \
        "$LOCALSTACK_VERSION: $got" >&2
    exit 1
fi
echo "$want" >"$STAMP"
say "LocalStack $got ready in $VENV ($((SECONDS - started)) s)"
