"""Open-loop load over gRPC asyncio: requests start on a schedule, whatever the server's answers, as users arrive."""

from __future__ import annotations

import asyncio
import gc
import time
from typing import NamedTuple

import numpy as np
from tritonclient.grpc.aio import InferenceServerClient
from tritonclient.utils import InferenceServerException

from kotox_client import contract
from kotox_client.errors import translate
from kotox_client.request import inputs, outputs

MAX_IN_FLIGHT = 2000  # a bound on the load generator itself


class Outcome(NamedTuple):
    """One request: when it started (s from the run's start), how long it took, how it ended, and how late the
    generator sent it against its schedule."""

    start_s: float
    seconds: float
    kind: str  # "ok", "wrong" (an answer that differs from the reference), or a kotox error class name
    late_s: float


async def _one(client, texts: list[str], reference: list[float] | None, timeout: float, t0: float,
               due: float) -> Outcome:
    start = time.monotonic()
    try:
        answer = await client.infer(contract.ENSEMBLE, inputs(texts), outputs=outputs(), client_timeout=timeout)
        probs = answer.as_numpy(contract.OUTPUT_TOXIC_PROB).reshape(-1)
        kind = "ok" if reference is None or np.allclose(probs, reference, atol=1e-5) else "wrong"
    except InferenceServerException as err:
        kind = type(translate(err, "", contract.ENSEMBLE)).__name__
    return Outcome(start - t0, time.monotonic() - start, kind, start - due)


async def _run(url: str, texts: list[str], reference: list[float] | None, rate: float, seconds: float,
               timeout: float) -> list[Outcome]:
    client = InferenceServerClient(url)
    # A full garbage collection walked the 365k objects of the imported libraries (and every outcome) and paused
    # the schedule for 0.3-0.4 s on a busy machine, whose arrivals then left at once: a burst the server refused.
    # So the libraries' objects are frozen out of collections, and outcomes are kept as untracked plain tuples.
    gc.collect()
    gc.freeze()
    outcomes: list[tuple] = []
    in_flight: set[asyncio.Task] = set()

    def finished(task: asyncio.Task) -> None:
        in_flight.discard(task)
        outcomes.append(tuple(task.result()))

    t0 = time.monotonic()
    for i in range(int(rate * seconds)):  # arrivals on a fixed schedule, whatever the answers
        due = t0 + i / rate
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        if len(in_flight) < MAX_IN_FLIGHT:
            task = asyncio.create_task(_one(client, texts, reference, timeout, t0, due))
            in_flight.add(task)
            task.add_done_callback(finished)
    while in_flight:
        await asyncio.wait(set(in_flight))
    await client.close()
    gc.unfreeze()
    return [Outcome._make(o) for o in sorted(outcomes)]


def open_loop(url: str, texts: list[str], rate: float, seconds: float, reference: list[float] | None = None,
              timeout: float = 30.0) -> list[Outcome]:
    """Send `texts` as one request `rate` times a second for `seconds`; every answer is checked against
    `reference` (each row's toxic probability) when given."""
    return asyncio.run(_run(url, texts, reference, rate, seconds, timeout))


def summary(outcomes: list[Outcome]) -> dict:
    """Counts by kind and latency percentiles of the answered and of the refused."""
    def pct(kind: str) -> dict:
        ms = [o.seconds * 1000 for o in outcomes if o.kind == kind]
        return {"count": len(ms), **({f"p{q}_ms": round(float(np.percentile(ms, q)), 1) for q in (50, 99)}
                                     if ms else {})}

    kinds = sorted({o.kind for o in outcomes})
    return {"requests": len(outcomes), **{kind: pct(kind) for kind in kinds}}
