"""Nothing of ours survives a stack: normal exit, exception, Ctrl-C, SIGTERM, SIGKILL."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from harness.live import clock
from harness.live.endpoints import LiveAws
from harness.live.processes import ProcessRegistry, port_accepts, port_is_free, wait_until

pytestmark = pytest.mark.live

REGIONS = ["us-east-1", "us-west-2"]
REPO = Path(__file__).resolve().parents[2]

# A child that runs a stack, prints its pids and ports, and waits (bounded) to be signalled.
STACK_SCRIPT = """
import json, sys
from pathlib import Path
from harness.live import clock
from harness.live.endpoints import LiveAws

with LiveAws(["us-east-1", "us-west-2"], work_dir=Path(sys.argv[1])) as aws:
    proxies = [*aws.proxies.values(), *aws.paths.values()]
    ports = [aws.moto.port, *(p.port for p in proxies), aws.control.port]
    pids = [p.pid for p in aws.registry.processes]
    print(json.dumps({"pids": pids, "ports": ports}), flush=True)
    deadline = clock.Deadline.after(60)
    while not deadline.expired():
        clock.sleep(0.05)
"""


def process_exists(pid: int) -> bool:
    """True while `pid` runs (a zombie counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state != "Z"


def moto_servers_on(ports: list[int]) -> list[int]:
    """Pids of any moto server still running with one of these ports on its command line."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"moto.server" in argv and any(str(p).encode() in argv for p in ports):
            found.append(int(entry.name))
    return found


def assert_all_gone(pids: list[int], ports: list[int], within_s: float = 10.0) -> None:
    wait_until(
        lambda: not any(process_exists(pid) for pid in pids),
        within_s,
        what="every child process gone",
    )
    assert moto_servers_on(ports) == []
    for port in ports:
        assert not port_accepts(port, timeout_s=0.2), f"port {port} still accepts"
        assert port_is_free(port), f"port {port} still bound"


def stack_ids(aws: LiveAws) -> tuple[list[int], list[int]]:
    assert aws.moto is not None and aws.control is not None
    proxies = [*aws.proxies.values(), *aws.paths.values()]  # every Region's and every path's
    ports = [aws.moto.port or 0, *(p.port for p in proxies), aws.control.port]
    return [p.pid for p in aws.registry.processes], ports


def test_normal_exit_leaves_nothing() -> None:
    start = clock.monotonic()
    with LiveAws(REGIONS) as aws:
        started = clock.monotonic() - start
        pids, ports = stack_ids(aws)
        assert all(process_exists(pid) for pid in pids)
        assert all(port_accepts(port) for port in ports)
        aws.client("s3", "us-east-1").list_buckets()
        stop_from = clock.monotonic()
    stopped = clock.monotonic() - stop_from
    assert_all_gone(pids, ports)
    assert started < 10.0
    assert stopped < 10.0


def test_exception_inside_the_block_leaves_nothing() -> None:
    pids: list[int] = []
    ports: list[int] = []
    with pytest.raises(RuntimeError, match="boom"), LiveAws(REGIONS) as aws:
        pids, ports = stack_ids(aws)
        aws.faults.unreachable("us-east-1", "blackhole")
        raise RuntimeError("boom")
    assert pids
    assert_all_gone(pids, ports)


def start_stack_child(work_dir: Path) -> tuple[subprocess.Popen[str], dict[str, list[int]]]:
    """A child process running a stack in `work_dir` (pytest's tmp_path: a child killed
    by SIGKILL cannot remove its own temp dir)."""
    child = subprocess.Popen(
        [sys.executable, "-c", STACK_SCRIPT, str(work_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert child.stdout is not None
    ready, _, _ = select.select([child.stdout], [], [], 30.0)
    if not ready:
        child.kill()
        pytest.fail("the stack child did not report its pids in 30 s")
    line = child.stdout.readline()
    if not line:
        child.wait(timeout=5)
        pytest.fail(f"the stack child died: {child.stderr.read() if child.stderr else ''}")
    info: dict[str, list[int]] = json.loads(line)
    return child, info


@pytest.mark.parametrize(
    ("sig", "expected_returncode"),
    [(signal.SIGINT, -signal.SIGINT), (signal.SIGTERM, 128 + signal.SIGTERM)],
)
def test_signal_to_a_child_running_a_stack(
    sig: int, expected_returncode: int, tmp_path: Path
) -> None:
    child, info = start_stack_child(tmp_path)
    try:
        assert all(process_exists(pid) for pid in info["pids"])
        start = clock.monotonic()
        child.send_signal(sig)
        returncode = child.wait(timeout=15)
        elapsed = clock.monotonic() - start
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=5)
    # SIGINT: the KeyboardInterrupt re-raised after cleanup kills the interpreter by SIGINT.
    assert returncode == expected_returncode
    assert elapsed < 10.0
    assert_all_gone(info["pids"], info["ports"])


def test_sigkill_of_the_parent_takes_the_emulator_down(tmp_path: Path) -> None:
    child, info = start_stack_child(tmp_path)
    child.kill()
    child.wait(timeout=5)
    assert_all_gone(info["pids"], info["ports"], within_s=5.0)


# The registry on its own -----------------------------------------------------------------------


def test_registry_stops_the_whole_group() -> None:
    with ProcessRegistry() as registry:
        leader = registry.start(["sh", "-c", "sleep 60 & sleep 60 & wait"], name="tree")
        wait_until(lambda: len(group_members(leader.pgid)) >= 3, 5.0, what="tree started")
        members = group_members(leader.pgid)
    assert not any(process_exists(pid) for pid in members)


def test_registry_kills_what_ignores_sigterm() -> None:
    script = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"
    registry = ProcessRegistry(term_timeout_s=0.5, kill_timeout_s=2.0)
    with registry:
        stubborn = registry.start([sys.executable, "-c", script])
        clock.sleep(0.3)  # let it install its handler
        start = clock.monotonic()
    assert clock.monotonic() - start < 4.0
    assert stubborn.returncode == -signal.SIGKILL


def test_registry_stops_a_frozen_process() -> None:
    with ProcessRegistry(term_timeout_s=2.0) as registry:
        frozen = registry.start(["sleep", "60"])
        frozen.send_signal(signal.SIGSTOP)
    assert frozen.returncode == -signal.SIGTERM


def test_registry_logs_and_refuses_after_close(tmp_path: Path) -> None:
    registry = ProcessRegistry()
    with registry:
        echo = registry.start(["sh", "-c", "echo hello"], log_path=tmp_path / "echo.log")
        echo.popen.wait(timeout=5)
    assert (tmp_path / "echo.log").read_text() == "hello\n"
    with pytest.raises(RuntimeError):
        registry.start(["true"])


def group_members(pgid: int) -> list[int]:
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid:
                members.append(int(entry.name))
    return members
