"""Locust users that call the kotox ensemble over gRPC with tritonclient, sending real Korean comments.

gRPC under gevent: `init_gevent()` runs before any channel exists, so gRPC's I/O cooperates with locust's
greenlets; each user owns one InferenceServerClient. Settings come from KOTOX_* environment variables,
which `capacity.py` sets.
"""

import grpc.experimental.gevent as grpc_gevent

grpc_gevent.init_gevent()

import csv  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import tritonclient.grpc as grpcclient  # noqa: E402
from locust import LoadTestShape, User, constant, events, task  # noqa: E402

from kotox_build.data import traffic_comments  # noqa: E402
from kotox_client import contract  # noqa: E402

STAGES = [int(u) for u in os.environ.get("KOTOX_STAGES", "1,2,4,8").split(",")]
STAGE_SECONDS = float(os.environ.get("KOTOX_STAGE_SECONDS", "20"))
BATCH = int(os.environ.get("KOTOX_BATCH", "1"))
DUPLICATES = float(os.environ.get("KOTOX_DUPLICATES", "0"))
MODEL = os.environ.get("KOTOX_MODEL", contract.ENSEMBLE)
COMMENTS = traffic_comments(5000, seed=1)
REPEATED = COMMENTS[:BATCH]  # the one request that --duplicates repeats, identical each time


class StepShape(LoadTestShape):
    """Users rise in stages (KOTOX_STAGES) of KOTOX_STAGE_SECONDS each, then the run stops."""

    def tick(self) -> tuple[int, float] | None:
        stage = int(self.get_run_time() // STAGE_SECONDS)
        return (STAGES[stage], STAGES[stage]) if stage < len(STAGES) else None


class SampleLog:
    """Writes each request's stage, start (s on the shape's clock), latency, texts and outcome to a CSV."""

    def __init__(self, path: str, shape: LoadTestShape):
        self.shape = shape
        self.file = open(path, "w", newline="", buffering=1)  # line-buffered: complete when locust exits
        self.writer = csv.writer(self.file)
        self.writer.writerow(["stage", "start_s", "latency_ms", "texts", "ok"])

    def __call__(self, response_time: float, exception: Exception | None, context: dict, **_) -> None:
        start = self.shape.get_run_time() - response_time / 1000
        self.writer.writerow([int(start // STAGE_SECONDS), f"{start:.4f}", f"{response_time:.3f}",
                              context.get("texts", 0), int(exception is None)])


@events.test_start.add_listener
def _log_samples(environment, **_) -> None:
    path = os.environ.get("KOTOX_SAMPLES")
    if path and environment.shape_class:
        environment.events.request.add_listener(SampleLog(path, environment.shape_class))


class TritonUser(User):
    """One app instance: sends KOTOX_BATCH comments per request, back to back."""

    wait_time = constant(0)

    def on_start(self) -> None:
        self.client = grpcclient.InferenceServerClient(self.host)
        self.rng = random.Random()

    def on_stop(self) -> None:
        self.client.close()

    @task
    def classify(self) -> None:
        texts = REPEATED if self.rng.random() < DUPLICATES else self.rng.choices(COMMENTS, k=BATCH)
        tensor = grpcclient.InferInput(contract.INPUT_TEXT, [len(texts), 1], "BYTES")
        tensor.set_data_from_numpy(np.array([[t.encode()] for t in texts], dtype=np.object_))
        start, error, size = time.perf_counter(), None, 0
        try:
            result = self.client.infer(MODEL, [tensor])
            size = result.get_response().ByteSize()
            if result.as_numpy(contract.OUTPUT_TOXIC_PROB).shape[0] != len(texts):
                raise ValueError(f"{len(texts)} texts sent, a different number of answers came back")
        except Exception as err:  # reported to locust as a failure, never raised
            error = err
        self.environment.events.request.fire(request_type="grpc", name=MODEL,
                                             response_time=(time.perf_counter() - start) * 1000,
                                             response_length=size, exception=error, context={"texts": len(texts)})
