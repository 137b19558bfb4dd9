"""CLI: python -m kotox_build [--spec kotox.toml] [--out model_repository] [--runtime auto|onnxruntime|python]
[--device cpu|gpu] [--entry ensemble|bls] [--precision ...] [--cpu-instances N]."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from kotox_build.export import PRECISIONS, ParityError
from kotox_build.pipeline import BuildError, build
from kotox_build.repository import DEFAULT_REPOSITORY, DEVICES, ENTRIES, GPU_PRECISIONS, RUNTIMES
from kotox_build.spec import DEFAULT_SPEC, SpecError, load_spec


def main(argv: list[str] | None = None) -> int:
    """Build the Triton model repository described by a deployment spec."""
    parser = argparse.ArgumentParser(prog="python -m kotox_build", description=main.__doc__)
    parser.add_argument("--spec", type=Path, default=DEFAULT_SPEC, help="deployment spec (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=DEFAULT_REPOSITORY,
                        help="repository folder to write (default: the project's model_repository/)")
    parser.add_argument("--runtime", choices=("auto", *RUNTIMES), default="auto",
                        help="member runtime; auto picks onnxruntime when the server has that backend, else python")
    parser.add_argument("--device", choices=DEVICES, default="cpu",
                        help="cpu (default) or gpu: members on the ONNX Runtime backend with TensorRT, KIND_GPU")
    parser.add_argument("--entry", choices=ENTRIES, default=None,
                        help="the served model: the Triton ensemble (default on cpu), or bls (default on gpu): one "
                             "Python model that tokenizes, calls the members' ensemble once per batch and fuses, "
                             "for about half the CPU per single-comment request (loadtest/feed.py)")
    parser.add_argument("--precision", choices=sorted({*PRECISIONS, *GPU_PRECISIONS}), default=None,
                        help="cpu: fp32 (default, parity-checked) or int8 (dynamic quantisation of the fp32 export); "
                             "gpu: fp16 (default, TensorRT FP16) or fp32 (exact)")
    parser.add_argument("--threads", type=int, default=None, help="ONNX Runtime intra-op threads per member")
    parser.add_argument("--cpu-instances", type=int, default=None,
                        help="processes of the BLS entry (at least 2), or each of the tokenizer and fusion (default: "
                             "1 on cpu, BLS entry 2; on gpu one entry per 2 cores, or one tokenizer and fusion per 4 "
                             "cores, of the machine that builds, so build on the GPU node or set it)")
    parser.add_argument("--allow-pickle", action="store_true",
                        help="also load pytorch_model.bin weights (a pickle: loading it can run code; safetensors only "
                             "by default)")
    args = parser.parse_args(argv)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        build(load_spec(args.spec), args.out, args.runtime, args.threads, args.precision, args.device,
              args.cpu_instances, args.allow_pickle, args.entry)
    except (SpecError, BuildError, ParityError) as err:
        print(f"kotox build failed: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
