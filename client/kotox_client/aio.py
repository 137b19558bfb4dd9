"""asyncio client: `await AsyncToxicityClient().classify([...])`; request batches go out concurrently."""

from __future__ import annotations

import asyncio

from tritonclient.grpc.aio import InferenceServerClient
from tritonclient.utils import InferenceServerException

from kotox_client import contract
from kotox_client.errors import translate
from kotox_client.request import (Attempts, ClientSettings, Deployment, RetryPolicy, Texts, batches, inputs, normalise,
                                  outputs)
from kotox_client.result import Classification, parse_answer


class AsyncToxicityClient(ClientSettings):
    """Classify Korean comments with the kotox ensemble over gRPC from asyncio code."""

    def __init__(self, url: str = contract.DEFAULT_URL, model: str = contract.ENSEMBLE,
                 batch_size: int | None = None, timeout: float | None = 30.0, retry: RetryPolicy | None = None):
        super().__init__(InferenceServerClient, url, model, batch_size, timeout, retry)

    async def _call(self, method, *args, server_deadline: bool = False, **kwargs):
        attempts = Attempts(self.retry, self.timeout)
        while True:
            try:
                return await method(*args, **kwargs, **attempts.deadlines(server_deadline))
            except InferenceServerException as err:
                failure = translate(err, self.url, self.model)
            await asyncio.sleep(attempts.wait_after(failure))

    async def deployment(self) -> Deployment:
        """Members, labels and batch limit, read once from the server."""
        if self._deployment is None:
            config = await self._call(self._client.get_model_config, self.model, as_json=True)
            self._deployment = Deployment.from_config(config)
        return self._deployment

    async def ready(self) -> bool:
        """True when the server answers and the ensemble is ready."""
        try:
            return bool(await self._call(self._client.is_model_ready, self.model))
        except Exception:
            return False

    async def classify(self, texts: Texts) -> Classification | list[Classification]:
        """Classify one comment (returns one result) or many (returns a list, in order)."""
        items, single = normalise(texts)
        deployment = await self.deployment()
        size = deployment.batch_size(self._batch_size)

        async def one(start: int, chunk: list[str]) -> list[Classification]:
            answer = await self._call(self._client.infer, self.model,
                                      inputs(chunk, start * size, deployment.max_comment_bytes),
                                      outputs=outputs(deployment.outputs), server_deadline=True)
            return parse_answer(answer, deployment)

        parts = await asyncio.gather(*(one(i, chunk) for i, chunk in enumerate(batches(items, size))))
        results = [r for part in parts for r in part]
        return results[0] if single else results

    async def close(self) -> None:
        """Close the gRPC channel."""
        await self._client.close()

    async def __aenter__(self) -> "AsyncToxicityClient":
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()
