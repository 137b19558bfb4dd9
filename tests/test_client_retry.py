"""The client's retry policy: which errors are tried again, how long it waits, and that the deadline bounds it."""

import time

import pytest

from kotox_client import BadInputError, RetryPolicy, ServerBusyError
from kotox_client.request import ANSWER_GRACE_S, Attempts


def test_waits_grow_with_full_jitter_and_stop_at_the_cap():
    policy = RetryPolicy(attempts=8, base_s=0.1, cap_s=0.5)
    samples = [list(policy.delays()) for _ in range(300)]
    assert all(len(s) == 7 for s in samples)
    for attempt in range(7):
        ceiling = min(0.5, 0.1 * 2 ** attempt)
        waits = [s[attempt] for s in samples]
        assert all(0 <= w <= ceiling for w in waits) and max(waits) > 0.8 * ceiling  # spread over [0, ceiling]


def test_only_retryable_errors_are_tried_again():
    attempts = Attempts(RetryPolicy(attempts=3), timeout=None)
    with pytest.raises(BadInputError):
        attempts.wait_after(BadInputError("bad"))
    busy = ServerBusyError("busy")
    assert attempts.wait_after(busy) >= 0 and attempts.wait_after(busy) >= 0
    with pytest.raises(ServerBusyError):  # tries spent
        attempts.wait_after(busy)


def test_the_grpc_deadline_outlasts_the_servers_so_the_server_refuses_first():
    """Triton 2.51 can crash when a client cancels a request in flight (request.ANSWER_GRACE_S)."""
    attempts = Attempts(RetryPolicy(), timeout=2.0)
    inference, plain = attempts.deadlines(server_deadline=True), attempts.deadlines(server_deadline=False)
    assert abs(inference["client_timeout"] - inference["timeout"] / 1e6 - ANSWER_GRACE_S) < 2e-6  # one clock reading
    assert set(plain) == {"client_timeout"} and plain["client_timeout"] <= 2.0
    assert Attempts(RetryPolicy(), timeout=None).deadlines(True) == {"client_timeout": None, "timeout": None}


def test_the_deadline_bounds_the_retries():
    attempts = Attempts(RetryPolicy(attempts=100, base_s=1.0, cap_s=1.0), timeout=0.05)
    assert 0 < attempts.remaining() <= 0.05 and 0 < attempts.deadlines(True)["timeout"] <= 50_000
    time.sleep(0.06)
    with pytest.raises(ServerBusyError):
        for _ in range(100):
            attempts.wait_after(ServerBusyError("busy"))
