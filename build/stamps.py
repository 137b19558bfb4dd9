"""Build stamps: a JSON file beside a build output records the digest of the inputs it was made from."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path


def hash_file(digest: "hashlib._Hash", path: Path) -> None:
    """Feed a file's bytes into `digest`, a megabyte at a time."""
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)


def is_current(output: Path, stamp: Path, inputs: str) -> bool:
    """True when `output` exists and `stamp` says it was made from exactly `inputs`."""
    return output.exists() and stamp.exists() and json.loads(stamp.read_text()).get("inputs") == inputs


def write_stamp(stamp: Path, inputs: str, **details) -> None:
    """Record that the output beside `stamp` was made from `inputs`, with `details` for people."""
    stamp.write_text(json.dumps({"inputs": inputs, **details}, indent=1))
