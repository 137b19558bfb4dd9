"""Closed-loop gRPC load for benchmarks: N threads each send one comment per request, timing every call."""

from __future__ import annotations

import threading
import time

import numpy as np
import tritonclient.grpc as grpcclient

from kotox_client import contract


def stats(latencies_s: list[float], texts: int, wall_s: float) -> dict:
    """Throughput and latency percentiles of one measurement."""
    ms = np.asarray(latencies_s) * 1000
    return {"texts_per_s": texts / wall_s, "p50_ms": float(np.percentile(ms, 50)),
            "p99_ms": float(np.percentile(ms, 99)), "requests": len(ms)}


def run_grpc(url: str, model: str, comments: list[str], concurrency: int, seconds: float) -> tuple[dict, np.ndarray]:
    """Closed-loop load: `concurrency` threads each send one comment per request for `seconds`."""
    probs = np.full(len(comments), np.nan)
    latencies: list[float] = []
    lock, stop = threading.Lock(), threading.Event()

    def worker(offset: int) -> None:
        client = grpcclient.InferenceServerClient(url)
        i = offset
        while not stop.is_set():
            k = i % len(comments)
            tensor = grpcclient.InferInput(contract.INPUT_TEXT, [1, 1], "BYTES")
            tensor.set_data_from_numpy(np.array([[comments[k].encode()]], dtype=np.object_))
            t0 = time.perf_counter()
            answer = client.infer(model, [tensor])
            with lock:
                latencies.append(time.perf_counter() - t0)
                probs[k] = answer.as_numpy(contract.OUTPUT_TOXIC_PROB).reshape(-1)[0]
            i += concurrency
        client.close()

    wall = run_threads(worker, concurrency, seconds, stop)
    return stats(latencies, len(latencies), wall), probs


def run_threads(worker, concurrency: int, seconds: float, stop: threading.Event) -> float:
    """Run `worker(i)` for i < `concurrency` in threads for `seconds`, then set `stop`, join; returns the wall time."""
    threads = [threading.Thread(target=worker, args=(c,)) for c in range(concurrency)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join()
    return time.perf_counter() - start
