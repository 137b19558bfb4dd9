"""Shared fixtures: tiny checkpoints, a repository built from them, and a real tritonserver serving it."""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from kotox_build.checkpoints import checkpoint_spec
from kotox_build.pipeline import build
from kotox_build.repository import PYTHON_MODELS
from kotox_build.spec import Spec
from kotox_server.binary import find_server
from kotox_server.triton import Ports, TritonServer

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
TEST_QUEUE_TIMEOUT_MS = 10_000


def free_server_ports() -> Ports:
    """HTTP, gRPC, metrics and health ports nobody listens on."""
    return Ports.free()


def python_model(filename: str):
    """Import one of the served model.py files as a module, with the server's real `triton_python_backend_utils`."""
    sys.path[:0] = [str(find_server().backends / "python"), str(PYTHON_MODELS)]  # and the modules copied beside it
    spec = importlib.util.spec_from_file_location(f"kotox_{filename[:-3]}", PYTHON_MODELS / filename)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def tiny_spec(tmp_path_factory) -> Spec:
    """The default deployment spec (weights, threshold, labels) with its members swapped for `tiny` checkpoints, and
    a queue budget of TEST_QUEUE_TIMEOUT_MS: on a busy 2-core test machine a correct request can wait past the
    default 500 ms, and only the overload tests mean to be refused (they set their own bounds)."""
    spec = checkpoint_spec("tiny", tmp_path_factory.mktemp("checkpoints"))
    return replace(spec, queue_timeout_ms=TEST_QUEUE_TIMEOUT_MS)


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


SLOW_MODEL_CONFIG = """name: "slow_loading"
backend: "python"
max_batch_size: 0
input [{ name: "IN", data_type: TYPE_FP32, dims: [1] }]
output [{ name: "OUT", data_type: TYPE_FP32, dims: [1] }]
"""
SLOW_MODEL = """import time


class TritonPythonModel:
    def initialize(self, args):
        time.sleep(3600)  # a model whose load outlasts any test: a TensorRT engine build, say
"""


@pytest.fixture(scope="session")
def slow_loading_repository(tiny_repository, tmp_path_factory) -> Path:
    """The tiny repository plus one Python model that takes an hour to load: a server on it stays starting."""
    repo = tmp_path_factory.mktemp("slow") / "model_repository"
    shutil.copytree(tiny_repository, repo)
    (repo / "slow_loading" / "1").mkdir(parents=True)
    (repo / "slow_loading" / "config.pbtxt").write_text(SLOW_MODEL_CONFIG)
    (repo / "slow_loading" / "1" / "model.py").write_text(SLOW_MODEL)
    return repo
