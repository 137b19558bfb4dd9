"""Typed errors: each says what went wrong and what to do about it."""

from __future__ import annotations

from tritonclient.utils import InferenceServerException


class KotoxError(Exception):
    """Base class of every kotox client error."""


class ServerUnreachableError(KotoxError):
    """No Triton server answers at the URL."""


class ModelNotReadyError(KotoxError):
    """The server answers but the ensemble is not loaded or not ready."""


class BadInputError(KotoxError, ValueError):
    """The texts sent cannot be classified (wrong type, not UTF-8, batch too large)."""


class RequestTimeoutError(KotoxError, TimeoutError):
    """The server did not answer within the client timeout."""


def translate(err: InferenceServerException, url: str, model: str) -> KotoxError:
    """Map a tritonclient exception to a typed kotox error with advice."""
    status, message = str(err.status() or ""), err.message() or str(err)
    if "DEADLINE_EXCEEDED" in status or "Deadline Exceeded" in message:
        return RequestTimeoutError(f"no answer from {url} within the timeout; raise `timeout` or reduce `batch_size`")
    if "unknown model" in message or "not ready" in message or "NOT_FOUND" in status:
        return ModelNotReadyError(f"model {model!r} is not ready on {url}: {message} "
                                  "(check the server log; build the repository and restart the server)")
    if "UNAVAILABLE" in status:
        return ServerUnreachableError(f"cannot reach a Triton server at {url}: {message} "
                                      "(start one with `python -m kotox_server`, or pass the right url)")
    if "INVALID_ARGUMENT" in status:
        return BadInputError(f"the server rejected the input: {message}")
    return KotoxError(f"{model} on {url} failed: [{status}] {message}")
