"""What the sync and async clients share: input checks, batching, tensors and the deployment's description."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
from tritonclient.grpc import InferInput, InferRequestedOutput

from kotox_client import contract
from kotox_client.errors import BadInputError

Texts = str | Iterable[str]


@dataclass(frozen=True)
class Deployment:
    """What the served ensemble declares about itself in its config."""

    members: tuple[str, ...]
    labels: tuple[str, str]
    max_batch_size: int

    @classmethod
    def from_config(cls, config: dict) -> "Deployment":
        """Read members, labels and max batch size from a `get_model_config(as_json=True)` answer."""
        config = config.get("config", config)
        params = {k: v["string_value"] for k, v in config.get("parameters", {}).items()}
        return cls(members=tuple(json.loads(params[contract.PARAM_MEMBERS])),
                   labels=tuple(json.loads(params[contract.PARAM_LABELS])),
                   max_batch_size=int(config["max_batch_size"]))

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


def inputs(texts: list[str], offset: int = 0) -> list[InferInput]:
    """The TEXT tensor for one request: one UTF-8 comment per row."""
    rows = []
    for i, text in enumerate(texts):
        try:
            rows.append([text.encode("utf-8")])
        except UnicodeEncodeError as err:
            raise BadInputError(f"texts[{offset + i}] cannot be encoded as UTF-8: {err}") from None
    array = np.array(rows, dtype=np.object_)
    tensor = InferInput(contract.INPUT_TEXT, list(array.shape), "BYTES")
    tensor.set_data_from_numpy(array)
    return [tensor]


def outputs() -> list[InferRequestedOutput]:
    """The three outputs of the served contract."""
    return [InferRequestedOutput(name) for name in contract.OUTPUTS]


class ClientSettings:
    """Settings both clients share: where the server is, which ensemble, rows per request, timeout."""

    def __init__(self, server_client, url: str, model: str, batch_size: int | None, timeout: float | None):
        self.url, self.model, self.timeout = url, model, timeout
        self._batch_size = batch_size
        self._client = server_client(url)
        self._deployment: Deployment | None = None
