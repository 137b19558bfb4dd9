"""Counters of the requests a kotox Python model refused, by reason, on Triton's metrics port: Triton 2.51 counts a
Python model's error answers as successes. Copied by the build beside each model.py that imports it."""

import triton_python_backend_utils as pb_utils

REASONS = ("overload", "bad_input")  # overload: shed, or past its deadline; bad_input: the caller's error


class Refusals:
    """One counter per reason for `model`, in the metric family the build names (`refusals_metric` parameter)."""

    def __init__(self, metric: str, model: str):
        self.family = pb_utils.MetricFamily(name=metric, kind=pb_utils.MetricFamily.COUNTER,  # outlives its metrics
                                            description="Requests a kotox Python model answered with an error, by "
                                                        "reason: overload (shed, or past its deadline) or bad_input")
        self.counters = {reason: self.family.Metric(labels={"model": model, "reason": reason}) for reason in REASONS}

    def count(self, reason: str, requests: int) -> None:
        if requests:
            self.counters[reason].increment(requests)
