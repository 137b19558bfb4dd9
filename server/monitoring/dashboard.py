"""Render the kotox Grafana dashboard (kotox-dashboard.json) from the panel list below: python dashboard.py."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "kotox-dashboard.json"
M = 'model=~"$model"'  # every per-model query follows the dashboard's model picker
RATE = "$__rate_interval"


@dataclass(frozen=True)
class Panel:
    """One time-series panel: a title, a unit Grafana knows, and (PromQL, legend) pairs."""

    title: str
    unit: str
    targets: tuple[tuple[str, str], ...]
    description: str


PANELS = (
    Panel("Requests per second", "reqps",
          ((f"sum by (model) (rate(nv_inference_request_success{{{M}}}[{RATE}]))", "{{model}} requests"),
           (f"sum by (model) (rate(nv_inference_count{{{M}}}[{RATE}]))", "{{model}} texts")),
          "Successful requests and the comments (rows) they carried, whole fleet."),
    Panel("Failures by reason", "reqps",
          ((f"sum by (model, reason) (rate(nv_inference_request_failure{{{M}}}[{RATE}]))", "{{model}} {{reason}}"),
           (f"sum by (model, reason) (rate(kotox_refused_requests_total{{{M}}}[{RATE}]))", "{{model}} refused: {{reason}}")),
          "REJECTED: queue timeout (overload shed); BACKEND: model code or a dead stub; CANCELED: the client gave up; "
          "OTHER on an ensemble: each failed request twice, whatever the cause. Triton counts a Python model's "
          "refusals as successes: those models count them (refused: overload or bad_input)."),
    Panel("Average latency", "ms",
          ((f"sum by (model) (rate(nv_inference_request_duration_us{{{M}}}[{RATE}])) / 1000"
            f" / sum by (model) (rate(nv_inference_request_success{{{M}}}[{RATE}]))", "{{model}}"),),
          "Server-side time per successful request, from arrival to response."),
    Panel("p99 latency", "ms",
          ((f'max by (model) (nv_inference_request_summary_us{{{M},quantile="0.99"}}) / 1000', "{{model}} p99"),
           (f'max by (model) (nv_inference_compute_infer_summary_us{{{M},quantile="0.99"}}) / 1000',
            "{{model}} compute p99")),
          "Worst pod's p99 (Triton summaries, --metrics-config=summary_latencies=true; quantiles of pods do not "
          "add up, so the worst is shown). The ensemble reports its end-to-end time as compute."),
    Panel("Queue vs compute per request", "ms",
          ((f"sum by (model) (rate(nv_inference_queue_duration_us{{{M}}}[{RATE}])) / 1000"
            f" / sum by (model) (rate(nv_inference_request_success{{{M}}}[{RATE}]))", "{{model}} queue"),
           (f"(sum by (model) (rate(nv_inference_compute_input_duration_us{{{M}}}[{RATE}]))"
            f" + sum by (model) (rate(nv_inference_compute_infer_duration_us{{{M}}}[{RATE}]))"
            f" + sum by (model) (rate(nv_inference_compute_output_duration_us{{{M}}}[{RATE}]))) / 1000"
            f" / sum by (model) (rate(nv_inference_request_success{{{M}}}[{RATE}]))", "{{model}} compute")),
          "Waiting in a model's queue against running it: queue growing while compute stays flat means overload."),
    Panel("Queue ms per execution (autoscaling signal)", "ms",
          (("kotox:queue_ms_per_execution:rate1m", "{{pod}}"),),
          "The HPA's metric per pod (recording rule); the HPA adds pods while the average is over its target."),
    Panel("Average batch size", "short",
          ((f"sum by (model) (rate(nv_inference_count{{{M}}}[{RATE}]))"
            f" / sum by (model) (rate(nv_inference_exec_count{{{M}}}[{RATE}]))", "{{model}}"),),
          "Comments per model execution: the dynamic batcher's work. 1 under load means nothing batches."),
    Panel("Response-cache hit ratio", "percentunit",
          ((f"sum by (model) (rate(nv_cache_num_hits_per_model{{{M}}}[{RATE}]))"
            f" / (sum by (model) (rate(nv_cache_num_hits_per_model{{{M}}}[{RATE}]))"
            f" + sum by (model) (rate(nv_cache_num_misses_per_model{{{M}}}[{RATE}])))", "{{model}}"),),
          "Ensemble requests answered from Triton's response cache (every model skipped)."),
    Panel("Stub and server restarts (last hour)", "short",
          (("sum by (model) (increase(kotox_stub_restarts_total[1h]))", "{{model}} stubs"),
           ("sum by (pod) (increase(kotox_server_restarts_total[1h]))", "{{pod}} tritonserver")),
          "Dead Python stubs the launcher's supervisor healed (reloading the model), and tritonserver processes it "
          "started again (--heal restart, or after an exit)."),
    Panel("Ready pods", "short",
          (("sum(kotox_ready)", "ready"), ('count(up{job="kotox-metrics",endpoint="health"})', "scraped")),
          "Pods whose supervisor reports ready (Triton ready, every stub alive, not healing) against pods scraped."),
    Panel("CPU utilisation", "percentunit",
          (("avg by (pod) (nv_cpu_utilization)", "{{pod}}"),),
          "Triton's view of the node's CPUs. On GPU nodes the tokenizer and plumbing run here."),
    Panel("GPU utilisation and memory", "percentunit",
          (("avg by (pod, gpu_uuid) (nv_gpu_utilization)", "{{pod}} {{gpu_uuid}} busy"),
           ("max by (pod, gpu_uuid) (nv_gpu_memory_used_bytes / nv_gpu_memory_total_bytes)",
            "{{pod}} {{gpu_uuid}} memory")),
          "GPU nodes only: Triton exports these where it sees a GPU."),
)


def panel_json(index: int, panel: Panel) -> dict:
    """A Grafana timeseries panel, two to a row."""
    return {
        "id": index + 1, "type": "timeseries", "title": panel.title, "description": panel.description,
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "gridPos": {"h": 8, "w": 12, "x": 12 * (index % 2), "y": 8 * (index // 2)},
        "fieldConfig": {"defaults": {"unit": panel.unit}, "overrides": []},
        "targets": [{"refId": chr(ord("A") + i), "expr": expr, "legendFormat": legend,
                     "datasource": {"type": "prometheus", "uid": "${datasource}"}}
                    for i, (expr, legend) in enumerate(panel.targets)],
    }


def dashboard() -> dict:
    """The whole dashboard: a Prometheus data-source picker, a model picker, the panels."""
    return {
        "title": "kotox", "uid": "kotox", "tags": ["kotox", "triton"], "timezone": "browser",
        "schemaVersion": 39, "refresh": "30s", "time": {"from": "now-1h", "to": "now"},
        "templating": {"list": [
            {"name": "datasource", "type": "datasource", "query": "prometheus", "label": "Prometheus"},
            {"name": "model", "type": "query", "label": "model", "multi": True, "includeAll": True,
             "allValue": ".*", "current": {"text": "All", "value": "$__all"}, "refresh": 2,
             "datasource": {"type": "prometheus", "uid": "${datasource}"},
             "query": {"query": "label_values(nv_inference_request_success, model)", "refId": "models"},
             "definition": "label_values(nv_inference_request_success, model)"},
        ]},
        "panels": [panel_json(i, p) for i, p in enumerate(PANELS)],
    }


def render() -> str:
    """The dashboard as the JSON text committed beside this file."""
    return json.dumps(dashboard(), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    OUT.write_text(render())
    print(f"wrote {OUT}", file=sys.stderr)
