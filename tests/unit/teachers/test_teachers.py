"""The teacher registry and the ready-made confs for the real targets."""

import dataclasses

import pytest

from raydistill.config import load
from raydistill.config.loader import to_dict
from raydistill.teachers import TEACHERS, constructor_kwargs, get_teacher, request_seed
from raydistill.teachers.config import SamplingConfig, StopOnRepetitionConfig
from raydistill.teachers.placement import remote_args, replica_layout
from raydistill.teachers.vllm_engine import engine_args


def test_registry_names_the_known_teachers():
    assert set(TEACHERS) == {"vllm", "openai"}
    with pytest.raises(KeyError, match="known: openai, vllm"):
        get_teacher("nope")


def test_openthoughts_conf_is_tp2_replicas_on_8_gpu_nodes():
    teacher = to_dict(load(["conf=openthoughts"]))["teacher"]
    layout = replica_layout(teacher)
    assert (layout.strategy, len(layout.bundles)) == ("STRICT_PACK", 2)
    assert teacher["replicas"] * 2 % 8 == 0  # whole 8-GPU nodes
    args = engine_args(teacher)
    assert (args["model"], args["tensor_parallel_size"], args["dtype"]) == (
        "deepseek-ai/DeepSeek-R1-Distill-Qwen-32B", 2, "bfloat16")
    assert args["distributed_executor_backend"] == "ray"
    assert load(["conf=openthoughts"]).source.limit >= 100_000


def test_ascend_conf_asks_ray_for_npus():
    teacher = to_dict(load(["conf=ascend"]))["teacher"]
    args = remote_args(teacher)
    assert args["resources"] == {"NPU": 1.0} and args["num_gpus"] == 0.0
    assert "ray_remote_args_fn" not in args


def test_gsm8k_r1_api_conf_needs_its_key(monkeypatch):
    cfg = to_dict(load(["conf=gsm8k_r1_api"]))
    assert (cfg["teacher"]["name"], cfg["teacher"]["model"]) == ("openai", "deepseek-reasoner")
    monkeypatch.setenv("DEEPSEEK_API_KEY", "sk-x")
    typed = load(["conf=gsm8k_r1_api"])
    kwargs = constructor_kwargs(typed.teacher, typed.sampling)
    assert kwargs["api_key"].reveal() == "sk-x"
    assert "sk-x" not in repr(kwargs) and "sk-x" not in repr(cfg)


def test_vllm_sampling_params_follow_the_sampling_config():
    from vllm import SamplingParams
    from vllm.sampling_params import RequestOutputKind

    from raydistill.teachers.vllm_engine import VLLMTeacher

    teacher = VLLMTeacher.__new__(VLLMTeacher)  # the parameters only: no engine
    teacher.make_params = SamplingParams
    teacher.output_kinds = (RequestOutputKind.FINAL_ONLY, RequestOutputKind.DELTA)
    teacher.sampling = SamplingConfig(n=3, temperature=0.7, top_p=0.9, max_tokens=64,
                                      min_tokens=16, seed=5)
    teacher.sample_offset = 0
    teacher.logprob_params = {"logprobs": 0}
    params = teacher._params("p1")
    assert (params.n, params.max_tokens, params.min_tokens) == (3, 64, 16)
    assert params.logprobs == 0  # the sampled tokens' log-probabilities, for the exports' stats
    assert params.seed == request_seed(5, "p1")
    assert params.output_kind == RequestOutputKind.FINAL_ONLY
    # A loop stop the engine cannot do (no repetition_detection): streamed, watched here.
    teacher.sampling = dataclasses.replace(teacher.sampling, stop_on_repetition=(
        StopOnRepetitionConfig(enabled=True, ngram=8, repeats=3, window=24)))
    teacher.repetition = {}
    assert teacher._params("p1").output_kind == RequestOutputKind.DELTA
