"""What the sync and async clients share: input checks, batching, tensors and the deployment's description."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
from tritonclient.grpc import InferInput, InferRequestedOutput

from kotox_client import contract
from kotox_client.errors import BadInputError, KotoxError

Texts = str | Iterable[str]
# A call that gives the server its deadline waits this much longer for the server's own answer or refusal before it
# cancels: Triton 2.51 (24.10) can crash with SIGSEGV when a gRPC client cancels a request in flight (server issues
# 7368 and 8034; fixed in 24.12 and 25.04). Five seconds covers the member run a late request may wait behind.
ANSWER_GRACE_S = 5.0


@dataclass(frozen=True)
class Deployment:
    """What the served ensemble declares about itself in its config."""

    members: tuple[str, ...]
    labels: tuple[str, str]
    max_batch_size: int
    max_comment_bytes: int | None = None  # servers built before the limit existed do not declare one
    outputs: tuple[str, str, str] = contract.OUTPUTS  # label, fused probability of label 1, member probabilities

    @classmethod
    def from_config(cls, config: dict) -> "Deployment":
        """Read members, labels, output names and max batch size from a `get_model_config(as_json=True)` answer;
        labels and output names the config does not give are the contract's (`contract.LABELS`, `outputs`)."""
        config = config.get("config", config)
        params = {k: v["string_value"] for k, v in config.get("parameters", {}).items()}
        limit = params.get(contract.PARAM_MAX_COMMENT_BYTES)
        labels = tuple(json.loads(params.get(contract.PARAM_LABELS, "null")) or contract.LABELS)
        served = [o["name"] for o in config.get("output", [])]
        prob = next((n for n in served if n not in (contract.OUTPUT_LABEL, contract.OUTPUT_MEMBER_PROBS)),
                    contract.prob_output(labels))
        return cls(members=tuple(json.loads(params[contract.PARAM_MEMBERS])), labels=labels,
                   max_batch_size=int(config["max_batch_size"]), max_comment_bytes=int(limit) if limit else None,
                   outputs=(contract.OUTPUT_LABEL, prob, contract.OUTPUT_MEMBER_PROBS))

    def batch_size(self, requested: int | None) -> int:
        """The rows per request: `requested`, checked against the server's limit, or that limit."""
        if requested is None:
            return self.max_batch_size
        if not 1 <= requested <= self.max_batch_size:
            raise BadInputError(f"batch_size must be between 1 and the server's max_batch_size "
                                f"{self.max_batch_size}, got {requested}")
        return requested


def normalise(texts: Texts) -> tuple[list[str], bool]:
    """Check the caller's texts; returns (texts as a list, whether a single string was given)."""
    if isinstance(texts, str):
        return [texts], True
    if isinstance(texts, (bytes, bytearray)) or not isinstance(texts, Iterable):
        raise BadInputError(f"texts must be a str or an iterable of str, got {type(texts).__name__}")
    items = list(texts)
    for i, text in enumerate(items):
        if not isinstance(text, str):
            raise BadInputError(f"texts[{i}] must be str, got {type(text).__name__}")
    return items, False


def batches(texts: list[str], size: int) -> Iterator[list[str]]:
    """Consecutive slices of at most `size` texts."""
    for start in range(0, len(texts), size):
        yield texts[start:start + size]


def inputs(texts: list[str], offset: int = 0, max_bytes: int | None = None) -> list[InferInput]:
    """The TEXT tensor for one request: one UTF-8 comment per row, each within the server's `max_bytes`."""
    rows = []
    for i, text in enumerate(texts):
        try:
            rows.append([text.encode("utf-8")])
        except UnicodeEncodeError as err:
            raise BadInputError(f"texts[{offset + i}] cannot be encoded as UTF-8: {err}") from None
        if max_bytes is not None and len(rows[-1][0]) > max_bytes:
            raise BadInputError(f"texts[{offset + i}] is {len(rows[-1][0]):,} UTF-8 bytes; the server's limit is "
                                f"{max_bytes:,} (max_comment_bytes); only its first tokens count, so send a prefix")
    array = np.array(rows, dtype=np.object_)
    tensor = InferInput(contract.INPUT_TEXT, list(array.shape), "BYTES")
    tensor.set_data_from_numpy(array)
    return [tensor]


def outputs(names: tuple[str, ...] = contract.OUTPUTS) -> list[InferRequestedOutput]:
    """A deployment's three outputs (`Deployment.outputs`; default: the toxicity contract's)."""
    return [InferRequestedOutput(name) for name in names]


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to wait before sending again a call that failed with a retryable error."""

    attempts: int = 4  # tries in all; 1 turns retries off
    base_s: float = 0.05  # the first wait is drawn from [0, base_s], the next from [0, 2 * base_s], ...
    cap_s: float = 2.0  # ... never from more than [0, cap_s] ("full jitter" exponential backoff)

    def delays(self) -> Iterator[float]:
        """The jittered waits between tries."""
        for attempt in range(self.attempts - 1):
            yield random.uniform(0.0, min(self.cap_s, self.base_s * 2 ** attempt))


class Attempts:
    """One call's tries: the time left of its deadline, and the wait before the next try after a failure."""

    def __init__(self, policy: RetryPolicy, timeout: float | None):
        self._delays = policy.delays()
        self._deadline = None if timeout is None else time.monotonic() + timeout

    def remaining(self) -> float | None:
        """Seconds left for this try."""
        return None if self._deadline is None else max(self._deadline - time.monotonic(), 1e-3)

    def deadlines(self, server_deadline: bool) -> dict[str, float | int | None]:
        """This try's deadline keywords for a tritonclient call: the gRPC `client_timeout`, and with `server_deadline`
        also the server's `timeout` in microseconds (Triton refuses a request still queued when it passes), with the
        gRPC one ANSWER_GRACE_S later so the server refuses first; both from one reading of the clock."""
        remaining = self.remaining()
        if not server_deadline:
            return {"client_timeout": remaining}
        if remaining is None:
            return {"client_timeout": None, "timeout": None}
        return {"client_timeout": remaining + ANSWER_GRACE_S, "timeout": max(int(remaining * 1e6), 1)}

    def wait_after(self, error: KotoxError) -> float:
        """Seconds to wait before trying again; raises `error` when it is final, tries are spent or time is up."""
        delay = next(self._delays, None) if error.retryable else None
        if delay is None or (self._deadline is not None and time.monotonic() + delay >= self._deadline):
            raise error
        return delay


class ClientSettings:
    """Settings both clients share: where the server is, which ensemble, rows per request, timeout, retries."""

    def __init__(self, server_client, url: str, model: str, batch_size: int | None, timeout: float | None,
                 retry: RetryPolicy | None):
        self.url, self.model, self.timeout = url, model, timeout
        self.retry = retry or RetryPolicy()
        self._batch_size = batch_size
        self._client = server_client(url)
        self._deployment: Deployment | None = None
