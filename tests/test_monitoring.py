"""Integration: a real Prometheus scrapes a loaded kotox server started with the container's flags, and every
dashboard query, recording rule, alert expression and the HPA's adapter query returns data."""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import yaml

from conftest import free_server_ports
from deployment_files import MONITORING, adapter_rules, container, render, rules
from kotox_build.data import traffic_comments
from kotox_build.pipeline import build
from kotox_build.repository import REFUSALS_METRIC
from kotox_client import ToxicityClient, contract
from kotox_server.stubs import live_stubs
from kotox_server.triton import Ports

pytestmark = pytest.mark.integration
LOAD_SECONDS = 12
LOAD_THREADS = 3
NAMESPACE, POD, GONE_POD, STARTING_POD = "kotox", "kotox-0", "kotox-gone", "kotox-starting"  # as discovery labels
BLS_POD = "kotox-bls"  # a pod of a BLS-entry build, the kind GPU nodes serve
BAD_INPUT_REQUESTS = 5
JOB = "kotox-metrics"  # the Prometheus Operator names the job after the scraped Service
GPU_ONLY = "nv_gpu_"  # Triton exports GPU series only where it sees a GPU


def wait_http(url: str, timeout: float, process: subprocess.Popen) -> None:
    """Block until `url` answers 200, failing early if `process` exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, f"{process.args[0]} exited with code {process.returncode}"
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"{url} not ready after {timeout:.0f} s")


def stop(process: subprocess.Popen) -> None:
    """Interrupt a process we started and wait for it; kill it if it hangs."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def send_bad_input(url: str, requests: int) -> None:
    """Requests the server refuses as INVALID_ARGUMENT (a row that is not UTF-8), as a careless raw client sends."""
    raw = grpcclient.InferenceServerClient(url)
    tensor = grpcclient.InferInput(contract.INPUT_TEXT, [1, 1], "BYTES")
    tensor.set_data_from_numpy(np.array([[b"ok \xff\xfe broken"]], dtype=np.object_))
    for _ in range(requests):
        with pytest.raises(grpcclient.InferenceServerException, match="UTF-8"):
            raw.infer(contract.ENSEMBLE, [tensor])


def load(url: str, seconds: float) -> int:
    """Closed-loop traffic from a few clients: real comments, a third of them one repeated comment (cache hits).
    The others are distinct, more than the server can answer in `seconds`, so every model works all along."""
    comments = traffic_comments(10_000)

    def user(offset: int) -> int:
        sent, end = 0, time.monotonic() + seconds
        with ToxicityClient(url) as client:
            while time.monotonic() < end:
                i = offset + sent * LOAD_THREADS
                client.classify("같은 댓글이 또 왔어요" if i % 3 == 0 else comments[i % len(comments)])
                sent += 1
        return sent

    with ThreadPoolExecutor(LOAD_THREADS) as pool:
        return sum(pool.map(user, range(LOAD_THREADS)))


class Prometheus:
    """A real Prometheus on loopback, queried over its HTTP API."""

    def __init__(self, port: int, process: subprocess.Popen, launcher: subprocess.Popen,
                 repositories: dict[str, Path] | None = None, loaded_at: float = 0.0):
        self.base, self.process, self.launcher = f"http://127.0.0.1:{port}", process, launcher
        self.repositories, self.loaded_at = repositories or {}, loaded_at  # per loaded pod; when its load ended

    def get(self, path: str, **params) -> dict:
        url = f"{self.base}{path}?{urllib.parse.urlencode(params)}"
        with urllib.request.urlopen(url, timeout=10) as resp:
            body = json.load(resp)
        assert body["status"] == "success", body
        return body["data"]

    def wait_for_scrape(self, pod: str, timeout: float = 30) -> None:
        """Block until Prometheus has scraped `pod` once, so the load's first requests are counted in rates."""
        deadline = time.monotonic() + timeout
        while not self.query(f'up{{pod="{pod}"}} == 1'):
            assert time.monotonic() < deadline, f"Prometheus did not scrape {pod} within {timeout:.0f} s"
            time.sleep(0.5)

    def query(self, expr: str, at: float | None = None) -> list[dict]:
        """The instant vector `expr` evaluates to now, or at the Unix time `at`."""
        return self.get("/api/v1/query", query=expr, **({} if at is None else {"time": at}))["result"]


def prometheus_config(pods: dict[str, Ports], dead: int) -> dict:
    """Scrape every second the way the ServiceMonitor does: each pod's Triton port and supervisor port, and a dead
    pod."""
    def target(port: int, pod: str, endpoint: str) -> dict:
        return {"targets": [f"127.0.0.1:{port}"], "labels": {"namespace": NAMESPACE, "pod": pod, "endpoint": endpoint}}

    targets = [target(p.metrics, pod, "metrics") for pod, p in pods.items()]
    targets += [target(p.health, pod, "health") for pod, p in pods.items()] + [target(dead, GONE_POD, "metrics")]
    return {"global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(MONITORING / "rules.yaml")],
            "scrape_configs": [{"job_name": JOB, "static_configs": targets}]}


def launcher(repository: Path, ports: Ports) -> list[str]:
    """The launcher's command line with the Deployment's args, on `ports`."""
    return [sys.executable, "-m", "kotox_server", "--quiet", "--repository", str(repository),
            "--host", ports.host, "--http-port", str(ports.http), "--grpc-port", str(ports.grpc),
            "--metrics-port", str(ports.metrics), "--health-port", str(ports.health),
            *container(render("cpu"))["args"]]


@pytest.fixture(scope="module")
def prometheus(tiny_spec, tiny_repository, slow_loading_repository, tmp_path_factory) -> Prometheus:
    """Kotox servers started with the Deployment's args, the tiny ensemble build and its BLS-entry build, loaded for
    LOAD_SECONDS while Prometheus scrapes them and a third launcher still loading its models."""
    binary = shutil.which("prometheus")
    assert binary, "Debian's prometheus is missing: make monitoring-tools"
    tmp = tmp_path_factory.mktemp("prometheus")
    repositories = {POD: tiny_repository, BLS_POD: build(tiny_spec, tmp / "bls", entry="bls"),
                    STARTING_POD: slow_loading_repository}
    pods = {pod: free_server_ports() for pod in repositories}
    spare = free_server_ports()  # two more free ports: Prometheus' web port and a scrape target nobody serves
    web, dead = spare.http, spare.grpc
    config = tmp / "prometheus.yml"
    config.write_text(yaml.safe_dump(prometheus_config(pods, dead)))
    launchers = {pod: subprocess.Popen(launcher(repositories[pod], ports), stdout=subprocess.DEVNULL,
                                       stderr=(tmp / f"{pod}.log").open("w")) for pod, ports in pods.items()}
    loaded = (POD, BLS_POD)
    prom = None
    try:
        for pod in loaded:
            wait_http(f"http://{pods[pod].host}:{pods[pod].health}/health/ready", 180, launchers[pod])
        prom = subprocess.Popen([binary, f"--config.file={config}", f"--storage.tsdb.path={tmp / 'data'}",
                                 f"--web.listen-address=127.0.0.1:{web}", "--log.level=warn"],
                                stdout=subprocess.DEVNULL, stderr=(tmp / "prometheus.log").open("w"))
        wait_http(f"http://127.0.0.1:{web}/-/ready", 60, prom)
        for pod in loaded:
            Prometheus(web, prom, launchers[pod]).wait_for_scrape(pod)
        with ThreadPoolExecutor(len(loaded)) as pool:
            assert all(pool.map(lambda pod: load(pods[pod].grpc_url, LOAD_SECONDS), loaded))
        loaded_at = time.time()
        for pod in loaded:
            send_bad_input(pods[pod].grpc_url, BAD_INPUT_REQUESTS)
        time.sleep(3)  # a few more scrapes and rule evaluations after the load
        yield Prometheus(web, prom, launchers[POD], {pod: repositories[pod] for pod in loaded}, loaded_at)
    finally:
        if prom is not None:
            stop(prom)
        for process in launchers.values():
            stop(process)


def dashboard_exprs() -> list[str]:
    """Every panel query, with Grafana's variables as they read for 'All models' and a 1 m rate window."""
    panels = json.loads((MONITORING / "kotox-dashboard.json").read_text())["panels"]
    return [t["expr"].replace("$model", ".*").replace("$__rate_interval", "1m")
            for p in panels for t in p["targets"]]


def as_bool(expr: str) -> str:
    """An alert expression with `bool` after each comparison: 0/1 for every series instead of only the firing."""
    return re.sub(r"\s(==|!=|>=|<=|>|<)\s", r" \1 bool ", expr)


def alert_exprs() -> list[str]:
    return [as_bool(r["expr"]) for r in rules() if "alert" in r]


def assert_data(prometheus: Prometheus, exprs: list[str], finite: bool = True) -> None:
    """Every expression returns at least one series (with finite values when `finite`)."""
    empty = [e for e in exprs if not prometheus.query(e)]
    assert not empty, "no data for:\n" + "\n".join(empty)
    if finite:
        results = {e: prometheus.query(e) for e in exprs}
        bad = {e: r for e, r in results.items() if not all(math.isfinite(float(s["value"][1])) for s in r)}
        assert not bad, "NaN or infinite values for:\n" + json.dumps(bad, indent=1)


def test_dashboard_queries_return_data(prometheus):
    exprs = [e for e in dashboard_exprs() if GPU_ONLY not in e]
    assert len(exprs) >= 16 and any("kotox_stub_restarts_total" in e for e in exprs)
    assert_data(prometheus, exprs)


def test_recording_rules_return_data(prometheus):
    assert_data(prometheus, [r["record"] for r in rules() if "record" in r])


def test_alert_expressions_evaluate_on_real_series(prometheus):
    assert_data(prometheus, alert_exprs())


def test_server_down_alert_catches_a_dead_pod(prometheus):
    alerts = prometheus.get("/api/v1/alerts")["alerts"]
    down = {a["labels"]["pod"]: a["state"] for a in alerts if a["labels"]["alertname"] == "KotoxServerDown"}
    assert down.keys() == {GONE_POD}, "only the pod that does not answer, not the one still loading its models"
    assert down[GONE_POD] in {"pending", "firing"}  # pending for its `for:` minute, then firing


def test_a_pod_loading_its_models_is_starting_not_down_or_unready(prometheus):
    """Its Triton port is closed and it is unready, as a GPU pod is while TensorRT builds engines: no alert."""
    pod = f'{{pod="{STARTING_POD}"}}'
    assert [s["value"][1] for s in prometheus.query(f"kotox_starting{pod}")] == ["1"]
    assert [s["value"][1] for s in prometheus.query(f"kotox_ready{pod}")] == ["0"]
    assert [s["value"][1] for s in prometheus.query(f'up{{pod="{STARTING_POD}",endpoint="metrics"}}')] == ["0"]
    alerts = prometheus.get("/api/v1/alerts")["alerts"]
    assert not [a for a in alerts if a["labels"].get("pod") == STARTING_POD]


def test_autoscaling_signal_counts_every_queue_but_the_ensembles(prometheus):
    """In both builds: the ensemble build (toxicity is the ensemble) and the BLS build GPU nodes serve (toxicity is
    the Python entry holding the queue policy; toxicity_members the ensemble behind it)."""
    (rule,) = [r["expr"] for r in rules() if r.get("record") == "kotox:queue_ms_per_execution:rate1m"]
    for pod, repository in prometheus.repositories.items():
        configs = {c.parent.name: c.read_text() for c in repository.glob("*/config.pbtxt")}
        ensembles = {name for name, text in configs.items() if 'platform: "ensemble"' in text}
        named = prometheus.query(f'kotox_ensemble{{pod="{pod}"}}')
        assert {s["metric"]["model"] for s in named} == ensembles and ensembles, pod
        queued = "|".join(sorted(configs.keys() - ensembles))
        by_hand = (f'sum(rate(nv_inference_queue_duration_us{{pod="{pod}",model=~"{queued}"}}[1m])) / 1000 '
                   f'/ sum(rate(nv_inference_exec_count{{pod="{pod}",model=~"{queued}"}}[1m]))')
        (expected,) = prometheus.query(by_hand, at=prometheus.loaded_at)
        (recorded,) = [s for s in prometheus.query(rule, at=prometheus.loaded_at) if s["metric"]["pod"] == pod]
        assert float(recorded["value"][1]) == pytest.approx(float(expected["value"][1]), rel=1e-9), pod
        assert float(expected["value"][1]) > 0, f"{pod}: requests queued somewhere under load"


def test_adapter_rule_serves_the_hpa_metric(prometheus):
    (rule,) = adapter_rules()
    assert prometheus.get("/api/v1/series", **{"match[]": rule["seriesQuery"]})
    query = (rule["metricsQuery"].replace("<<.Series>>", re.match(r"[\w:]+", rule["seriesQuery"]).group())
             .replace("<<.LabelMatchers>>", f'namespace="{NAMESPACE}",pod=~"{POD}"').replace("<<.GroupBy>>", "pod"))
    (sample,) = prometheus.query(query)
    assert sample["metric"] == {"pod": POD}
    assert 0 < float(sample["value"][1]) < 60_000, "ms of queueing per execution under load: positive, finite"


def test_model_picker_lists_the_served_models(prometheus, tiny_spec):
    models = prometheus.get("/api/v1/label/model/values", **{"match[]": "nv_inference_request_success"})
    assert {contract.ENSEMBLE, *(m.name for m in tiny_spec.members)} <= set(models)


def test_bad_input_is_counted_as_refused_and_pages_nobody(prometheus):
    """Triton 2.51 counts the tokenizer's (or BLS entry's) error answers as successes and an ensemble's failures as
    OTHER, twice: the models' own counter shows the refusals, and no model's failure ratio moves."""
    refused = prometheus.query(f'sum by (pod) (increase({REFUSALS_METRIC}{{reason="bad_input"}}[1m]))')
    assert {s["metric"]["pod"]: round(float(s["value"][1])) for s in refused} == \
        dict.fromkeys(prometheus.repositories, BAD_INPUT_REQUESTS)
    ratios = prometheus.query("kotox:failure_ratio:rate5m")
    assert ratios and all(float(s["value"][1]) == 0 for s in ratios), ratios
    assert prometheus.query(f'kotox:failures:rate1m{{model="{contract.ENSEMBLE}",reason="OTHER"}} > 0'), \
        "the ensemble's OTHER (what the ratio leaves out) did count them"


def test_supervisor_reports_the_pod_ready(prometheus):
    (ready,) = prometheus.query(f'kotox_ready{{pod="{POD}"}}')
    assert ready["value"][1] == "1"


def tritonserver_pid(launcher_pid: int) -> int:
    """The tritonserver the launcher started (its child)."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                argv0 = (entry / "cmdline").read_bytes().split(b"\0")[0]
            except OSError:
                continue
            if ppid == launcher_pid and argv0.endswith(b"tritonserver"):
                return int(entry.name)
    raise LookupError(f"no tritonserver under pid {launcher_pid}")


def test_a_killed_stub_shows_as_a_restart_and_the_pod_comes_back(prometheus, tiny_spec):
    """Last in this module: it kills a member's stub of the shared server; the supervisor heals it."""
    member = tiny_spec.members[0].name
    os.kill(live_stubs(tritonserver_pid(prometheus.launcher.pid))[f"{member}_0_0"], signal.SIGKILL)
    panel = f'sum by (model) (increase(kotox_stub_restarts_total{{model="{member}"}}[1h]))'
    deadline = time.monotonic() + 90
    for expr in (f"{panel} > 0", f'kotox_ready{{pod="{POD}"}} == 1'):  # counted, then ready again
        while not prometheus.query(expr):
            assert time.monotonic() < deadline, f"Prometheus saw no {expr} within 90 s of the kill"
            time.sleep(1)
