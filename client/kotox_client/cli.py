"""CLI: `kotox-classify "comment" ...` or comments on stdin, one a line; prints one JSON line per comment."""

from __future__ import annotations

import argparse
import json
import sys

from kotox_client import contract
from kotox_client.client import ToxicityClient
from kotox_client.errors import KotoxError


def main(argv: list[str] | None = None) -> int:
    """Classify comments given as arguments, or read from stdin, with the kotox ensemble."""
    parser = argparse.ArgumentParser(prog="kotox-classify", description=main.__doc__)
    parser.add_argument("texts", nargs="*", help="comments to classify (default: read stdin lines)")
    parser.add_argument("--url", default=contract.DEFAULT_URL, help="Triton gRPC address (default: %(default)s)")
    parser.add_argument("--model", default=contract.ENSEMBLE, help="ensemble name (default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=None, help="rows per request (default: server maximum)")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per request (default: %(default)s)")
    args = parser.parse_args(argv)
    texts = args.texts or [line.rstrip("\n") for line in sys.stdin]
    try:
        with ToxicityClient(args.url, args.model, args.batch_size, args.timeout) as client:
            results = client.classify(texts)
    except KotoxError as err:
        print(f"kotox-classify: {type(err).__name__}: {err}", file=sys.stderr)
        return 1
    for text, result in zip(texts, results):
        print(json.dumps({"text": text, **result.to_dict()}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
