"""Shared fixtures: tiny checkpoints, a repository built from them, and a real tritonserver serving it."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from kotox_build.checkpoints import checkpoint_spec
from kotox_build.pipeline import build
from kotox_build.spec import Spec
from kotox_server.triton import Ports, TritonServer

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def free_ports(n: int) -> list[int]:
    """`n` distinct free TCP ports on loopback."""
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def free_server_ports() -> Ports:
    """HTTP, gRPC and metrics ports nobody listens on."""
    http, grpc, metrics = free_ports(3)
    return Ports(http=http, grpc=grpc, metrics=metrics)


@pytest.fixture(scope="session")
def tiny_spec(tmp_path_factory) -> Spec:
    """The default deployment spec (weights, threshold, labels) with its members swapped for `tiny` checkpoints."""
    return checkpoint_spec("tiny", tmp_path_factory.mktemp("checkpoints"))


@pytest.fixture(scope="session")
def tiny_checkpoints(tiny_spec) -> list[Path]:
    """`tiny` phase2/phase4 checkpoints, made once per session."""
    return [m.checkpoint for m in tiny_spec.members]


@pytest.fixture(scope="session")
def tiny_repository(tiny_spec, tmp_path_factory) -> Path:
    """A model repository built from the tiny spec for this machine's server."""
    return build(tiny_spec, tmp_path_factory.mktemp("repo") / "model_repository")


@pytest.fixture(scope="session")
def server(tiny_repository) -> TritonServer:
    """A real tritonserver on free loopback ports; stopped at the end of the session."""
    with TritonServer(tiny_repository, free_server_ports()) as running:
        yield running
