"""kotox client: classify Korean comments with the kotox ensemble served by Triton over gRPC."""

from kotox_client.aio import AsyncToxicityClient
from kotox_client.client import ToxicityClient
from kotox_client.errors import (BadInputError, KotoxError, ModelNotReadyError, RequestTimeoutError, ServerBusyError,
                                 ServerUnreachableError)
from kotox_client.request import RetryPolicy
from kotox_client.result import Classification

__all__ = ["AsyncToxicityClient", "BadInputError", "Classification", "KotoxError", "ModelNotReadyError",
           "RequestTimeoutError", "RetryPolicy", "ServerBusyError", "ServerUnreachableError", "ToxicityClient"]
