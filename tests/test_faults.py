"""Integration: a killed Python stub is healed under load; a flood is refused fast and leaves no backlog; both
through the Triton ensemble and through the BLS entry GPU builds serve."""

import os
import re
import signal
import statistics
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest

from conftest import free_server_ports
from kotox_build.pipeline import build
from kotox_build.repository import ENTRIES, REFUSALS_METRIC
from kotox_build.spec import Spec
from kotox_client import KotoxError, RetryPolicy, ServerBusyError, ToxicityClient
from kotox_server.stubs import live_stubs
from kotox_server.supervisor import Supervisor, probe
from kotox_server.triton import TritonServer

pytestmark = pytest.mark.integration
COMMENTS = ["안녕하세요 반갑습니다", "이 영화 정말 최악이다", "ㅋㅋㅋ 웃기네", "좋은 하루 보내세요"]
LONG = "이 댓글은 꽤 길어서 토큰이 많이 나옵니다 " * 20
NO_RETRY = RetryPolicy(attempts=1)


def wait_for(condition, seconds: float) -> float:
    """Seconds until `condition()` held; fails after `seconds`."""
    start = time.monotonic()
    while not condition():
        assert time.monotonic() - start < seconds, f"not within {seconds} s"
        time.sleep(0.1)
    return time.monotonic() - start


@pytest.fixture(params=ENTRIES)
def supervised(request, tiny_repository, tiny_spec, tmp_path):
    repository = tiny_repository if request.param == "ensemble" else build(tiny_spec, tmp_path / "bls", entry="bls")
    ports = free_server_ports()
    supervisor = Supervisor(TritonServer(repository, ports)).start()
    supervisor.serve_health(ports.host, ports.health)
    yield supervisor
    supervisor.stop()


def test_killed_stub_is_healed_under_load_and_no_answer_is_wrong(supervised, tiny_spec):
    ports = supervised.server.ports
    member = tiny_spec.members[0].name
    with ToxicityClient(ports.grpc_url, timeout=10, retry=NO_RETRY) as client:
        expected = [r.toxic_prob for r in client.classify(COMMENTS)]
        answers, stop = [], threading.Event()

        def load() -> None:
            while not stop.is_set():
                try:
                    answers.append([r.toxic_prob for r in client.classify(COMMENTS)])
                except KotoxError as err:
                    answers.append(err)

        threads = [threading.Thread(target=load) for _ in range(2)]
        for t in threads:
            t.start()
        assert probe(ports, "/health/ready") == 200
        os.kill(live_stubs(supervised.server.pid)[f"{member}_0_0"], signal.SIGKILL)
        try:
            unready = wait_for(lambda: probe(ports, "/health/ready") == 503, 5)
            healed = wait_for(lambda: probe(ports, "/health/ready") == 200, 30)
            time.sleep(1)
        finally:
            stop.set()
            for t in threads:
                t.join()
        assert [r.toxic_prob for r in client.classify(COMMENTS)] == pytest.approx(expected, abs=1e-6)
    assert unready + healed < 30 and probe(ports, "/health/live") == 200
    results = [a for a in answers if not isinstance(a, Exception)]
    assert results and all(r == pytest.approx(expected, abs=1e-6) for r in results), "a wrong answer was served"
    metrics = urllib.request.urlopen(f"http://{ports.host}:{ports.health}/metrics", timeout=5).read().decode()
    assert f'kotox_stub_restarts_total{{model="{member}"}} 1' in metrics and "kotox_ready 1" in metrics


def flood(spec: Spec, tmp_path, timeout: float, entry: str = "ensemble") -> tuple[list[tuple[float, object]], float,
                                                                                   dict[str, float]]:
    """96 requests of 32 long comments from 24 threads, each call with `timeout` seconds and no retry: (seconds, True
    for a right answer or the error) per request, the seconds one request (with the SDK's retries) took right
    after (a member may still be finishing work whose partner refused it, and the entry sheds meanwhile), and the
    refusals the Python models counted on Triton's metrics port, by reason."""
    ports = free_server_ports()
    with TritonServer(build(spec, tmp_path / "repo", entry=entry), ports), \
            ToxicityClient(ports.grpc_url, timeout=30) as client, \
            ToxicityClient(ports.grpc_url, timeout=timeout, retry=NO_RETRY) as flooder:
        expected = client.classify(LONG).toxic_prob

        def send(_) -> tuple[float, object]:
            start = time.monotonic()
            try:
                results = flooder.classify([LONG] * 32)
                return time.monotonic() - start, all(r.toxic_prob == pytest.approx(expected, abs=1e-6)
                                                     for r in results)
            except KotoxError as err:
                return time.monotonic() - start, err

        with ThreadPoolExecutor(24) as pool:
            outcomes = list(pool.map(send, range(96)))
        after = time.monotonic()
        assert client.classify(LONG).toxic_prob == pytest.approx(expected, abs=1e-6)
        took = time.monotonic() - after
        metrics = urllib.request.urlopen(f"http://{ports.host}:{ports.metrics}/metrics", timeout=5).read().decode()
        refused = {}
        for reason, count in re.findall(rf'{REFUSALS_METRIC}{{model="\w+",reason="(\w+)"}} ([\d.]+)', metrics):
            refused[reason] = refused.get(reason, 0) + float(count)
        return outcomes, took, refused


def test_flood_is_refused_fast_and_leaves_no_backlog(tiny_spec, tmp_path):
    outcomes, after, refused = flood(replace(tiny_spec, queue_timeout_ms=Spec.queue_timeout_ms), tmp_path, timeout=30)
    busy = [s for s, o in outcomes if isinstance(o, ServerBusyError)]
    answered = [s for s, o in outcomes if o is True]
    assert all(o is True or isinstance(o, ServerBusyError) for _, o in outcomes), outcomes
    assert busy and answered
    assert max(busy) < 5 and max(answered) < 10  # bounds, not benchmarks: `loadtest/faults.py overload` measures
    # a refusal at a member's deadline takes the whole budget; most come at once from the shedding tokenizer
    assert statistics.median(busy) < Spec.queue_timeout_ms / 1000 / 2
    assert after < 2, "the server was still working through abandoned requests"
    # Triton counts a Python model's refusals as successes: the models count them (a request both members refuse
    # counts twice), so the shedding alert sees the overload (server/monitoring/rules.yaml)
    assert refused["overload"] >= len(busy) and refused["bad_input"] == 0


def test_flood_of_a_bls_entry_is_refused_at_its_queue_bound_and_leaves_no_backlog(tiny_spec, tmp_path):
    """The BLS entry waits for the members, so the queue forms before it, where its queue policy refuses at
    `queue_timeout_ms`; a refusal from the members reaches each request of the batch as its own error."""
    outcomes, after, _ = flood(replace(tiny_spec, queue_timeout_ms=Spec.queue_timeout_ms), tmp_path, 30, "bls")
    assert all(o is True or isinstance(o, ServerBusyError) for _, o in outcomes), outcomes
    assert any(isinstance(o, ServerBusyError) for _, o in outcomes) and any(o is True for _, o in outcomes)
    assert max(s for s, o in outcomes if isinstance(o, ServerBusyError)) < 5
    assert after < 2, "the server was still working through abandoned requests"


def test_callers_deadline_bounds_the_servers_work(tiny_spec, tmp_path):
    """With a 60 s server budget, only the callers' 0.3 s timeouts (sent with each request) spare the abandoned work."""
    outcomes, after, _ = flood(replace(tiny_spec, queue_timeout_ms=60_000), tmp_path, timeout=0.3)
    assert all(o is True or isinstance(o, KotoxError) and o.retryable for _, o in outcomes), outcomes
    assert sum(o is not True for _, o in outcomes) > 48, "the flood was not over capacity"
    assert after < 2, "the server computed requests their callers had given up on"


def test_crashed_server_is_restarted_and_leaves_no_stub_behind(supervised):
    ports, old = supervised.server.ports, supervised.server.pid
    old_stubs = list(live_stubs(old).values())
    assert old_stubs
    os.kill(old, signal.SIGKILL)  # as the OOM killer would: the stubs are orphaned, not told
    wait_for(lambda: probe(ports, "/health/ready") == 503, 10)
    wait_for(lambda: probe(ports, "/health/ready") == 200, 60)
    assert supervised.server.pid != old and supervised.server_restarts == 1
    assert not [pid for pid in old_stubs if os.path.exists(f"/proc/{pid}")], "the dead server's stubs live on"
    with ToxicityClient(ports.grpc_url, timeout=10) as client:
        assert client.classify(COMMENTS[0]).label in client.deployment.labels
