"""The serve command: readiness, clean Ctrl-C, and a model that fails to load surfaces the server's own error."""

import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest
import tritonclient.grpc as grpcclient

from conftest import free_server_ports
from kotox_client import KotoxError, ToxicityClient, contract
from kotox_build.pipeline import build
from kotox_server.supervisor import probe
from kotox_server.triton import ServerError, TritonServer

pytestmark = pytest.mark.integration


def serve_cmd(repository, ports) -> list[str]:
    return [sys.executable, "-m", "kotox_server", "--quiet", "--repository", str(repository),
            "--http-port", str(ports.http), "--grpc-port", str(ports.grpc), "--metrics-port", str(ports.metrics),
            "--health-port", str(ports.health)]


@pytest.fixture
def broken_repository(tiny_repository, tiny_spec, tmp_path):
    repo = tmp_path / "broken"
    shutil.copytree(tiny_repository, repo)
    (repo / tiny_spec.members[0].name / "1" / "model.onnx").write_bytes(b"not an onnx file")
    return repo


def test_load_failure_raises_with_server_error(broken_repository, tiny_spec):
    with pytest.raises(ServerError) as err:
        TritonServer(broken_repository, free_server_ports()).start(timeout=120)
    assert tiny_spec.members[0].name in str(err.value) and "exited with code" in str(err.value)


def test_serve_command_exits_nonzero_printing_the_error(broken_repository, tiny_spec):
    out = subprocess.run(serve_cmd(broken_repository, free_server_ports()), capture_output=True, text=True,
                         timeout=180)
    assert out.returncode != 0
    assert tiny_spec.members[0].name in out.stderr and "failed" in out.stderr.lower()


def test_serve_command_reports_ready_and_stops_on_ctrl_c(tiny_repository):
    ports = free_server_ports()
    proc = subprocess.Popen(serve_cmd(tiny_repository, ports), stdout=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        line = ""
        while "ready" not in line and time.monotonic() < deadline:
            line = proc.stdout.readline()
        assert f"gRPC {ports.host}:{ports.grpc}" in line
        proc.send_signal(signal.SIGINT)
        assert proc.wait(60) == 0
    finally:
        proc.kill()
        orphans = subprocess.run(["pkill", "-f", f"grpc-port={ports.grpc}"])  # never leave a server behind
    assert orphans.returncode == 1, "tritonserver was still running after Ctrl-C"  # pkill: 1 = none matched


def test_a_slow_load_is_probed_as_starting_until_the_start_timeout(slow_loading_repository):
    """While models load, the health port already answers: live, not ready, kotox_starting 1; at --start-timeout the
    launcher gives up, saying so, and leaves no server behind."""
    ports = free_server_ports()
    proc = subprocess.Popen(serve_cmd(slow_loading_repository, ports) + ["--start-timeout", "20"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 15
        while probe(ports, "/health/live") is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert probe(ports, "/health/live") == 200 and probe(ports, "/health/ready") == 503
        with urllib.request.urlopen(f"http://{ports.host}:{ports.health}/metrics", timeout=5) as resp:
            metrics = resp.read().decode()
        assert "kotox_starting 1" in metrics and "kotox_ready 0" in metrics
        assert proc.wait(90) == 1
        assert "not ready after 20 s" in proc.stderr.read()
    finally:
        proc.kill()
        orphans = subprocess.run(["pkill", "-f", f"grpc-port={ports.grpc}"])
    assert orphans.returncode == 1, "tritonserver outlived a launcher that gave up"


def test_every_member_has_answered_its_warmup_comment_when_the_server_is_ready(tiny_repository, tiny_spec):
    """Triton runs each member's model_warmup at load (on GPUs, TensorRT builds its engine then), before any request."""
    with TritonServer(tiny_repository, free_server_ports()) as server:
        raw = grpcclient.InferenceServerClient(server.ports.grpc_url)
        for member in tiny_spec.members:
            (stats,) = raw.get_inference_statistics(member.name, as_json=True)["model_stats"]
            assert int(stats["inference_stats"]["success"]["count"]) == 1, member.name


def test_a_broken_warmup_file_fails_the_load_naming_the_member(tiny_repository, tiny_spec, tmp_path):
    repo = tmp_path / "short-warmup"
    shutil.copytree(tiny_repository, repo)
    (repo / tiny_spec.members[0].name / "warmup" / "input_ids").write_bytes(b"\0" * 3)
    with pytest.raises(ServerError) as err:
        TritonServer(repo, free_server_ports()).start(timeout=120)
    assert tiny_spec.members[0].name in str(err.value) and "warmup" in str(err.value)


def test_a_killed_server_leaves_no_shared_memory_behind(tiny_repository):
    """SIGKILL of the server and its stubs at once (as the supervisor's restart does) frees nobody's region."""
    server = TritonServer(tiny_repository, free_server_ports()).start()
    assert server.shm_regions()
    server.kill()
    assert not server.shm_regions()


def test_response_cache_answers_repeated_comments(tiny_repository, tiny_spec):
    ports = free_server_ports()
    with TritonServer(tiny_repository, ports, cache_bytes=1 << 20), ToxicityClient(ports.grpc_url) as client:
        first, second = client.classify("같은 댓글이 또 왔어요"), client.classify("같은 댓글이 또 왔어요")
        with urllib.request.urlopen(f"http://{ports.host}:{ports.metrics}/metrics", timeout=10) as resp:
            metrics = resp.read().decode()
    assert first == second
    hits = re.search(rf'nv_cache_num_hits_per_model{{model="{tiny_spec.name}",version="1"}} (\d+)', metrics)
    assert hits and int(hits.group(1)) >= 1, "the repeated comment should be answered from the response cache"


def test_a_bls_entrys_refusal_is_never_served_from_the_cache(tiny_spec, tmp_path):
    """Triton 2.51 caches a Python model's error answer as an empty success: the BLS entry is built without the
    response cache, so the same bad request is refused every time (before: once, then answered with no outputs)."""
    ports = free_server_ports()
    with TritonServer(build(tiny_spec, tmp_path / "bls", entry="bls"), ports, cache_bytes=1 << 20):
        raw = grpcclient.InferenceServerClient(ports.grpc_url)
        tensor = grpcclient.InferInput(contract.INPUT_TEXT, [1, 1], "BYTES")
        tensor.set_data_from_numpy(np.array([[b"ok \xff\xfe broken"]], dtype=np.object_))
        for _ in range(3):
            with pytest.raises(grpcclient.InferenceServerException, match="UTF-8"):
                raw.infer(contract.ENSEMBLE, [tensor])


def test_an_answer_cached_for_fewer_outputs_is_a_clear_client_error(tiny_repository):
    """Triton keys its response cache on the inputs only: a raw client asking for the label alone leaves that answer
    for everyone who sends the same text. The SDK names the cause instead of failing on a missing tensor."""
    ports = free_server_ports()
    text = "출력 하나만 달라는 요청"
    with TritonServer(tiny_repository, ports, cache_bytes=1 << 20), ToxicityClient(ports.grpc_url) as client:
        raw = grpcclient.InferenceServerClient(ports.grpc_url)
        tensor = grpcclient.InferInput(contract.INPUT_TEXT, [1, 1], "BYTES")
        tensor.set_data_from_numpy(np.array([[text.encode()]], dtype=np.object_))
        raw.infer(contract.ENSEMBLE, [tensor], outputs=[grpcclient.InferRequestedOutput(contract.OUTPUT_LABEL)])
        with pytest.raises(KotoxError, match="response cache"):
            client.classify(text)
        assert client.classify("다른 댓글은 그대로").label in client.deployment.labels
