"""Generated configs parse with Triton's ModelConfig schema and agree with the spec."""

import json

import pytest
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2 as mc

from kotox_build import repository
from kotox_build.export import ONNX_INPUTS
from kotox_build.spec import FUSION_MODEL, TOKENIZER_MODEL
from kotox_client import contract


def parse(text: str) -> mc.ModelConfig:
    return text_format.Parse(text, mc.ModelConfig())


@pytest.fixture(scope="module")
def configs(tiny_repository) -> dict[str, mc.ModelConfig]:
    return {p.parent.name: parse(p.read_text()) for p in tiny_repository.glob("*/config.pbtxt")}


def test_every_model_is_written_and_parses(configs, tiny_spec):
    assert set(configs) == {TOKENIZER_MODEL, FUSION_MODEL, tiny_spec.name, *(m.name for m in tiny_spec.members)}


def test_batchable_models_batch_dynamically(configs, tiny_spec):
    for name, config in configs.items():
        assert config.max_batch_size == tiny_spec.max_batch_size, name
        if config.platform != "ensemble":
            assert config.HasField("dynamic_batching"), name


def test_onnxruntime_member_config_parses(tiny_spec):
    config = parse(repository.render(repository.member_config(tiny_spec, "m", "onnxruntime", 3)))
    assert config.platform == "onnxruntime_onnx" and not config.backend
    assert [i.name for i in config.input] == list(ONNX_INPUTS)
    assert config.parameters["intra_op_thread_count"].string_value == "3"
    assert config.HasField("dynamic_batching") and not config.instance_group  # GPU when there is one
    assert not any(i.allow_ragged_batch for i in config.input)  # its batcher needs equal shapes: see pad_widths


def test_python_members_take_ragged_batches(configs, tiny_spec):
    for member in tiny_spec.members:
        assert all(i.allow_ragged_batch for i in configs[member.name].input), member.name


def test_tokenizer_and_python_members_name_the_schedule_and_delay_files_alike(configs, tiny_spec):
    shared = ("schedule_tensor", "delay_files")
    tokenizer = {k: configs[TOKENIZER_MODEL].parameters[k].string_value for k in shared}
    assert tokenizer["schedule_tensor"] in {o.name for o in configs[TOKENIZER_MODEL].output}
    for member in tiny_spec.members:
        config = configs[member.name]
        assert {k: config.parameters[k].string_value for k in shared} == tokenizer, member.name
        assert tokenizer["schedule_tensor"] in {i.name for i in config.input}, member.name


@pytest.mark.parametrize("runtime", repository.RUNTIMES)
def test_tokenizer_pads_to_length_buckets_only_for_the_onnxruntime_backend(tiny_spec, runtime):
    config = repository.tokenizer_config(tiny_spec, 0, runtime)
    widths = json.loads(config.parameters["pad_widths"].string_value)
    if runtime == "python":
        assert widths == []
    else:
        assert widths == sorted(set(widths)) and widths[-1] == tiny_spec.max_tokens and len(widths) > 2


@pytest.mark.parametrize("runtime", repository.RUNTIMES)
def test_overload_bound_is_a_deadline_for_python_members_else_the_tokenizers_queue_policy(tiny_spec, runtime):
    """Any queue-policy field turns off the batcher's prefetching (0.5 s stalls in 2.51): only where members cannot
    shed late requests themselves does the tokenizer carry one."""
    config = repository.tokenizer_config(tiny_spec, 0, runtime)
    outputs = [o.name for o in config.output]
    policy = config.dynamic_batching.default_queue_policy
    if runtime == "python":
        assert repository.SCHEDULE in outputs and not config.dynamic_batching.HasField("default_queue_policy")
    else:
        assert repository.SCHEDULE not in outputs
        assert policy.max_queue_size == tiny_spec.max_queue_size and policy.allow_timeout_override
        assert policy.default_timeout_microseconds == tiny_spec.queue_timeout_ms * 1000


def test_ensemble_wires_every_tensor(configs, tiny_spec):
    ensemble = configs[tiny_spec.name]
    produced = {contract.INPUT_TEXT}
    consumed = set()
    for step in ensemble.ensemble_scheduling.step:
        step_config = configs[step.model_name]
        assert set(step.input_map) == {i.name for i in step_config.input}
        assert set(step.output_map) <= {o.name for o in step_config.output}
        assert set(step.input_map.values()) <= produced, f"{step.model_name} reads a tensor not yet produced"
        consumed |= set(step.input_map.values())
        produced |= set(step.output_map.values())
    assert {o.name for o in ensemble.output} == set(contract.OUTPUTS) <= produced
    assert produced - set(contract.OUTPUTS) == consumed


def test_members_run_in_parallel_on_the_same_tokens(configs, tiny_spec):
    steps = {s.model_name: s for s in configs[tiny_spec.name].ensemble_scheduling.step}
    token_maps = [dict(steps[m.name].input_map) for m in tiny_spec.members]
    assert all(t == dict(steps[TOKENIZER_MODEL].output_map) for t in token_maps)


def test_fusion_parameters_come_from_the_spec(configs, tiny_spec):
    params = {k: v.string_value for k, v in configs[FUSION_MODEL].parameters.items()}
    assert json.loads(params["members"]) == [m.name for m in tiny_spec.members]
    assert json.loads(params["weights"]) == tiny_spec.weights
    assert json.loads(params["labels"]) == list(tiny_spec.labels)
    assert float(params["threshold"]) == tiny_spec.threshold
    assert configs[FUSION_MODEL].output[2].dims == [len(tiny_spec.members)]


def test_tokenizer_files_ship_with_the_tokenizer_model(tiny_repository, tiny_spec):
    params = {k: v.string_value for k, v in parse((tiny_repository / TOKENIZER_MODEL / "config.pbtxt").read_text())
              .parameters.items()}
    assert int(params["max_tokens"]) == tiny_spec.max_tokens
    assert (tiny_repository / TOKENIZER_MODEL / repository.VERSION / "tokenizer.json").exists()
