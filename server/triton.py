"""Start, wait for and stop a real tritonserver on a model repository."""

from __future__ import annotations

import ctypes
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from kotox_client import contract
from kotox_server.binary import find_server, prepare_backends, server_env


PR_SET_PDEATHSIG = 1
CPU_NOISE = ("CudaDriverHelper", "NVML", "DCGM", "pinned memory")
ADMIN_HEADER = "kotox-admin-key"  # model load/unload over HTTP/gRPC only with this header (the supervisor's reloads)
GRPC_ADMIN_HEADER = f"triton-grpc-protocol-{ADMIN_HEADER}"  # Triton's name for that header on gRPC
ADMIN_KEY_ENV = "KOTOX_ADMIN_KEY"  # set it to share the key with an operator; otherwise each start makes its own
EXIT_TIMEOUT_S = 15  # on stop, Triton finishes requests in flight for at most this long (its default: 30)
STOP_TIMEOUT_S = EXIT_TIMEOUT_S + 15  # and the launcher kills it if it has not exited after this long
SHM_DEFAULT_BYTES = 8 << 20  # each Python model instance's first shared-memory region (Triton's default is 1 MB)
SHM_GROWTH_BYTES = 8 << 20  # and each growth step: fewer resizes for batches of long comments
SHM_DIR = Path("/dev/shm")  # where the Python backend's regions live; a killed stub leaves its region behind
# gRPC channels are closed (GOAWAY, in-flight calls get the grace) after this age, so clients behind a
# Kubernetes Service reconnect and spread over the pods, new ones included (server/k8s/README.md).
GRPC_MAX_CONNECTION_AGE_MS = 60_000
GRPC_MAX_CONNECTION_AGE_GRACE_MS = 30_000
# Loading every model, warm-up runs included, may take this long before the launcher gives up (--start-timeout):
# on a GPU node's first start TensorRT builds each member's engines during its warm-up, minutes for a base model.
START_TIMEOUT_S = 600


def _die_with_parent() -> None:
    """In the child: ask Linux to SIGTERM the server if this Python process dies, so no server outlives it."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class ServerError(RuntimeError):
    """The server failed to start or to load its models; the message carries the server's own errors."""


@dataclass(frozen=True)
class Ports:
    """Where the server listens."""

    host: str = contract.DEFAULT_HOST
    http: int = contract.DEFAULT_HTTP_PORT
    grpc: int = contract.DEFAULT_GRPC_PORT
    metrics: int = contract.DEFAULT_METRICS_PORT
    health: int = contract.DEFAULT_HEALTH_PORT

    @classmethod
    def free(cls, host: str = contract.DEFAULT_HOST) -> "Ports":
        """Ports nobody listens on at `host` (tests, fault runs)."""
        sockets = [socket.socket() for _ in range(4)]
        for s in sockets:
            s.bind((host, 0))
        numbers = [s.getsockname()[1] for s in sockets]
        for s in sockets:
            s.close()
        return cls(host, *numbers)

    @property
    def grpc_url(self) -> str:
        """host:port for gRPC clients."""
        return f"{self.host}:{self.grpc}"


@dataclass
class TritonServer:
    """A tritonserver process serving `repository`; use as a context manager or call start()/stop()."""

    repository: Path
    ports: Ports = field(default_factory=Ports)
    cache_bytes: int = 0  # response cache size; 0 disables the cache
    echo: bool = False  # copy server output to stderr as it arrives
    extra_args: tuple[str, ...] = ()
    start_timeout: float = START_TIMEOUT_S  # seconds start() waits for every model to be ready
    admin_key: str = field(default_factory=lambda: os.environ.get(ADMIN_KEY_ENV) or secrets.token_urlsafe(24),
                           repr=False)
    log: list[str] = field(default_factory=list, init=False)
    _process: subprocess.Popen | None = field(default=None, init=False)
    _workspace: tempfile.TemporaryDirectory | None = field(default=None, init=False)

    @property
    def shm_prefix(self) -> str:
        """The Python backend's shared-memory region names start with this: one server per gRPC port."""
        return f"kotox{self.ports.grpc}_"

    def shm_regions(self) -> list[Path]:
        """This server's files in /dev/shm now: Python-backend regions, and the members' queueing-delay files
        (`model_repository/onnx_member.py`, named by the server's pid)."""
        delays = SHM_DIR.glob(f"kotox{self._process.pid}-*") if self._process else []
        return sorted([*SHM_DIR.glob(f"{self.shm_prefix}*"), *delays])

    def command(self, backends: Path, caches: Path, binary: Path) -> list[str]:
        """The tritonserver command line."""
        p = self.ports
        cmd = [str(binary), f"--model-repository={Path(self.repository).resolve()}",
               f"--backend-directory={backends}", f"--cache-directory={caches}",
               f"--http-address={p.host}", f"--http-port={p.http}",
               f"--grpc-address={p.host}", f"--grpc-port={p.grpc}",
               f"--metrics-address={p.host}", f"--metrics-port={p.metrics}",
               "--exit-on-error=true", "--strict-readiness=true", f"--exit-timeout-secs={EXIT_TIMEOUT_S}",
               "--model-control-mode=explicit", "--load-model=*",  # so the supervisor can reload one broken model
               f"--http-restricted-api=model-repository:{ADMIN_HEADER}={self.admin_key}",
               f"--grpc-restricted-protocol=model-repository:{ADMIN_HEADER}={self.admin_key}",
               "--metrics-config=summary_latencies=true",  # p50/p90/p99 per model on the metrics port
               f"--grpc-max-connection-age={GRPC_MAX_CONNECTION_AGE_MS}",
               f"--grpc-max-connection-age-grace={GRPC_MAX_CONNECTION_AGE_GRACE_MS}",
               f"--backend-config=python,shm-region-prefix-name={self.shm_prefix}",
               f"--backend-config=python,shm-default-byte-size={SHM_DEFAULT_BYTES}",
               f"--backend-config=python,shm-growth-byte-size={SHM_GROWTH_BYTES}"]
        if self.cache_bytes:
            cmd.append(f"--cache-config=local,size={self.cache_bytes}")
        return cmd + list(self.extra_args)

    def start(self, timeout: float | None = None) -> "TritonServer":
        """Start the server and block until every model is ready (at most `timeout`, default `start_timeout` s);
        raise ServerError with its errors otherwise."""
        install = find_server()
        self._workspace = tempfile.TemporaryDirectory(prefix="kotox-triton-")
        backends = prepare_backends(install, Path(self._workspace.name))
        cmd = self.command(backends, install.caches, install.binary)
        self._process = subprocess.Popen(cmd, env=server_env(install), stdout=subprocess.PIPE,
                                         stderr=subprocess.STDOUT, text=True, errors="replace",
                                         start_new_session=True, preexec_fn=_die_with_parent)
        threading.Thread(target=self._pump, daemon=True).start()
        try:
            self._wait_ready(self.start_timeout if timeout is None else timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _pump(self) -> None:
        for line in self._process.stdout:
            self.log.append(line)
            if self.echo:
                sys.stderr.write(line)

    def errors(self) -> str:
        """The server's own error lines (model load failures and the like), without CPU-only GPU noise."""
        lines = [ln for ln in self.log if (ln.startswith("E") or "failed" in ln.lower() or "error" in ln.lower())
                 and not any(noise in ln for noise in CPU_NOISE)]
        return "".join(lines[-30:]) or "".join(self.log[-30:])

    def ready(self) -> bool:
        """True when the server reports every model ready."""
        url = f"http://{self.ports.host}:{self.ports.http}/v2/health/ready"
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                return resp.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                time.sleep(0.2)  # let the pump thread read the last lines
                raise ServerError(f"tritonserver exited with code {self._process.returncode}:\n{self.errors()}")
            if self.ready():
                return
            time.sleep(0.25)
        raise ServerError(f"tritonserver not ready after {timeout:.0f} s:\n{self.errors()}")

    @property
    def pid(self) -> int | None:
        """The tritonserver process id while it runs."""
        return None if self._process is None or self._process.poll() is not None else self._process.pid

    def kill(self) -> None:
        """End the server and its stubs at once (SIGKILL), without Triton's wait for in-flight requests."""
        if self._process is not None and self._process.poll() is None:
            self._kill_group()
        self.stop()

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """Ask the server to exit (SIGINT), kill it after `timeout`, end any stub it left, remove its workspace."""
        if self._workspace is None:  # never started, or stopped already
            return
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGINT)
            try:
                self._process.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        self._kill_group()  # stubs outlive a server that crashed or gave up waiting: they are in its group
        for region in self.shm_regions():  # killed stubs cannot free theirs: 8 MB or more each, per restart
            region.unlink(missing_ok=True)
        self._workspace.cleanup()
        self._workspace = None

    def _kill_group(self) -> None:
        """SIGKILL the server's process group (the server and its Python stubs), then reap the server."""
        try:
            os.killpg(self._process.pid, signal.SIGKILL)
        except ProcessLookupError:  # nothing of the group is left
            pass
        self._process.wait()

    @property
    def returncode(self) -> int | None:
        """The exit code once the process has ended."""
        return None if self._process is None else self._process.poll()

    def __enter__(self) -> "TritonServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
