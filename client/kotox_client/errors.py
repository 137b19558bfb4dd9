"""Typed errors: each says what went wrong and what to do about it; `retryable` ones may succeed if sent again."""

from __future__ import annotations

from tritonclient.utils import InferenceServerException

OVERLOAD_MARKS = ("queue size", "timeout expired", "overloaded")  # Triton's queue refusals and the members' own
RECOVERING_MARKS = ("not healthy",)  # a Python stub died; the kotox supervisor is reloading its model


class KotoxError(Exception):
    """Base class of every kotox client error."""

    retryable = False


class ServerUnreachableError(KotoxError):
    """No Triton server answers at the URL (down, restarting, or the wrong address)."""

    retryable = True


class ServerBusyError(KotoxError):
    """The server is overloaded and refused the request before computing it; retry later."""

    retryable = True


class ModelNotReadyError(KotoxError):
    """The server answers but the ensemble is not loaded or not ready."""

    def __init__(self, message: str, retryable: bool = False):
        super().__init__(message)
        self.retryable = retryable


class BadInputError(KotoxError, ValueError):
    """The texts sent cannot be classified (wrong type, not UTF-8, too long, batch too large)."""


class RequestTimeoutError(KotoxError, TimeoutError):
    """The server did not answer within the client timeout."""


def translate(err: InferenceServerException, url: str, model: str) -> KotoxError:
    """Map a tritonclient exception to a typed kotox error with advice."""
    status, message = str(err.status() or ""), err.message() or str(err)
    if "DEADLINE_EXCEEDED" in status or "Deadline Exceeded" in message:
        return RequestTimeoutError(f"no answer from {url} within the timeout; raise `timeout` or reduce `batch_size`")
    if "UNAVAILABLE" in status and any(mark in message for mark in OVERLOAD_MARKS):
        return ServerBusyError(f"{model} on {url} is overloaded and refused the request unrun: {message} "
                               "(retry later; add replicas if this persists)")
    if any(mark in message for mark in RECOVERING_MARKS):
        return ModelNotReadyError(f"model {model!r} on {url} is recovering from a crashed step: {message} "
                                  "(retry in a few seconds)", retryable=True)
    if "unknown model" in message or "not ready" in message or "NOT_FOUND" in status:
        return ModelNotReadyError(f"model {model!r} is not ready on {url}: {message} "
                                  "(check the server log; build the repository and restart the server)")
    if "UNAVAILABLE" in status:
        return ServerUnreachableError(f"cannot reach a Triton server at {url}: {message} "
                                      "(start one with `python -m kotox_server`, or pass the right url)")
    if "INVALID_ARGUMENT" in status:
        return BadInputError(f"the server rejected the input: {message}")
    return KotoxError(f"{model} on {url} failed: [{status}] {message}")
