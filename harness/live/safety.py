"""Guards that keep a live drill on this machine and away from real AWS accounts.

- Every endpoint must be loopback (`127.0.0.0/8`, `::1`, `localhost`): `check_endpoint`.
- Real AWS credentials must not appear to be in use (an access key other than the dummy
  `testing`, a session token, a profile, web-identity or container credentials): the live stack
  refuses to start unless the caller passes an explicit opt-in (`allow_real_credentials`).
  Even then, every client the harness makes uses the dummy credentials and a loopback
  endpoint, and ignores HTTP proxies from the environment.
- Child processes get `emulator_environment()`: dummy credentials, no profile, no shared
  config or credential files, no instance metadata lookups, loopback excluded from proxies.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterable, Mapping
from urllib.parse import urlsplit

DUMMY_ACCESS_KEY_ID = "testing"
DUMMY_SECRET_ACCESS_KEY = "testing"
DUMMY_CREDENTIALS: Mapping[str, str] = {
    "aws_access_key_id": DUMMY_ACCESS_KEY_ID,
    "aws_secret_access_key": DUMMY_SECRET_ACCESS_KEY,
}
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})

# Variables through which the AWS SDKs find credentials.
CREDENTIAL_VARIABLES: tuple[str, ...] = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
    "AWS_ROLE_SESSION_NAME",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
)
_DUMMY_VALUES = frozenset({"", "testing", "test", "dummy", "fake", "foobar"})


class UnsafeEnvironment(RuntimeError):
    """The live stack refuses to run: traffic could leave loopback or reach a real account."""


def is_loopback_host(host: str) -> bool:
    host = host.strip().strip("[]").lower().rstrip(".")
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_endpoint(url: str) -> str:
    """Return `url` if its host is loopback; raise UnsafeEnvironment otherwise."""
    try:
        host = urlsplit(url).hostname
    except ValueError as err:
        raise UnsafeEnvironment(f"endpoint {url!r} is not a valid URL: {err}") from None
    if not host or not is_loopback_host(host):
        raise UnsafeEnvironment(
            f"endpoint {url!r} is not on loopback (127.0.0.1, ::1, localhost); "
            "live drills only talk to emulators on this machine"
        )
    return url


def check_endpoints(urls: Iterable[str]) -> None:
    for url in urls:
        check_endpoint(url)


def real_credential_signs(environ: Mapping[str, str]) -> list[str]:
    """Why the environment looks like it holds real AWS credentials (empty: it does not)."""
    signs: list[str] = []
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        value = environ.get(name)
        if value is not None and value.strip().lower() not in _DUMMY_VALUES:
            signs.append(f"{name} is set to something other than the dummy 'testing'")
    if environ.get("AWS_SECURITY_TOKEN", "").strip().lower() not in _DUMMY_VALUES:
        signs.append("AWS_SECURITY_TOKEN is set")
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
        if environ.get(name, "").strip():
            signs.append(f"{name} is set ({environ[name]!r})")
    for name in (
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_ROLE_ARN",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    ):
        if environ.get(name, "").strip():
            signs.append(f"{name} is set")
    return signs


def endpoint_override_problems(environ: Mapping[str, str]) -> list[str]:
    """AWS_ENDPOINT_URL[_<SERVICE>] variables that point off loopback."""
    problems: list[str] = []
    for name, value in sorted(environ.items()):
        if name == "AWS_ENDPOINT_URL" or name.startswith("AWS_ENDPOINT_URL_"):
            host = urlsplit(value).hostname if value else None
            if value and (not host or not is_loopback_host(host)):
                problems.append(f"{name}={value!r} is not a loopback endpoint")
    return problems


def check_credentials(
    environ: Mapping[str, str] | None = None, *, allow_real_credentials: bool = False
) -> None:
    """Raise UnsafeEnvironment if real AWS credentials appear to be in use, unless opted in."""
    env = os.environ if environ is None else environ
    signs = real_credential_signs(env)
    if signs and not allow_real_credentials:
        raise UnsafeEnvironment(
            "refusing to run a live drill: real AWS credentials appear to be in use ("
            + "; ".join(signs)
            + "). Unset them, or pass allow_real_credentials=True "
            "(--allow-real-credentials) if you are sure; the drill still uses only dummy "
            "credentials and loopback endpoints."
        )


def check_environment(
    endpoints: Iterable[str] = (),
    environ: Mapping[str, str] | None = None,
    *,
    allow_real_credentials: bool = False,
) -> None:
    """Every check at once: loopback endpoints, no endpoint overrides off loopback, no real
    credentials (unless opted in)."""
    env = os.environ if environ is None else environ
    check_endpoints(endpoints)
    problems = endpoint_override_problems(env)
    if problems:
        raise UnsafeEnvironment("refusing to run a live drill: " + "; ".join(problems))
    check_credentials(env, allow_real_credentials=allow_real_credentials)


def emulator_environment(
    base: Mapping[str, str] | None = None, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """An environment for child processes that can only reach the emulators: dummy
    credentials, no profiles or credential files, no metadata service, no proxy for loopback."""
    env = dict(os.environ if base is None else base)
    for name in CREDENTIAL_VARIABLES:
        env.pop(name, None)
    for name in list(env):
        if name == "AWS_ENDPOINT_URL" or name.startswith("AWS_ENDPOINT_URL_"):
            del env[name]
    env.update(
        {
            "AWS_ACCESS_KEY_ID": DUMMY_ACCESS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": DUMMY_SECRET_ACCESS_KEY,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
        }
    )
    no_proxy = {"127.0.0.1", "localhost", "::1"}
    for name in ("NO_PROXY", "no_proxy"):
        no_proxy.update(part.strip() for part in env.get(name, "").split(",") if part.strip())
    joined = ",".join(sorted(no_proxy))
    env["NO_PROXY"] = joined
    env["no_proxy"] = joined
    if extra:
        for name, value in extra.items():
            if name.startswith("AWS_ENDPOINT_URL"):
                check_endpoint(value)
            env[name] = value
    return env
