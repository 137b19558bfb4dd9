"""perf_analyzer (Triton's own load tester) runs against the served ensemble with real comments as input data."""

import json
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "loadtest"))

import gpu_bench  # noqa: E402
import perf  # noqa: E402
from kotox_build.data import traffic_comments  # noqa: E402


def test_input_data_holds_one_real_comment_per_entry(tmp_path):
    comments = traffic_comments(5)
    data = json.loads(perf.write_input_data(comments, tmp_path / "in.json").read_text(encoding="utf-8"))["data"]
    assert [entry["TEXT"]["content"] for entry in data] == [[c] for c in comments]
    assert all(entry["TEXT"]["shape"] == [1] for entry in data)


@pytest.mark.integration
@pytest.mark.parametrize("batch", [1, 4])
def test_perf_analyzer_measures_the_served_ensemble(server, tiny_spec, tmp_path, batch):
    data = perf.write_input_data(traffic_comments(50), tmp_path / "in.json")
    row = perf.run_perf(server.ports.grpc_url, tiny_spec.name, data, batch, 2, tmp_path / "out.csv",
                        window_s=1.0, stability=100)
    assert row["texts_per_s"] > 0 and row["requests_per_s"] == pytest.approx(row["texts_per_s"] / batch)
    assert int(row["Concurrency"]) == 2 and float(row["p50 latency"]) > 0


@pytest.mark.skipif(shutil.which("docker") and shutil.which("nvidia-smi"), reason="a GPU machine: it would run")
def test_gpu_bench_refuses_clearly_where_there_is_no_gpu_or_docker():
    with pytest.raises(SystemExit, match="needs a GPU machine with Docker"):
        gpu_bench.require_gpu_machine()


def test_feed_variant_swaps_members_for_constants_and_rewrites_tokenizer_and_fusion(tiny_repository, tiny_spec,
                                                                                    tmp_path):
    import feed
    from google.protobuf import text_format
    from tritonclient.grpc import model_config_pb2 as mc

    members = [m.name for m in tiny_spec.members]
    repo = feed.trivial_members(tiny_repository, members, tmp_path / "feed")
    feed.set_variant(repo, "tokenizer", 3, 200, 100)
    config = text_format.Parse((repo / "tokenizer" / "config.pbtxt").read_text(), mc.ModelConfig())
    assert config.instance_group[0].count == 3 and config.dynamic_batching.max_queue_delay_microseconds == 200
    fusion = text_format.Parse((repo / "fusion" / "config.pbtxt").read_text(), mc.ModelConfig())
    assert fusion.dynamic_batching.max_queue_delay_microseconds == 100
    for name in members:
        assert (repo / name / "1" / "model.py").read_bytes() == feed.TRIVIAL_MODEL.read_bytes()
    assert (repo / "tokenizer" / "1" / "model.py").read_bytes() != feed.TRIVIAL_MODEL.read_bytes()


def test_gpu_node_feed_leaves_out_python_members_and_the_load_generator():
    import feed

    cpu_us = {"tritonserver": 100.0, "tokenizer": 150.0, "fusion": 250.0, "phase2": 1000.0, "perf_analyzer": 50.0}
    assert feed.gpu_node_feed(cpu_us, ["phase2"]) == pytest.approx(2000.0)
