"""The Kubernetes manifests: every overlay renders, validates strictly, has the shape production needs, and agrees
with the one place each port, flag, name and tag is written (the contract, the launcher, pyproject, the rules)."""

from __future__ import annotations

import copy
import re
import subprocess
import sys
import tomllib

import kubernetes_validate
import pytest

from deployment_files import OVERLAYS, ROOT, adapter_rules, container, monitoring_script, one, render, rules
from kotox_build.spec import load_spec
from kotox_client import contract
from kotox_server.triton import GRPC_MAX_CONNECTION_AGE_MS, START_TIMEOUT_S, STOP_TIMEOUT_S, Ports, TritonServer

# The oldest and newest Kubernetes releases the manifests are checked against.
KUBERNETES_VERSIONS = ("1.30.0", "1.33.0", "1.37.0")
PORTS = {"http": contract.DEFAULT_HTTP_PORT, "grpc": contract.DEFAULT_GRPC_PORT,
         "metrics": contract.DEFAULT_METRICS_PORT, "health": contract.DEFAULT_HEALTH_PORT}
SERVICE_MONITOR_ENDPOINT_KEYS = {"port", "path", "interval", "scrapeTimeout", "scheme", "honorLabels"}


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_document_validates_strictly(overlay, version):
    docs = render(overlay)
    assert {d["kind"] for d in docs} >= {"Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"}
    for doc in docs:
        if doc["apiVersion"].startswith("monitoring.coreos.com/"):
            continue  # CRDs: no schema in kubernetes-validate; checked by the ServiceMonitor and PrometheusRule tests
        kubernetes_validate.validate(doc, version, strict=True)


def test_the_validator_is_strict():
    doc = copy.deepcopy(one(render("cpu"), "Deployment"))
    doc["spec"]["template"]["spec"]["containers"][0]["startupProbes"] = []  # a typo of startupProbe
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(doc, KUBERNETES_VERSIONS[0], strict=True)


def test_gpu_limit_only_in_the_gpu_overlay():
    gpu, cpu = container(render("gpu"))["resources"], container(render("cpu"))["resources"]
    assert gpu["limits"]["nvidia.com/gpu"] == 1
    assert "nvidia.com/gpu" not in cpu.get("limits", {}) and "nvidia.com/gpu" not in cpu.get("requests", {})
    for res in (gpu, cpu):
        assert {"cpu", "memory"} <= set(res["requests"]) and "memory" in res["limits"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_ports_are_the_contracts(overlay):
    docs = render(overlay)
    box = container(docs)
    assert {p["name"]: p["containerPort"] for p in box["ports"]} == PORTS
    for service in (d for d in docs if d["kind"] == "Service"):
        for port in service["spec"]["ports"]:
            assert port["port"] == PORTS[port["targetPort"]], f"{service['metadata']['name']} {port}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_probes_ask_the_supervisor_not_triton(overlay):
    box = container(render(overlay))
    paths = {kind: (box[kind]["httpGet"]["path"], box[kind]["httpGet"]["port"])
             for kind in ("startupProbe", "readinessProbe", "livenessProbe")}
    assert paths == {"startupProbe": ("/health/ready", "health"), "readinessProbe": ("/health/ready", "health"),
                     "livenessProbe": ("/health/live", "health")}
    startup = box["startupProbe"]
    flags = dict(a.removeprefix("--").split("=", 1) for a in box.get("args", []))
    launcher_gives_up = float(flags.get("start-timeout", START_TIMEOUT_S))
    budget = startup["periodSeconds"] * startup["failureThreshold"]
    assert launcher_gives_up >= 300, "model loading may take minutes (TensorRT engine builds)"
    assert launcher_gives_up < budget <= launcher_gives_up + 120, \
        "the launcher gives up first (its log says why), and the kubelet soon after if it hangs"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_shared_memory_and_graceful_termination(overlay):
    docs = render(overlay)
    pod = one(docs, "Deployment")["spec"]["template"]["spec"]
    (shm,) = [v for v in pod["volumes"] if v["name"] in {m["name"] for m in container(docs)["volumeMounts"]
                                                          if m["mountPath"] == "/dev/shm"}]
    assert shm["emptyDir"]["medium"] == "Memory" and shm["emptyDir"]["sizeLimit"]
    pre_stop = container(docs)["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    assert pod["terminationGracePeriodSeconds"] > int(pre_stop[1]) + STOP_TIMEOUT_S


def test_services_for_grpc_http_and_metrics():
    docs = render("gpu")
    pod_labels = one(docs, "Deployment")["spec"]["template"]["metadata"]["labels"]
    names = {}
    for service in (d for d in docs if d["kind"] == "Service"):
        assert service["spec"]["selector"].items() <= pod_labels.items()
        names[service["metadata"]["name"]] = {p["targetPort"] for p in service["spec"]["ports"]}
    assert names == {"kotox-grpc": {"grpc"}, "kotox-http": {"http"}, "kotox-metrics": {"metrics", "health"}}


def test_grpc_channels_are_recycled_by_the_launcher(tmp_path):
    """The chosen remedy for gRPC pinning is in the flags the launcher (so the container) gives tritonserver."""
    cmd = TritonServer(tmp_path, Ports()).command(tmp_path, tmp_path, tmp_path / "tritonserver")
    assert f"--grpc-max-connection-age={GRPC_MAX_CONNECTION_AGE_MS}" in cmd
    readme = (ROOT / "server" / "k8s" / "README.md").read_text()
    assert "--grpc-max-connection-age" in readme and "round_robin" in readme


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_service_monitor_scrapes_both_ports(overlay):
    """Structural check of the Prometheus Operator CRD, whose schema the validator lacks."""
    docs = render(overlay)
    monitor = one(docs, "ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1" and set(monitor["spec"]) == {"selector", "endpoints"}
    (service,) = [d for d in docs if d["kind"] == "Service"
                  and monitor["spec"]["selector"]["matchLabels"].items() <= d["metadata"].get("labels", {}).items()]
    ports = {p["name"] for p in service["spec"]["ports"]}
    assert {e["port"] for e in monitor["spec"]["endpoints"]} == ports == {"metrics", "health"}
    for endpoint in monitor["spec"]["endpoints"]:
        assert set(endpoint) <= SERVICE_MONITOR_ENDPOINT_KEYS and endpoint["path"] == "/metrics"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_hpa_scales_on_the_adapters_queue_metric(overlay):
    docs = render(overlay)
    hpa = one(docs, "HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"]["name"] == one(docs, "Deployment")["metadata"]["name"]
    (metric,) = hpa["spec"]["metrics"]
    assert metric["type"] == "Pods" and metric["pods"]["target"]["type"] == "AverageValue"
    (adapter,) = [r for r in adapter_rules() if r["name"]["as"] == metric["pods"]["metric"]["name"]]
    series = re.match(r"[\w:]+", adapter["seriesQuery"]).group()
    assert re.fullmatch(adapter["name"]["matches"], series)
    recorded = {r["record"]: r["expr"] for r in rules() if "record" in r}
    assert series in recorded, "the adapter reads a recording rule of rules.yaml"
    assert {"nv_inference_queue_duration_us", "nv_inference_exec_count"} <= set(re.findall(r"nv_\w+", recorded[series]))
    assert "by (namespace, pod)" in recorded[series], "the adapter maps the namespace and pod labels to objects"
    pdb = one(docs, "PodDisruptionBudget")
    assert pdb["spec"]["selector"]["matchLabels"].items() <= one(docs, "Deployment")["spec"]["selector"]["matchLabels"].items()
    assert pdb["spec"]["maxUnavailable"] < hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]


def test_image_tag_is_the_project_version():
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    images = {container(render(overlay))["image"] for overlay in OVERLAYS}
    assert images == {f"kotox-triton:{version}", f"kotox-triton-cpu:{version}"}


def test_container_args_are_launcher_flags():
    """The container runs the launcher: every flag the Deployment appends must be one the launcher takes."""
    usage = subprocess.run([sys.executable, "-m", "kotox_server", "--help"], capture_output=True, text=True,
                           timeout=60, check=True).stdout
    for overlay in OVERLAYS:
        for arg in container(render(overlay))["args"]:
            assert arg.split("=")[0] in usage, f"{arg} is not a flag of python -m kotox_server"


def test_rules_name_the_served_models_and_the_scrape_job():
    text = (ROOT / "server" / "monitoring" / "rules.yaml").read_text()
    dashboard = (ROOT / "server" / "monitoring" / "kotox-dashboard.json").read_text()
    spec = load_spec(ROOT / "kotox.toml")
    assert contract.ENSEMBLE == spec.name
    assert not re.findall(r'model!?=~?"', text), "the rules name no model: the launcher says which are ensembles"
    metrics_service = one(render("gpu"), "ServiceMonitor")["spec"]["selector"]["matchLabels"]
    (service,) = [d for d in render("gpu") if d["kind"] == "Service"
                  and metrics_service.items() <= d["metadata"].get("labels", {}).items()]
    assert set(re.findall(r'job=\\?"([\w-]+)', text + dashboard)) == {service["metadata"]["name"]}, \
        "the Operator names the scrape job after the Service"


def test_promtool_accepts_the_rules():
    done = subprocess.run(["promtool", "check", "rules", str(ROOT / "server" / "monitoring" / "rules.yaml")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(rules())} rules found" in done.stdout


def test_dashboard_json_is_rendered_from_its_description():
    """kotox-dashboard.json is what server/monitoring/dashboard.py writes: edit the panel list, then re-render."""
    module = monitoring_script("dashboard")
    assert module.OUT.read_text() == module.render(), "stale: run .venv/bin/python server/monitoring/dashboard.py"


def test_pod_runs_as_the_images_user():
    dockerfile = ROOT / "server" / "Dockerfile"
    if not dockerfile.exists():
        pytest.skip("server/Dockerfile comes with issue 10 (branch gpu)")
    uid = int(re.search(r"useradd[^\n]*--uid (\d+)", dockerfile.read_text()).group(1))
    for overlay in OVERLAYS:
        pod = one(render(overlay), "Deployment")["spec"]["template"]["spec"]["securityContext"]
        assert pod["runAsNonRoot"] and pod["runAsUser"] == uid


def test_prometheus_rule_is_rules_yaml():
    """The Operator's PrometheusRule is rules.yaml wrapped, as server/monitoring/operator_rules.py writes it."""
    module = monitoring_script("operator_rules")
    assert module.OUT.read_text() == module.render(), "stale: run .venv/bin/python server/monitoring/operator_rules.py"
    for overlay in OVERLAYS:
        rule = one(render(overlay), "PrometheusRule")
        assert rule["apiVersion"] == "monitoring.coreos.com/v1" and set(rule["spec"]) == {"groups"}
        assert [r for group in rule["spec"]["groups"] for r in group["rules"]] == rules()
