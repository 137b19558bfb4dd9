"""CLI: python -m kotox_build [--spec kotox.toml] [--out model_repository] [--runtime auto|onnxruntime|python]."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from kotox_build.export import PRECISIONS, ParityError
from kotox_build.pipeline import BuildError, build
from kotox_build.repository import RUNTIMES
from kotox_build.spec import DEFAULT_SPEC, SpecError, load_spec


def main(argv: list[str] | None = None) -> int:
    """Build the Triton model repository described by a deployment spec."""
    parser = argparse.ArgumentParser(prog="python -m kotox_build", description=main.__doc__)
    parser.add_argument("--spec", type=Path, default=DEFAULT_SPEC, help="deployment spec (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=Path("model_repository"), help="repository folder to write")
    parser.add_argument("--runtime", choices=("auto", *RUNTIMES), default="auto",
                        help="member runtime; auto picks onnxruntime when the server has that backend, else python")
    parser.add_argument("--precision", choices=PRECISIONS, default="fp32",
                        help="member weights: fp32 (parity-checked) or int8 (dynamic quantisation of the fp32 export)")
    parser.add_argument("--threads", type=int, default=None, help="ONNX Runtime intra-op threads per member")
    parser.add_argument("--allow-pickle", action="store_true",
                        help="also load pytorch_model.bin weights (a pickle: loading it can run code; safetensors only "
                             "by default)")
    args = parser.parse_args(argv)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        build(load_spec(args.spec), args.out, args.runtime, args.threads, args.precision, args.allow_pickle)
    except (SpecError, BuildError, ParityError) as err:
        print(f"kotox build failed: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
