"""Keep a tritonserver answering: heal dead Python stubs, restart a dead server, and say so on a health port."""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import tritonclient.grpc as grpcclient

from kotox_server.stubs import live_stubs, model_of
from kotox_server.triton import GRPC_ADMIN_HEADER, Ports, TritonServer

log = logging.getLogger("kotox.supervisor")
HEALS = ("reload", "restart")
GIVE_UP_AFTER_S = 120.0  # /health/live fails when the service stays broken this long despite healing: restart it


@dataclass
class Supervisor:
    """Watches `server` every `interval` s; `heal` a dead stub by reloading its model or restarting the server."""

    server: TritonServer
    heal: str = "reload"
    interval: float = 0.5
    stub_restarts: Counter = field(default_factory=Counter, init=False)
    server_restarts: int = field(default=0, init=False)
    _expected: set[str] = field(default_factory=set, init=False)
    _ensembles: list[str] = field(default_factory=list, init=False)
    _healthy: bool = field(default=False, init=False)
    _broken_since: float | None = field(default=None, init=False)
    _thread: threading.Thread | None = field(default=None, init=False)
    _httpd: ThreadingHTTPServer | None = field(default=None, init=False)
    _stop: threading.Event = field(default_factory=threading.Event, init=False)
    _generation: int = field(default=0, init=False)

    def start(self) -> "Supervisor":
        """Start the server, wait until ready (its `start_timeout`), then watch it from a thread."""
        if self.heal not in HEALS:
            raise ValueError(f"heal must be one of {HEALS}, got {self.heal!r}")
        self.server.start()
        self._ensembles = served_ensembles(self.server)  # a repository's models are fixed for the launcher's life
        self._settle()
        self._thread = threading.Thread(target=self._watch, name="kotox-supervisor", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop watching, stop the health port, stop the server (Triton lets requests in flight finish)."""
        self._stop.set()
        if self._httpd is not None:
            self._httpd.shutdown()
        self.server.stop()

    def _settle(self) -> None:
        """Record the stubs of a freshly ready server as the ones that must stay alive."""
        self._expected = set(live_stubs(self.server.pid))
        for instance in self._expected:
            self.stub_restarts[model_of(instance)] += 0  # every Python model gets a series from the start
        self._healthy, self._broken_since = True, None

    def _watch(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self._check()
            except Exception as err:  # keep watching: the next tick retries, /health/ready stays false meanwhile
                self._mark_broken()
                log.error("kotox supervisor: healing failed: %s", err)

    def _check(self) -> None:
        if self.server.pid is None:
            if self._stop.is_set():
                return
            self._mark_broken()
            log.error("kotox supervisor: tritonserver exited (code %s); restarting it", self.server.returncode)
            self._restart()
            self.server_restarts += 1
            return
        dead = self._dead_stubs()
        if not dead:
            return
        self._mark_broken()
        models = sorted({model_of(instance) for instance in dead})
        log.error("kotox supervisor: Python stub(s) %s died; healing %s by %s", sorted(dead), models, self.heal)
        if self.heal == "restart":
            self._restart()
        else:
            try:
                for model in models:
                    self._reload(model)
            except Exception as err:
                log.error("kotox supervisor: reloading %s failed (%s); restarting the server", models, err)
                self._restart()
        self.stub_restarts.update(models)
        log.warning("kotox supervisor: %s healed", models)

    def _mark_broken(self) -> None:
        self._healthy = False
        self._broken_since = self._broken_since or time.monotonic()

    def _restart(self) -> None:
        self.server.kill()  # Triton's own exit would wait its exit timeout for the dead stub
        self.server.start()
        self._settle()

    def _reload(self, model: str) -> None:
        """Load `model` anew: a changed config forces Triton to start fresh stubs (an unchanged one is a no-op)."""
        self._generation += 1
        headers = {GRPC_ADMIN_HEADER: self.server.admin_key}
        with grpcclient.InferenceServerClient(self.server.ports.grpc_url) as client:
            config = client.get_model_config(model, as_json=True)["config"]
            config.setdefault("parameters", {})["kotox_generation"] = {"string_value": str(self._generation)}
            client.load_model(model, config=json.dumps(config), headers=headers, client_timeout=120)
        deadline = time.monotonic() + 60
        while not self.server.ready():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{model} reloaded but the server is not ready after 60 s")
            time.sleep(0.1)
        self._settle()

    def ready(self) -> bool:
        """Every model can answer: Triton ready, no stub missing, nothing being healed."""
        return self._healthy and self.server.pid is not None and not self._dead_stubs() and self.server.ready()

    def _dead_stubs(self) -> set[str]:
        """Instances the running server started that are gone now."""
        return self._expected - set(live_stubs(self.server.pid))

    def starting(self) -> bool:
        """True while the first start loads the models (the server bounds it by its `start_timeout`)."""
        return self._thread is None and not self._stop.is_set()

    def live(self) -> bool:
        """Starting, or watching with the service not broken past GIVE_UP_AFTER_S."""
        if self.starting():
            return True
        broken_for = 0.0 if self._broken_since is None else time.monotonic() - self._broken_since
        return self._thread is not None and self._thread.is_alive() and broken_for < GIVE_UP_AFTER_S

    def metrics(self) -> str:
        """Prometheus text: stub heals per model, server restarts, readiness."""
        lines = ["# HELP kotox_stub_restarts_total Python-backend stubs found dead and healed, by model.",
                 "# TYPE kotox_stub_restarts_total counter"]
        lines += [f'kotox_stub_restarts_total{{model="{m}"}} {n}' for m, n in sorted(self.stub_restarts.items())]
        lines += ["# HELP kotox_server_restarts_total tritonserver processes that exited and were started again.",
                  "# TYPE kotox_server_restarts_total counter", f"kotox_server_restarts_total {self.server_restarts}",
                  "# HELP kotox_ready 1 when every model of the ensemble can answer (the readiness probe).",
                  "# TYPE kotox_ready gauge", f"kotox_ready {int(self.ready())}",
                  "# HELP kotox_starting 1 while the launcher's first start loads the models (warm-up runs included).",
                  "# TYPE kotox_starting gauge", f"kotox_starting {int(self.starting())}",
                  "# HELP kotox_ensemble Served models that are Triton ensembles: no queue of their own, one execution "
                  "per request (the autoscaling signal leaves them out).", "# TYPE kotox_ensemble gauge"]
        lines += [f'kotox_ensemble{{model="{m}"}} 1' for m in self._ensembles]
        return "\n".join(lines) + "\n"

    def serve_health(self, host: str, port: int) -> None:
        """Serve /health/live, /health/ready and /metrics on host:port from a thread until stop(); call it before
        start() so probes and scrapes are answered while the models load."""
        self._httpd = ThreadingHTTPServer((host, port), _handler(self))
        threading.Thread(target=self._httpd.serve_forever, name="kotox-health", daemon=True).start()


def served_ensembles(server: TritonServer) -> list[str]:
    """The names of the models `server` serves whose platform is Triton's ensemble."""
    with grpcclient.InferenceServerClient(server.ports.grpc_url) as client:
        index = client.get_model_repository_index(headers={GRPC_ADMIN_HEADER: server.admin_key}, as_json=True)
        names = [m["name"] for m in index.get("models", [])]
        return sorted(n for n in names
                      if client.get_model_config(n, as_json=True)["config"].get("platform") == "ensemble")


def _handler(supervisor: Supervisor) -> type[BaseHTTPRequestHandler]:
    routes = {"/health/live": lambda: _probe(supervisor.live()), "/health/ready": lambda: _probe(supervisor.ready()),
              "/metrics": lambda: (200, supervisor.metrics())}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, body = routes.get(self.path, lambda: (404, "not found\n"))()
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args) -> None:  # probes every few seconds: keep the server log for events
            pass

    return Handler


def _probe(ok: bool) -> tuple[int, str]:
    return (200, "ok\n") if ok else (503, "unavailable\n")


def probe(ports: Ports, path: str = "/health/ready") -> int | None:
    """The HTTP status a supervisor's health port answers for `path`; None when nothing answers."""
    try:
        with urllib.request.urlopen(f"http://{ports.host}:{ports.health}{path}", timeout=2) as resp:
            return resp.status
    except urllib.error.HTTPError as err:
        return err.code
    except OSError:
        return None
