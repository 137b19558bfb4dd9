"""The served contract: names and default ports shared by the server, the build and every client."""

ENSEMBLE = "toxicity"
LABELS = ("clean", "toxic")  # the toxicity deployment's labels 0 and 1; a deployment's spec may name others
INPUT_TEXT = "TEXT"
OUTPUT_LABEL = "label"
OUTPUT_MEMBER_PROBS = "member_probs"


def prob_output(labels: tuple[str, str]) -> str:
    """The fused-probability output of a deployment, named after its label 1: `toxic_prob`, `positive_prob`."""
    return f"{labels[1]}_prob"


def outputs(labels: tuple[str, str]) -> tuple[str, str, str]:
    """A deployment's outputs, in this order: label, fused probability of label 1, member probabilities."""
    return OUTPUT_LABEL, prob_output(labels), OUTPUT_MEMBER_PROBS


OUTPUT_TOXIC_PROB = prob_output(LABELS)
OUTPUTS = outputs(LABELS)  # the toxicity contract: label, toxic_prob, member_probs

# Ensemble config parameters that describe the deployment to clients.
PARAM_MEMBERS = "members"
PARAM_LABELS = "labels"
PARAM_MAX_COMMENT_BYTES = "max_comment_bytes"

DEFAULT_HOST = "127.0.0.1"
DEFAULT_HTTP_PORT = 8000
DEFAULT_GRPC_PORT = 8001
DEFAULT_METRICS_PORT = 8002
DEFAULT_HEALTH_PORT = 8003  # the kotox supervisor: /health/live, /health/ready (catches dead Python stubs), /metrics
DEFAULT_URL = f"{DEFAULT_HOST}:{DEFAULT_GRPC_PORT}"
