"""The served contract: names and default ports shared by the server, the build and every client."""

ENSEMBLE = "toxicity"
INPUT_TEXT = "TEXT"
OUTPUT_LABEL = "label"
OUTPUT_TOXIC_PROB = "toxic_prob"
OUTPUT_MEMBER_PROBS = "member_probs"
OUTPUTS = (OUTPUT_LABEL, OUTPUT_TOXIC_PROB, OUTPUT_MEMBER_PROBS)

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
