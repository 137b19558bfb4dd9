"""asyncio client: `await AsyncToxicityClient().classify([...])`; up to `max_in_flight` request batches at once."""

from __future__ import annotations

import asyncio

from tritonclient.grpc.aio import InferenceServerClient
from tritonclient.utils import InferenceServerException

from kotox_client import contract
from kotox_client.errors import BadInputError, translate
from kotox_client.request import (Attempts, ClientSettings, Deployment, RetryPolicy, Texts, batches, inputs, normalise,
                                  outputs)
from kotox_client.result import Classification, parse_answer


class AsyncToxicityClient(ClientSettings):
    """Classify Korean comments with the kotox ensemble over gRPC from asyncio code."""

    def __init__(self, url: str = contract.DEFAULT_URL, model: str = contract.ENSEMBLE,
                 batch_size: int | None = None, timeout: float | None = 30.0, retry: RetryPolicy | None = None,
                 max_in_flight: int = 4):
        if max_in_flight < 1:
            raise BadInputError(f"max_in_flight must be at least 1, got {max_in_flight}")
        super().__init__(InferenceServerClient, url, model, batch_size, timeout, retry)
        self.max_in_flight = max_in_flight  # more would only queue at the server, past its budget for big lists

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
        """Classify one comment (returns one result) or many (returns a list, in order). Every text is checked before
        any is sent, and a failed batch stops the unsent ones while those in flight finish: cancelling a request in
        flight can crash a Triton 2.51 server (request.ANSWER_GRACE_S)."""
        items, single = normalise(texts)
        deployment = await self.deployment()
        size = deployment.batch_size(self._batch_size)
        requests = [inputs(chunk, i * size, deployment.max_comment_bytes) for i, chunk in enumerate(batches(items, size))]
        slots, failed = asyncio.Semaphore(self.max_in_flight), asyncio.Event()

        async def one(request) -> list[Classification]:
            async with slots:
                if failed.is_set():
                    return []
                try:
                    answer = await self._call(self._client.infer, self.model, request,
                                              outputs=outputs(deployment.outputs), server_deadline=True)
                except Exception:
                    failed.set()
                    raise
            return parse_answer(answer, deployment)

        parts = await asyncio.gather(*(one(r) for r in requests), return_exceptions=True)
        errors = [p for p in parts if isinstance(p, BaseException)]
        if errors:
            raise errors[0]
        results = [r for part in parts for r in part]
        return results[0] if single else results

    async def close(self) -> None:
        """Close the gRPC channel."""
        await self._client.close()

    async def __aenter__(self) -> "AsyncToxicityClient":
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()
