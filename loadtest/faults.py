"""Fault runs against a kotox server started as the README says, each bounded, each written to reports/faults/.

Run: .venv/bin/python loadtest/faults.py {stub-kill,restart,giant,overload,all} [--repository model_repository]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import tritonclient.grpc as grpcclient

from kotox_build.data import PROJECT_ROOT, traffic_comments
from kotox_client import KotoxError, ToxicityClient, contract
from kotox_client.request import RetryPolicy, inputs
from kotox_server.stubs import model_of
from kotox_server.supervisor import probe
from grpc_load import run_threads  # siblings in loadtest/, on sys.path when this file runs as a script
from openloop import open_loop, summary
from served import Launched

OUT = PROJECT_ROOT / "reports" / "faults"
COMMENTS = traffic_comments(16, seed=9)
NO_RETRY = RetryPolicy(attempts=1)


class Load:
    """Closed-loop clients classifying COMMENTS until stopped; every outcome timed and checked against `expected`."""

    def __init__(self, url: str, expected: list[float], threads: int = 4, retry: RetryPolicy = NO_RETRY):
        self.url, self.expected, self.retry = url, expected, retry
        self.events: list[tuple[float, str]] = []  # (seconds since start, "ok" / "wrong" / error class)
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._work) for _ in range(threads)]
        self.t0 = time.monotonic()

    def _work(self) -> None:
        with ToxicityClient(self.url, timeout=10, retry=self.retry) as client:
            while not self._stop.is_set():
                try:
                    probs = [r.toxic_prob for r in client.classify(COMMENTS)]
                    kind = "ok" if np.allclose(probs, self.expected, atol=1e-5) else "wrong"
                except KotoxError as err:
                    kind = type(err).__name__
                    time.sleep(0.05)
                self.events.append((time.monotonic() - self.t0, kind))

    def __enter__(self) -> "Load":
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for t in self._threads:
            t.join()

    def after(self, t: float) -> dict:
        """Counts by outcome after `t`, and when the last failed call ended (correct answers only from then on)."""
        later = [(s, k) for s, k in self.events if s >= t]
        kinds = {k: sum(1 for _, x in later if x == k) for k in sorted({k for _, k in later})}
        last_failure = max((s - t for s, k in later if k != "ok"), default=0.0)
        return {"outcomes": kinds, "last_failure_after_s": round(last_failure, 2)}


def reference(url: str) -> list[float]:
    with ToxicityClient(url, timeout=60) as client:
        return [r.toxic_prob for r in client.classify(COMMENTS)]


def wait_health(launched: Launched, status: int, seconds: float) -> float | None:
    """Seconds until the readiness probe answers `status`; None if it never did within `seconds`."""
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        if probe(launched.ports) == status:
            return round(time.monotonic() - start, 2)
        time.sleep(0.05)
    return None


def stub_kill(repository: Path) -> dict:
    """SIGKILL one member's Python stub under load, healed by reloading the model and by restarting the server."""
    results = {}
    for heal in ("reload", "restart"):
        with Launched(repository, None, "--heal", heal) as launched:
            url = launched.ports.grpc_url
            expected = reference(url)
            with Load(url, expected) as load:
                time.sleep(3)
                instance = next(i for i in launched.stubs() if model_of(i) not in ("tokenizer", "fusion"))
                killed = time.monotonic() - load.t0
                os.kill(launched.stubs()[instance], signal.SIGKILL)
                unready = wait_health(launched, 503, 10)
                ready = wait_health(launched, 200, 60)
                time.sleep(3)
            results[heal] = {"killed": instance, "readiness_false_after_s": unready,
                             "readiness_true_again_after_s": ready, **load.after(killed)}
    return results


def restart(repository: Path) -> dict:
    """Under load from SDK clients (default retries): SIGKILL tritonserver (the launcher starts it again), then stop
    and start the whole launcher as an operator would; clients reconnect by themselves."""
    results = {}
    launched = Launched(repository).start()
    url = launched.ports.grpc_url
    expected = reference(url)
    try:
        with Load(url, expected, retry=RetryPolicy()) as load:
            time.sleep(3)
            crashed = time.monotonic() - load.t0
            os.kill(launched.server_pid(), signal.SIGKILL)
            wait_health(launched, 503, 10)
            ready = wait_health(launched, 200, 120)
            time.sleep(3)
            results["server_crash"] = {"readiness_true_again_after_s": ready, **load.after(crashed)}
            stopped = time.monotonic() - load.t0
            launched.stop()
            launched = Launched(repository, launched.ports).start()
            time.sleep(3)
            results["operator_restart"] = {"restart_took_s": round(time.monotonic() - load.t0 - stopped - 3, 2),
                                           **load.after(stopped)}
    finally:
        launched.stop()
    return results


def giant(repository: Path) -> dict:
    """Two 30 MB comments in flight, then two 1 MB ones, while ordinary comments are timed."""
    results = {}
    with Launched(repository) as launched:
        url = launched.ports.grpc_url
        for name, text in {"30MB": "욕" * 10_000_000, "1MB": "길고 긴 댓글 " * (1_000_000 // 18)}.items():
            raw = grpcclient.InferenceServerClient(url)

            def send(_) -> dict:
                start = time.monotonic()
                try:
                    raw.infer(contract.ENSEMBLE, inputs([text]), client_timeout=60)
                    return {"seconds": round(time.monotonic() - start, 2), "result": "answered"}
                except grpcclient.InferenceServerException as err:
                    return {"seconds": round(time.monotonic() - start, 2), "result": err.message()[:160]}

            with ThreadPoolExecutor(2) as pool, ToxicityClient(url) as client:
                giants = pool.map(send, range(2))
                latencies = []
                for comment in COMMENTS * 3:
                    start = time.monotonic()
                    client.classify(comment)
                    latencies.append(time.monotonic() - start)
                results[name] = {"giants": list(giants), "ordinary_max_ms": round(max(latencies) * 1000, 1),
                                 "ordinary_p50_ms": round(float(np.median(latencies)) * 1000, 1)}
    return results


def capacity(url: str, texts: list[str], seconds: float = 15, concurrency: int = 4) -> float:
    """Requests of `texts` answered per second by closed-loop clients."""
    done, stop = [0], threading.Event()

    def work(_: int) -> None:
        with ToxicityClient(url, timeout=60) as client:
            while not stop.is_set():
                client.classify(texts)
                done[0] += 1

    wall = run_threads(work, concurrency, seconds, stop)
    return done[0] / wall  # read after the run: done[0] counts while it runs


def overload(repository: Path, factor: float = 3.0, seconds: float = 20.0) -> dict:
    """Open-loop requests of 32 comments at `factor` x measured capacity for `seconds`, then single comments."""
    texts = COMMENTS * 2  # 32 real comments
    with Launched(repository) as launched:
        url = launched.ports.grpc_url
        expected = reference(url) * 2
        rate = capacity(url, texts)
        before = open_loop(url, texts[:1], 5, 6, expected[:1])
        burst = open_loop(url, texts, factor * rate, seconds, expected)
        after = open_loop(url, texts[:1], 5, 6, expected[:1])
    return {"capacity_requests_per_s": round(rate, 2), "rate_requests_per_s": round(factor * rate, 2),
            "burst": summary(burst), "single_before": summary(before), "single_after": summary(after)}


SCENARIOS = {"stub-kill": stub_kill, "restart": restart, "giant": giant, "overload": overload}


def main(argv: list[str] | None = None) -> int:
    """Run fault scenarios and write their reports."""
    parser = argparse.ArgumentParser(prog="loadtest/faults.py", description=main.__doc__)
    parser.add_argument("scenario", choices=[*SCENARIOS, "all"])
    parser.add_argument("--repository", type=Path, default=PROJECT_ROOT / "model_repository")
    args = parser.parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    for name in SCENARIOS if args.scenario == "all" else [args.scenario]:
        print(f"faults: {name} ...", flush=True)
        result = SCENARIOS[name](args.repository)
        (OUT / f"{name}.json").write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
        print(json.dumps(result, indent=2, ensure_ascii=False), flush=True)
    print(f"reports in {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
