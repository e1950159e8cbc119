"""The Mwaa port, one set of assertions for the simulated and the live MWAA API.

What the failover and the health check rely on: GetEnvironment of an absent environment is
None; CreateEnvironment answers at once, the environment is CREATING, then AVAILABLE; the
answer of GetEnvironment is plain JSON (it is saved in S3 as the configuration a failover
creates the secondary from); a name that exists cannot be created again and an environment
that is CREATING cannot be deleted (ValidationException); an unreachable Region fails every
call with the same transport code; a deleted environment is gone after a while.

One world per module (see tests/contract/mwaa_worlds.py): the tests share the environment
`ENV` of the primary Region and run in this file's order; the last one deletes it.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from reference_impl.failover import create_request as saved_create_request
from reference_impl.ports import TIMED_OUT, UNREACHABLE, PortError
from tests.contract.conftest import P, S
from tests.contract.mwaa_worlds import WORLD_PARAMS, MwaaWorld, create_request, mwaa_world

ENV = "contract-env"
ABSENT = "never-created"


@pytest.fixture(scope="module", params=WORLD_PARAMS)
def world(request: pytest.FixtureRequest) -> Iterator[MwaaWorld]:
    with mwaa_world(request.param) as made:
        yield made


def code_of(call: object) -> str:
    assert callable(call)
    with pytest.raises(PortError) as raised:
        call()
    return raised.value.code


def status_of(world: MwaaWorld, caller: str, region: str, name: str = ENV) -> str | None:
    env = world.mwaa(caller).get_environment(region, name)
    return None if env is None else str(env["Status"])


@dataclasses.dataclass
class Creation:
    """What was seen of one CreateEnvironment, from the call to the end of CREATING."""

    first: Mapping[str, Any]  # GetEnvironment right after the call
    create_again: str  # the error code of a second CreateEnvironment while CREATING
    delete_while_creating: str  # the error code of DeleteEnvironment while CREATING
    statuses: list[str]  # every status polled, in order, until it left CREATING
    took_s: float


def create_and_wait(
    world: MwaaWorld, caller: str, region: str, config: Mapping[str, Any]
) -> Creation:
    mwaa = world.mwaa(caller)
    started = world.now()
    mwaa.create_environment(region, ENV, config)
    first = mwaa.get_environment(region, ENV)
    assert first is not None
    again = code_of(lambda: mwaa.create_environment(region, ENV, config))
    delete = code_of(lambda: mwaa.delete_environment(region, ENV))
    statuses: list[str] = []

    def created() -> str | None:
        status = status_of(world, caller, region)
        assert status is not None
        statuses.append(status)
        return None if status == "CREATING" else status

    world.eventually(created, f"{ENV} in {region} out of CREATING", "create")
    return Creation(first, again, delete, statuses, world.now() - started)


@pytest.fixture(scope="module")
def primary(world: MwaaWorld) -> Creation:
    """The primary's environment, created (by its infrastructure code, running in P) once."""
    return create_and_wait(world, P, P, create_request(P))


def test_an_absent_environment_is_none(world: MwaaWorld) -> None:
    for caller in (P, S):  # inside the Region and across Regions
        for region in (P, S):
            assert world.mwaa(caller).get_environment(region, ABSENT) is None
    mwaa = world.mwaa(S)
    assert code_of(lambda: mwaa.delete_environment(P, ABSENT)) == "ResourceNotFoundException"


def test_create_goes_creating_then_available(world: MwaaWorld, primary: Creation) -> None:
    assert primary.first["Name"] == ENV
    assert primary.first["Status"] == "CREATING"
    *before, final = primary.statuses
    assert final == "AVAILABLE", primary.statuses
    assert set(before) <= {"CREATING"}
    print(f"{world.name}: AVAILABLE {primary.took_s:.1f} s after CreateEnvironment")
    # The health check reads it across Regions: the same answer.
    assert status_of(world, S, P) == "AVAILABLE"
    assert status_of(world, P, P) == "AVAILABLE"
    # An environment is of its Region only.
    assert world.mwaa(P).get_environment(S, ENV) is None


def test_an_existing_environment_cannot_be_created_again(
    world: MwaaWorld, primary: Creation
) -> None:
    # While CREATING (a second creation, a deletion) and once AVAILABLE.
    assert primary.create_again == "ValidationException"
    assert primary.delete_while_creating == "ValidationException"
    mwaa = world.mwaa(S)
    assert code_of(lambda: mwaa.create_environment(P, ENV, create_request(P))) == (
        "ValidationException"
    )
    assert status_of(world, S, P) == "AVAILABLE"  # untouched


def test_the_answer_is_plain_json(world: MwaaWorld, primary: Creation) -> None:
    """A live drill found boto3's datetimes (CreatedAt, LastUpdate.CreatedAt) in the answer:
    the health check's saved configuration could not be written (json.dumps failed)."""
    env = world.mwaa(S).get_environment(P, ENV)
    assert env is not None
    text = json.dumps({"saved_at": 1.0, "environment": dict(env)}, sort_keys=True)
    assert json.loads(text)["environment"] == env
    # It carries what CreateEnvironment was given.
    request = create_request(P)
    for field in (
        "ExecutionRoleArn",
        "SourceBucketArn",
        "DagS3Path",
        "NetworkConfiguration",
        "EnvironmentClass",
        "AirflowConfigurationOptions",
    ):
        assert env[field] == request[field], field
    assert env["Name"] == ENV and env["Status"] == "AVAILABLE"


def test_the_saved_configuration_creates_the_environment_in_the_other_region(
    world: MwaaWorld, primary: Creation
) -> None:
    """What a backup-and-restore failover does: the primary's GetEnvironment, saved as JSON,
    made a CreateEnvironment request (reference_impl.failover.create_request) and created in
    the secondary (live: with the secondary's own parameters on top, as the drill's binding
    makes LiveMwaa). A live drill found the live answer's read-only fields (ServiceRoleArn)
    refused by CreateEnvironment; the sim's answer is its configuration plus Name and Status."""
    env = world.mwaa(S).get_environment(P, ENV)
    assert env is not None
    saved = json.loads(json.dumps({"environment": dict(env)}))["environment"]
    creation = create_and_wait(world, S, S, saved_create_request(saved))
    assert creation.first["Status"] == "CREATING"
    assert creation.statuses[-1] == "AVAILABLE", creation.statuses
    print(f"{world.name}: secondary AVAILABLE {creation.took_s:.1f} s after CreateEnvironment")


@pytest.mark.parametrize(("mode", "code"), [("refuse", UNREACHABLE), ("hang", TIMED_OUT)])
def test_an_unreachable_region_fails_calls_with_the_same_code(
    world: MwaaWorld, primary: Creation, mode: str, code: str
) -> None:
    outage = world.fault_on("region_unreachable", P, mode=mode)
    try:
        mwaa = world.mwaa(S, quick=True)
        assert code_of(lambda: mwaa.get_environment(P, ENV)) == code
        assert code_of(lambda: mwaa.get_environment(P, ABSENT)) == code
        assert code_of(lambda: mwaa.create_environment(P, ABSENT, create_request(P))) == code
        assert code_of(lambda: mwaa.delete_environment(P, ENV)) == code
        # The caller's own Region answers.
        assert mwaa.get_environment(S, ABSENT) is None
    finally:
        world.fault_off(outage)
    # Nothing of it went through.
    assert status_of(world, S, P) == "AVAILABLE"
    assert status_of(world, S, P, ABSENT) is None


def test_delete_makes_it_absent(world: MwaaWorld, primary: Creation) -> None:
    mwaa = world.mwaa(S)
    mwaa.delete_environment(P, ENV)
    assert status_of(world, S, P) == "DELETING"
    assert code_of(lambda: mwaa.delete_environment(P, ENV)) == "ValidationException"
    world.eventually(lambda: status_of(world, S, P) is None, f"{ENV} in {P} gone", "delete")
    assert code_of(lambda: mwaa.delete_environment(P, ENV)) == "ResourceNotFoundException"
