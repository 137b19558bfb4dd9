"""CLI: python -m kotox_server [--repository model_repository] — serve, supervised, until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import time
from pathlib import Path

from kotox_server.supervisor import HEALS, Supervisor
from kotox_server.triton import START_TIMEOUT_S, Ports, ServerError, TritonServer

DEFAULTS = Ports()


def _interrupt(*_) -> None:
    """First Ctrl-C or SIGTERM stops the server; later ones are ignored so the stop can finish."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """Serve a kotox model repository with a real tritonserver until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m kotox_server", description=main.__doc__)
    parser.add_argument("--repository", type=Path, default=Path("model_repository"))
    parser.add_argument("--host", default=DEFAULTS.host,
                        help="address to bind (default: %(default)s, this machine only; 0.0.0.0 in a container)")
    parser.add_argument("--http-port", type=int, default=DEFAULTS.http)
    parser.add_argument("--grpc-port", type=int, default=DEFAULTS.grpc)
    parser.add_argument("--metrics-port", type=int, default=DEFAULTS.metrics)
    parser.add_argument("--health-port", type=int, default=DEFAULTS.health,
                        help="the supervisor's /health/live, /health/ready and /metrics (default: %(default)s)")
    parser.add_argument("--heal", choices=HEALS, default="reload",
                        help="on a dead Python stub: reload its model, or restart the server (default: %(default)s)")
    parser.add_argument("--start-timeout", type=float, default=START_TIMEOUT_S,
                        help="seconds to wait for every model to load, warm-up included, before giving up "
                             "(default: %(default)s: TensorRT engine builds on a GPU node's first start)")
    parser.add_argument("--cache-bytes", type=int, default=0, help="response cache size in bytes (0: off)")
    parser.add_argument("--quiet", action="store_true", help="do not echo the server log")
    args = parser.parse_args(argv)

    if not (args.repository / "config.pbtxt").exists() and not any(args.repository.glob("*/config.pbtxt")):
        print(f"kotox serve: no model repository at {args.repository}; build one with python -m kotox_build",
              file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    ports = Ports(args.host, args.http_port, args.grpc_port, args.metrics_port, args.health_port)
    server = TritonServer(args.repository, ports, cache_bytes=args.cache_bytes, echo=not args.quiet,
                          start_timeout=args.start_timeout)
    supervisor = Supervisor(server, heal=args.heal)
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    print(f"kotox serve: starting tritonserver on {args.repository} ...", flush=True)
    try:
        supervisor.serve_health(ports.host, ports.health)  # first: probes get 503 (and live 200) while models load
        supervisor.start()
        print(f"kotox serve: ready — gRPC {ports.grpc_url}, HTTP {ports.host}:{ports.http}, "
              f"metrics http://{ports.host}:{ports.metrics}/metrics, "
              f"health http://{ports.host}:{ports.health}/health/ready (Ctrl-C stops)", flush=True)
        while True:
            time.sleep(3600)
    except (ServerError, OSError) as err:  # OSError: the health port is taken
        print(f"kotox serve: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    finally:
        supervisor.stop()
    print("kotox serve: stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
