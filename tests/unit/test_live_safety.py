"""Safety: loopback-only endpoints and no real AWS credentials."""

from __future__ import annotations

import os

import pytest

from harness.live.safety import (
    UnsafeEnvironment,
    check_credentials,
    check_endpoint,
    check_environment,
    emulator_environment,
    is_loopback_host,
    real_credential_signs,
)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:4566",
        "http://127.1.2.3:80/path",
        "http://localhost:5000",
        "http://LOCALHOST.:5000",
        "http://[::1]:8080",
        "https://127.0.0.1",
    ],
)
def test_loopback_endpoints_pass(url: str) -> None:
    assert check_endpoint(url) == url


@pytest.mark.parametrize(
    "url",
    [
        "https://monitoring.us-east-1.amazonaws.com",
        "http://10.0.0.5:4566",
        "http://192.168.1.1",
        "http://0.0.0.0:4566",
        "http://[::]:4566",
        "http://localhost.example.com",
        "http://127.0.0.1.nip.io",
        "not a url",
        "",
    ],
)
def test_other_endpoints_are_refused(url: str) -> None:
    with pytest.raises(UnsafeEnvironment):
        check_endpoint(url)


def test_is_loopback_host() -> None:
    assert is_loopback_host("127.0.0.1")
    assert is_loopback_host("[::1]")
    assert not is_loopback_host("169.254.169.254")


def test_dummy_credentials_are_fine() -> None:
    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    assert real_credential_signs(env) == []
    check_credentials(env)
    check_credentials({})


@pytest.mark.parametrize(
    ("env", "sign"),
    [
        ({"AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE"}, "AWS_ACCESS_KEY_ID"),
        ({"AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG"}, "AWS_SECRET_ACCESS_KEY"),
        ({"AWS_SESSION_TOKEN": "FwoGZXIvYXdzE"}, "AWS_SESSION_TOKEN"),
        ({"AWS_PROFILE": "prod"}, "AWS_PROFILE"),
        ({"AWS_DEFAULT_PROFILE": "default"}, "AWS_DEFAULT_PROFILE"),
        ({"AWS_WEB_IDENTITY_TOKEN_FILE": "/var/run/token"}, "AWS_WEB_IDENTITY_TOKEN_FILE"),
        ({"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/v2/creds"}, "CONTAINER"),
    ],
)
def test_real_credentials_are_refused_unless_opted_in(env: dict[str, str], sign: str) -> None:
    with pytest.raises(UnsafeEnvironment, match=sign):
        check_credentials(env)
    check_credentials(env, allow_real_credentials=True)


def test_endpoint_overrides_off_loopback_are_refused_even_when_opted_in() -> None:
    env = {"AWS_ENDPOINT_URL_S3": "https://s3.amazonaws.com"}
    with pytest.raises(UnsafeEnvironment, match="AWS_ENDPOINT_URL_S3"):
        check_environment([], env, allow_real_credentials=True)
    check_environment(["http://127.0.0.1:1"], {"AWS_ENDPOINT_URL": "http://127.0.0.1:9"})


def test_check_environment_checks_endpoints() -> None:
    with pytest.raises(UnsafeEnvironment):
        check_environment(["http://example.com"], {})


def test_emulator_environment_strips_real_credentials() -> None:
    base = {
        "PATH": "/usr/bin",
        "AWS_ACCESS_KEY_ID": "AKIAREAL",
        "AWS_SECRET_ACCESS_KEY": "real",
        "AWS_SESSION_TOKEN": "tok",
        "AWS_PROFILE": "prod",
        "AWS_ENDPOINT_URL": "https://example.com",
        "NO_PROXY": "internal.example",
    }
    env = emulator_environment(base)
    assert env["PATH"] == "/usr/bin"
    assert env["AWS_ACCESS_KEY_ID"] == "testing"
    assert env["AWS_SECRET_ACCESS_KEY"] == "testing"
    for gone in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL"):
        assert gone not in env
    assert env["AWS_SHARED_CREDENTIALS_FILE"] == os.devnull
    assert env["AWS_CONFIG_FILE"] == os.devnull
    assert env["AWS_EC2_METADATA_DISABLED"] == "true"
    assert set(env["NO_PROXY"].split(",")) >= {"127.0.0.1", "localhost", "internal.example"}
    assert real_credential_signs(env) == []


def test_emulator_environment_extra_endpoints_must_be_loopback() -> None:
    env = emulator_environment({}, {"AWS_ENDPOINT_URL": "http://127.0.0.1:5000"})
    assert env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:5000"
    with pytest.raises(UnsafeEnvironment):
        emulator_environment({}, {"AWS_ENDPOINT_URL": "https://amazonaws.com"})
