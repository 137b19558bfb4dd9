"""The main job: train the demo members (cached), build, serve, classify the task's sample texts, report on its
held-out sets beside the TF-IDF baseline, stop. Any spec: `--spec examples/nsmc-sentiment.toml` (make sentiment)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from kotox_build.data import CORPORA
from kotox_build.pipeline import build
from kotox_build.spec import DEFAULT_SPEC, load_spec
from kotox_client import ToxicityClient
from kotox_server.report import evaluate, markdown, report_folder, write_report
from kotox_server.triton import Ports, TritonServer

SAMPLES = {  # per task (the spec's `ensemble.data`)
    "toxicity": [
        "음식이 신선하고 직원도 친절해요",
        "배우들 연기가 너무 좋아서 두 번 봤어요",
        "기사 잘 읽었습니다 좋은 하루 보내세요",
        "너 같은 놈은 인터넷 하지 마라 한심하다",
        "진짜 개념 없는 쓰레기 같은 인간이네",
        "얼굴도 못생긴 게 나대지 마라 꺼져",
        "이런 기사 쓰는 기자는 머리가 비었냐",
        "ㅋㅋㅋ 병신같은 소리 하고 있네",
    ],
    "nsmc": [  # the six everyday reviews of the KoELECTRA-small NSMC document (issue 13): +, -, +, -, +, -
        "음식이 신선하고 직원도 친절해요",
        "위생 상태가 엉망이고 너무 짜요",
        "의사 선생님이 자세히 설명해주셔서 좋았어요",
        "대기 시간이 너무 길고 불친절해요",
        "가격 대비 품질이 정말 좋습니다",
        "배송도 느리고 포장이 엉망이네요",
    ],
}


def print_table(texts: list[str], results, members: list[str]) -> None:
    """One row per text: label and score (as a HF pipeline gives them), the fused probability of label 1 under its
    served name, each member's."""
    width, prob = max(len("label"), *(len(r.label) for r in results)), results[0].prob_name
    columns = {m: max(8, len(m)) for m in members}
    header = f"{'label':<{width}} {'score':>6} {prob} " + " ".join(f"{m:>{w}}" for m, w in columns.items()) + "  text"
    print(header)
    print("-" * len(header))
    for text, r in zip(texts, results):
        probs = " ".join(f"{r.member_probs[m]:>{w}.3f}" for m, w in columns.items())
        print(f"{r.label:<{width}} {r.score:>6.3f} {r.prob:>{len(prob)}.3f} {probs}  {text}")


def main(argv: list[str] | None = None) -> int:
    """Run the whole trip on a spec: demo members -> repository -> tritonserver -> client -> report."""
    parser = argparse.ArgumentParser(prog="python -m kotox_server.demo", description=main.__doc__)
    parser.add_argument("--spec", type=Path, default=DEFAULT_SPEC)
    parser.add_argument("--repository", type=Path, default=Path("model_repository"))
    parser.add_argument("--grpc-port", type=int, default=Ports.grpc)
    parser.add_argument("--http-port", type=int, default=Ports.http)
    parser.add_argument("--metrics-port", type=int, default=Ports.metrics)
    args = parser.parse_args(argv)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

    spec = load_spec(args.spec)
    build(spec, args.repository)
    ports = Ports(http=args.http_port, grpc=args.grpc_port, metrics=args.metrics_port)
    print(f"kotox demo: starting tritonserver (gRPC {ports.grpc_url}) ...", flush=True)
    samples, sets = SAMPLES[spec.data], CORPORA[spec.data].evaluation_sets
    with TritonServer(args.repository, ports) as server, ToxicityClient(server.ports.grpc_url, spec.name) as client:
        print(f"kotox demo: {spec.name} ready; classifying {len(samples)} sample texts over gRPC\n", flush=True)
        print_table(samples, client.classify(samples), list(client.deployment.members))
        print(f"\nkotox demo: scoring {' and '.join(title.split(' (')[0] for title, _ in sets.values())} through the "
              "served ensemble, and the TF-IDF baseline ...", flush=True)
        report = evaluate(client, spec)
    print("kotox demo: server stopped\n", flush=True)
    path = write_report(report, report_folder(spec))
    print(f"{markdown(report)}\nkotox demo: report written to {path} (and .json)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
