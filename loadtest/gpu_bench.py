"""For a GPU machine with Docker and the NVIDIA container toolkit: build the GPU repository from shape-only
KcELECTRA-base members, serve it with the official container (server/Dockerfile), run the closed-loop benchmark
sweep and perf_analyzer against it, and stop the container.

Run: .venv/bin/python loadtest/gpu_bench.py [--precision fp16|fp32]   (make gpu-bench)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from kotox_build.checkpoints import checkpoint_spec
from kotox_build.data import PROJECT_ROOT, traffic_comments
from kotox_build.pipeline import build
from kotox_build.repository import SERVED_AT
from kotox_client import contract
from grpc_load import run_grpc  # siblings in loadtest/, on sys.path when this file runs as a script

HERE = Path(__file__).resolve().parent
CONCURRENCIES = (1, 2, 4, 8, 16, 32, 64)
READY_TIMEOUT_S = 1800  # TensorRT builds each member's engine on the first start with an empty trt_cache/


def require_gpu_machine() -> None:
    """Refuse clearly where this cannot run."""
    missing = [tool for tool in ("docker", "nvidia-smi") if shutil.which(tool) is None]
    if missing:
        raise SystemExit(f"gpu_bench needs a GPU machine with Docker and the NVIDIA container toolkit; "
                         f"not found on PATH: {', '.join(missing)}")


def start_container(image: str, repository: Path) -> str:
    """Build the runtime image and start it on `repository` (mounted, written by this user); returns its id."""
    subprocess.run(["docker", "build", "-f", "server/Dockerfile", "--target", "runtime", "-t", image, "."],
                   cwd=PROJECT_ROOT, check=True)
    ports = f"{contract.DEFAULT_HTTP_PORT}-{contract.DEFAULT_METRICS_PORT}"
    run = subprocess.run(["docker", "run", "-d", "--rm", "--gpus", "all", "--shm-size=1g", "-p", f"{ports}:{ports}",
                          "--user", f"{os.getuid()}:{os.getgid()}", "-v", f"{repository.resolve()}:{SERVED_AT}", image],
                         check=True, capture_output=True, text=True)
    return run.stdout.strip()


def wait_ready(container: str) -> float:
    """Seconds until the server reports every model ready (engine builds included)."""
    url = f"http://127.0.0.1:{contract.DEFAULT_HTTP_PORT}/v2/health/ready"
    start = time.monotonic()
    while time.monotonic() - start < READY_TIMEOUT_S:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return time.monotonic() - start
        except (urllib.error.URLError, OSError):
            pass
        if subprocess.run(["docker", "inspect", container], capture_output=True).returncode != 0:
            raise SystemExit("the container exited before it was ready; see `docker logs` of the last run")
        time.sleep(2)
    raise SystemExit(f"not ready after {READY_TIMEOUT_S} s")


def main() -> None:
    """Build, serve, measure, stop; write reports/gpu/gpu_bench.{md,json} and perf_analyzer's files beside them."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--precision", choices=("fp16", "fp32"), default="fp16")
    parser.add_argument("--image", default="kotox-triton-runtime")
    parser.add_argument("--seconds", type=float, default=15.0, help="seconds per concurrency level")
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "reports" / "gpu")
    args = parser.parse_args()
    require_gpu_machine()
    spec = checkpoint_spec("shape-only", PROJECT_ROOT / "checkpoints" / "shape-only")
    repository = build(spec, PROJECT_ROOT / "model_repository_bench" / "gpu", device="gpu", precision=args.precision)
    container = start_container(args.image, repository)
    try:
        ready_s = wait_ready(container)
        comments = traffic_comments(1000)
        url = f"127.0.0.1:{contract.DEFAULT_GRPC_PORT}"
        warm_start = time.monotonic()
        run_grpc(url, spec.name, comments, 8, 10.0)  # every length bucket once, so lazy engine work is done
        warm_s = time.monotonic() - warm_start
        sweep = {c: run_grpc(url, spec.name, comments, c, args.seconds)[0] for c in CONCURRENCIES}
        subprocess.run([sys.executable, str(HERE / "perf.py"), "--url", url, "--out", str(args.out),
                        "--concurrency", "1,4,16,64"], check=True)
    finally:
        subprocess.run(["docker", "stop", container], capture_output=True)
    lines = [f"Shape-only KcELECTRA-base members, TensorRT {args.precision}, ready after {ready_s:.0f} s "
             f"(warm-up {warm_s:.0f} s).", "", "| concurrency | texts/s | p50 ms | p99 ms |", "|---:|---:|---:|---:|"]
    lines += [f"| {c} | {r['texts_per_s']:.0f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} |" for c, r in sweep.items()]
    text = "\n".join(lines) + "\n"
    print("\n" + text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "gpu_bench.md").write_text(text)
    (args.out / "gpu_bench.json").write_text(json.dumps({"precision": args.precision, "ready_s": ready_s,
                                                         "sweep": sweep}, indent=1))


if __name__ == "__main__":
    main()
