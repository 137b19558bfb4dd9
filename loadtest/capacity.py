"""Headless stepped-load capacity test of a running kotox server: locust CSV/HTML, per-stage summary, PNG plot.

Run: .venv/bin/python loadtest/capacity.py [--url 127.0.0.1:8001] [--stages 1,2,4,8] [--stage-seconds 20]
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import socket
import subprocess
import sys
from pathlib import Path

import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException

from kotox_build.data import PROJECT_ROOT
from kotox_client import contract
from plot import plot  # siblings in loadtest/, on sys.path when this file runs as a script
from summary import WARMUP_S, summarise, write

HERE = Path(__file__).resolve().parent
MAX_USERS = 256
MAX_SECONDS = 3600


def is_loopback(url: str) -> bool:
    """True when the host of host:port resolves only to loopback addresses."""
    host = url.rsplit(":", 1)[0].strip("[]")
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except socket.gaierror:
        return False
    return all(ipaddress.ip_address(a).is_loopback for a in addresses)


def model_ready(url: str, model: str) -> bool:
    """True when a server answers at `url` and says `model` is ready."""
    try:
        with grpcclient.InferenceServerClient(url) as client:
            return client.is_model_ready(model, client_timeout=5)
    except InferenceServerException:
        return False


def cache_counts(url: str, model: str) -> dict[str, int]:
    """The model's response-cache hit and miss counts so far (both 0 while the cache is off)."""
    with grpcclient.InferenceServerClient(url) as client:
        stats = client.get_inference_statistics(model, as_json=True)["model_stats"][0]["inference_stats"]
    return {"hits": int(stats.get("cache_hit", {}).get("count", 0)),
            "misses": int(stats.get("cache_miss", {}).get("count", 0))}


def run_locust(args: argparse.Namespace) -> Path:
    """Run locust headless with the stepped shape; return the per-request samples file."""
    args.out.mkdir(parents=True, exist_ok=True)
    samples = args.out / "samples.csv"
    env = dict(os.environ, KOTOX_STAGES=",".join(map(str, args.stages)), KOTOX_STAGE_SECONDS=str(args.stage_seconds),
               KOTOX_BATCH=str(args.batch), KOTOX_DUPLICATES=str(args.duplicates), KOTOX_MODEL=args.model,
               KOTOX_SAMPLES=str(samples))
    cmd = [sys.executable, "-m", "locust", "-f", str(HERE / "locustfile.py"), "--headless", "--host", args.url,
           "--csv", str(args.out / "locust"), "--html", str(args.out / "locust.html"),
           "--stop-timeout", "5", "--only-summary", "--loglevel", "WARNING",
           "--exit-code-on-error", "0"]  # failed requests (a server shedding load) are a stage's result, not a crash
    subprocess.run(cmd, env=env, check=True, timeout=len(args.stages) * args.stage_seconds + 120)
    return samples


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Options, with the loopback guard and the bounds on users and duration enforced."""
    parser = argparse.ArgumentParser(prog="loadtest/capacity.py", description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=contract.DEFAULT_URL, help="Triton gRPC host:port (default: %(default)s)")
    parser.add_argument("--model", default=contract.ENSEMBLE, help="model to call (default: %(default)s)")
    parser.add_argument("--stages", default="1,2,4,8", help="users in each stage (default: %(default)s)")
    parser.add_argument("--stage-seconds", type=float, default=20.0, help="length of a stage (default: %(default)s)")
    parser.add_argument("--batch", type=int, default=1, help="comments per request (default: %(default)s)")
    parser.add_argument("--budget-ms", type=float, default=500.0, help="p99 latency budget (default: %(default)s)")
    parser.add_argument("--duplicates", type=float, default=0.0,
                        help="probability that a request repeats one fixed request, for cache tests (default: 0)")
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "reports" / "capacity",
                        help="report folder (default: reports/capacity)")
    parser.add_argument("--allow-remote", action="store_true", help="allow a target that is not loopback")
    args = parser.parse_args(argv)
    try:
        args.stages = [int(u) for u in args.stages.split(",")]
    except ValueError:
        parser.error(f"--stages takes comma-separated user counts, not {args.stages!r}")
    if not args.allow_remote and not is_loopback(args.url):
        parser.error(f"{args.url} is not a loopback address; pass --allow-remote to load-test another host")
    if not 1 <= min(args.stages) <= max(args.stages) <= MAX_USERS:
        parser.error(f"every stage needs 1..{MAX_USERS} users")
    if not (WARMUP_S < args.stage_seconds and len(args.stages) * args.stage_seconds <= MAX_SECONDS):
        parser.error(f"stages must be longer than the {WARMUP_S:g} s warm-up and {MAX_SECONDS} s in all")
    if args.batch < 1 or not 0 <= args.duplicates <= 1:
        parser.error("--batch must be >= 1 and --duplicates within 0..1")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run a bounded stepped load against a kotox server and report its capacity."""
    args = parse_args(argv)
    if not model_ready(args.url, args.model):
        print(f"no ready model {args.model!r} at {args.url}: start a server first (make serve)", file=sys.stderr)
        return 1
    before = cache_counts(args.url, args.model)
    samples = run_locust(args)
    result = summarise(samples, args.stages, args.stage_seconds, args.budget_ms)
    result["cache"] = {k: v - before[k] for k, v in cache_counts(args.url, args.model).items()}
    plot(result, args.out / "capacity.png")
    print(write(result, args.out))
    print(f"reports in {args.out}: capacity.png, summary.md, summary.json, locust.html, locust_*.csv, samples.csv")
    return 0


if __name__ == "__main__":
    sys.exit(main())
