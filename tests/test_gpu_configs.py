"""The GPU repository (`--device gpu`): every config parses with Triton 2.51's schema and asks for what production needs."""

import numpy as np
import pytest
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2 as mc

from kotox_build import repository
from kotox_build.export import ONNX_INPUTS
from kotox_build.pipeline import BuildError, build, shared_tokenizer
from kotox_build.spec import FUSION_MODEL, TOKENIZER_MODEL

INSTANCES = 3


def parse(text: str) -> mc.ModelConfig:
    return text_format.Parse(text, mc.ModelConfig())


def read(repo, name: str) -> mc.ModelConfig:
    return parse((repo / name / "config.pbtxt").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def gpu_repository(tiny_spec, tmp_path_factory):
    return build(tiny_spec, tmp_path_factory.mktemp("gpu") / "repo", device="gpu", cpu_instances=INSTANCES)


def trt(config: mc.ModelConfig) -> dict[str, str]:
    (accelerator,) = config.optimization.execution_accelerators.gpu_execution_accelerator
    assert accelerator.name == "tensorrt"
    return dict(accelerator.parameters)


def test_members_run_on_gpus_through_tensorrt_fp16(gpu_repository, tiny_spec):
    for member in tiny_spec.members:
        config = read(gpu_repository, member.name)
        assert config.platform == "onnxruntime_onnx" and not config.backend
        assert [g.kind for g in config.instance_group] == [mc.ModelInstanceGroup.KIND_GPU]
        params = trt(config)
        assert params["precision_mode"] == "FP16"
        assert params["trt_engine_cache_enable"] == "1" and int(params["max_workspace_size_bytes"]) >= 1 << 30
        assert params["trt_engine_cache_path"] == f"{repository.SERVED_AT}/{member.name}/{repository.TRT_CACHE}"
        assert (gpu_repository / member.name / repository.TRT_CACHE).is_dir()
        assert (gpu_repository / member.name / repository.VERSION / "model.onnx").exists()


def test_one_tensorrt_profile_covers_every_shape_the_batcher_sends(gpu_repository, tiny_spec):
    params = trt(read(gpu_repository, tiny_spec.members[0].name))
    widths = repository.pad_widths(tiny_spec, "onnxruntime")
    for bound, (batch, tokens) in {"min": (1, 1), "max": (tiny_spec.max_batch_size, widths[-1])}.items():
        shapes = dict(item.split(":") for item in params[f"trt_profile_{bound}_shapes"].split(","))
        assert shapes == {name: f"{batch}x{tokens}" for name in ONNX_INPUTS}


def test_members_build_their_engines_at_load_on_a_real_comment(gpu_repository, tiny_spec):
    """model_warmup: one tokenized comment per member before Triton reports it ready (the engine build is lazy)."""
    expected = shared_tokenizer(tiny_spec)(repository.WARMUP_COMMENT, return_token_type_ids=True)
    for member in tiny_spec.members:
        (sample,) = read(gpu_repository, member.name).model_warmup
        assert sample.batch_size == 1 and sample.count == 1 and set(sample.inputs) == set(ONNX_INPUTS)
        for name, tensor in sample.inputs.items():
            data = (gpu_repository / member.name / repository.WARMUP / tensor.input_data_file).read_bytes()
            assert tensor.data_type == mc.TYPE_INT64 and list(tensor.dims) == [len(expected[name])]
            assert np.frombuffer(data, "<i8").tolist() == expected[name]


def test_gpu_members_wait_briefly_for_preferred_batches(gpu_repository, tiny_spec):
    batching = read(gpu_repository, tiny_spec.members[0].name).dynamic_batching
    assert batching.preferred_batch_size and max(batching.preferred_batch_size) <= tiny_spec.max_batch_size
    assert 0 < batching.max_queue_delay_microseconds <= 1000


def test_served_entry_is_one_python_model_that_tokenizes_in_buckets_in_several_cpu_processes(gpu_repository,
                                                                                            tiny_spec):
    entry = read(gpu_repository, tiny_spec.name)
    assert entry.backend == "python" and not entry.platform
    assert [(g.kind, g.count) for g in entry.instance_group] == [(mc.ModelInstanceGroup.KIND_CPU, INSTANCES)]
    assert entry.parameters["pad_widths"].string_value != "[]"
    assert entry.dynamic_batching.max_queue_delay_microseconds == 0  # requests gather while it runs a batch
    assert entry.dynamic_batching.default_queue_policy.max_queue_size == tiny_spec.max_queue_size
    assert not entry.response_cache.enable  # 2.51 would cache its error answers as empty successes
    assert [o.name for o in entry.output] == list(tiny_spec.outputs)
    folder = gpu_repository / tiny_spec.name / repository.VERSION
    for source, copy in (("bls_entry.py", "model.py"), ("tokenizer.py", "tokenizer.py"), ("fusion.py", "fusion.py"),
                         ("refusals.py", "refusals.py")):
        assert (folder / copy).read_bytes() == (repository.PYTHON_MODELS / source).read_bytes()
    assert (folder / "tokenizer.json").exists()
    assert not (gpu_repository / TOKENIZER_MODEL).exists() and not (gpu_repository / FUSION_MODEL).exists()


def test_entry_calls_one_ensemble_of_the_members_on_the_same_tokens(gpu_repository, tiny_spec):
    entry = read(gpu_repository, tiny_spec.name)
    members = read(gpu_repository, entry.parameters["members_model"].string_value)
    assert members.platform == "ensemble"
    steps = members.ensemble_scheduling.step
    assert [s.model_name for s in steps] == [m.name for m in tiny_spec.members]
    assert all(dict(s.input_map) == {n: n for n in ONNX_INPUTS} for s in steps)
    assert sorted(o.name for o in members.output) == sorted(dict(s.output_map)["logits"] for s in steps)


def test_ensemble_entry_keeps_tokenizer_and_fusion_in_several_cpu_processes(tiny_spec, tmp_path):
    repo = build(tiny_spec, tmp_path / "repo", device="gpu", cpu_instances=INSTANCES, entry="ensemble")
    assert read(repo, tiny_spec.name).platform == "ensemble"
    assert read(repo, TOKENIZER_MODEL).dynamic_batching.max_queue_delay_microseconds > 0
    for name in (TOKENIZER_MODEL, FUSION_MODEL):
        groups = [(g.kind, g.count) for g in read(repo, name).instance_group]
        assert groups == [(mc.ModelInstanceGroup.KIND_CPU, INSTANCES)], name


def test_fp32_is_the_exact_variant(tiny_spec):
    config = repository.on_gpu(repository.member_config(tiny_spec, "m", "onnxruntime", 1), tiny_spec, "fp32")
    assert trt(parse(repository.render(config)))["precision_mode"] == "FP32"


def test_default_cpu_instances_follow_the_node_cores():
    assert [repository.cpu_instances(n, "ensemble", "gpu") for n in (1, 2, 4, 8, 32)] == [1, 1, 1, 2, 8]
    assert [repository.cpu_instances(n, "bls", "gpu") for n in (1, 2, 4, 8, 32)] == [2, 2, 2, 4, 16]
    assert repository.cpu_instances(32, "ensemble", "cpu") == 1 and repository.cpu_instances(32, "bls", "cpu") == 2


@pytest.mark.parametrize("kwargs, message", [
    ({"precision": "int8"}, "int8 is the CPU build"),
    ({"runtime": "python"}, "CPU-only"),
    ({"cpu_instances": 0}, "at least 1"),
    ({"entry": "pipeline"}, "unknown entry 'pipeline'"),
    ({"cpu_instances": 1}, "BLS entry needs at least 2"),
])
def test_bad_gpu_choices_are_refused_by_name(tiny_spec, tmp_path, kwargs, message):
    with pytest.raises(BuildError, match=message):
        build(tiny_spec, tmp_path / "repo", device="gpu", **kwargs)
