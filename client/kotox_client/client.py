"""Blocking client: `ToxicityClient().classify("...")`."""

from __future__ import annotations

import time

from tritonclient.grpc import InferenceServerClient
from tritonclient.utils import InferenceServerException

from kotox_client import contract
from kotox_client.errors import translate
from kotox_client.request import (Attempts, ClientSettings, Deployment, RetryPolicy, Texts, batches, inputs, normalise,
                                  outputs)
from kotox_client.result import Classification, parse_answer


class ToxicityClient(ClientSettings):
    """Classify Korean comments with the kotox ensemble over gRPC; retryable failures are retried within `timeout`."""

    def __init__(self, url: str = contract.DEFAULT_URL, model: str = contract.ENSEMBLE,
                 batch_size: int | None = None, timeout: float | None = 30.0, retry: RetryPolicy | None = None):
        super().__init__(InferenceServerClient, url, model, batch_size, timeout, retry)

    def _call(self, method, *args, server_deadline: bool = False, **kwargs):
        attempts = Attempts(self.retry, self.timeout)
        while True:
            try:
                return method(*args, **kwargs, **attempts.deadlines(server_deadline))
            except InferenceServerException as err:
                failure = translate(err, self.url, self.model)
            time.sleep(attempts.wait_after(failure))

    @property
    def deployment(self) -> Deployment:
        """Members, labels and batch limit, read once from the server."""
        if self._deployment is None:
            self._deployment = Deployment.from_config(self._call(self._client.get_model_config, self.model, as_json=True))
        return self._deployment

    def ready(self) -> bool:
        """True when the server answers and the ensemble is ready."""
        try:
            return bool(self._call(self._client.is_model_ready, self.model))
        except Exception:
            return False

    def classify(self, texts: Texts) -> Classification | list[Classification]:
        """Classify one comment (returns one result) or many (returns a list, in order)."""
        items, single = normalise(texts)
        deployment = self.deployment
        size = deployment.batch_size(self._batch_size)
        results: list[Classification] = []
        for start, chunk in enumerate(batches(items, size)):
            answer = self._call(self._client.infer, self.model, inputs(chunk, start * size, deployment.max_comment_bytes),
                                outputs=outputs(deployment.outputs), server_deadline=True)
            results += parse_answer(answer, deployment)
        return results[0] if single else results

    def close(self) -> None:
        """Close the gRPC channel."""
        self._client.close()

    def __enter__(self) -> "ToxicityClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
