"""Wrap rules.yaml in a PrometheusRule for the Prometheus Operator (server/k8s/components/prometheus-operator):
python operator_rules.py. rules.yaml stays the one place the rules are written."""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
RULES = HERE / "rules.yaml"
OUT = HERE.parent / "k8s" / "components" / "prometheus-operator" / "prometheusrule.yaml"
HEADER = "# Generated from server/monitoring/rules.yaml by server/monitoring/operator_rules.py: do not edit.\n"


class _Dumper(yaml.SafeDumper):
    """Writes multi-line strings (long PromQL) as literal blocks, as a person would."""


_Dumper.add_representer(str, lambda dumper, text: dumper.represent_scalar(
    "tag:yaml.org,2002:str", text, style="|" if "\n" in text else None))


def render() -> str:
    """The PrometheusRule document, its spec being rules.yaml's groups."""
    rule = {"apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule", "metadata": {"name": "kotox"},
            "spec": yaml.safe_load(RULES.read_text())}
    return HEADER + yaml.dump(rule, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=120)


if __name__ == "__main__":
    OUT.write_text(render())
    print(f"wrote {OUT}", file=sys.stderr)
