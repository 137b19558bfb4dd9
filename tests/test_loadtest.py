"""The capacity test runs locust for real against a served ensemble and reports every stage; it refuses remote hosts."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

LOADTEST = Path(__file__).resolve().parent.parent / "loadtest"
sys.path.insert(0, str(LOADTEST))

import capacity  # noqa: E402
from conftest import free_server_ports  # noqa: E402
from kotox_server.triton import TritonServer  # noqa: E402

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_non_loopback_targets_are_refused():
    assert capacity.is_loopback("127.0.0.1:8001") and capacity.is_loopback("localhost:8001")
    assert not capacity.is_loopback("10.0.0.1:8001")
    with pytest.raises(SystemExit):
        capacity.parse_args(["--url", "10.0.0.1:8001"])
    assert capacity.parse_args(["--url", "10.0.0.1:8001", "--allow-remote"]).url == "10.0.0.1:8001"


def test_runs_are_bounded():
    for bad in (["--stages", "1,1000"], ["--stages", "0"], ["--stage-seconds", "1"], ["--stage-seconds", "4000"]):
        with pytest.raises(SystemExit):
            capacity.parse_args(bad)


def run_capacity(url: str, out: Path, *options: str) -> dict:
    """Run the capacity command for real and return its summary.json."""
    done = subprocess.run([sys.executable, str(LOADTEST / "capacity.py"), "--url", url, "--stage-seconds", "3",
                           "--out", str(out), *options], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads((out / "summary.json").read_text())


@pytest.mark.integration
def test_stepped_capacity_run_reports_each_stage(server, tmp_path):
    result = run_capacity(server.ports.grpc_url, tmp_path, "--stages", "1,2")
    assert [s["users"] for s in result["stages"]] == [1, 2]
    for stage in result["stages"]:
        assert stage["texts_per_s"] > 0 and stage["failures"] == 0
        assert stage["p50_ms"] <= stage["p95_ms"] <= stage["p99_ms"]
    assert result["capacity"] is None or result["capacity"] in result["stages"]
    assert (tmp_path / "capacity.png").read_bytes()[:8] == PNG_SIGNATURE
    assert (tmp_path / "summary.md").exists() and (tmp_path / "locust.html").exists()
    assert (tmp_path / "locust_stats.csv").exists()


@pytest.mark.integration
def test_duplicate_heavy_run_reports_response_cache_hits(tiny_repository, tmp_path):
    ports = free_server_ports()
    with TritonServer(tiny_repository, ports, cache_bytes=1 << 20):
        result = run_capacity(ports.grpc_url, tmp_path, "--stages", "2", "--duplicates", "0.5")
    assert result["cache"]["hits"] > 0 and result["cache"]["misses"] > 0  # repeats hit, fresh comments miss
    assert "Response cache:" in (tmp_path / "summary.md").read_text()
