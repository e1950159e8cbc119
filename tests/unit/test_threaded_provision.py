"""ThreadedProvision: the ProvisionHandle of the Airflow and Docker backends."""

from __future__ import annotations

import threading

from harness.live.mwaa.backend import INTERNAL_FAILURE, ProvisionStatus, ThreadedProvision


def test_the_first_settled_status_stays() -> None:
    handle = ThreadedProvision()
    assert handle.poll().state == "pending"
    handle.settle(ProvisionStatus.ready("http://127.0.0.1:1"))
    handle.settle(ProvisionStatus.failed(INTERNAL_FAILURE, "too late"))
    handle.cancel()
    assert handle.poll() == ProvisionStatus.ready("http://127.0.0.1:1")
    assert handle.cancelled.is_set()  # the thread is still told to stop


def test_cancel_fails_pending_work_and_tells_the_thread() -> None:
    handle = ThreadedProvision()
    seen: list[bool] = []

    def work() -> None:
        seen.append(handle.cancelled.wait(timeout=5.0))
        handle.join(1.0)  # from its own thread: returns at once

    handle.thread = threading.Thread(target=work)
    handle.thread.start()
    handle.cancel()
    handle.join(5.0)
    assert seen == [True] and not handle.thread.is_alive()
    status = handle.poll()
    assert (status.state, status.error_code) == ("failed", INTERNAL_FAILURE)


def test_built_settled_is_an_answer_at_once() -> None:
    refused = ThreadedProvision(ProvisionStatus.failed(INTERNAL_FAILURE, "not supported"))
    assert refused.poll().state == "failed"
    refused.join(0.0)  # no thread: nothing to wait for
