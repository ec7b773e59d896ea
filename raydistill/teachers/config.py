"""The ``teacher`` and ``sampling`` sections: the model that writes traces, and its decoding.

``teacher.name`` picks the backend and with it the keys the section takes
(:data:`BACKENDS`): :class:`VLLMTeacherConfig` (``vllm``, an engine per Ray
actor) or :class:`HTTPTeacherConfig` (``openai``, an OpenAI-compatible
endpoint). Both share :class:`TeacherConfig`'s keys; a key of the other backend
is refused by the loader, naming it (:func:`backend_of_key` says whose it is).

>>> backend_of_key("base_url"), backend_of_key("dtype"), backend_of_key("model")
(['openai'], ['vllm'], ['openai', 'vllm'])
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from omegaconf import MISSING

from raydistill.keys import key
from raydistill.sampling.waves import wave_entry
from raydistill.teachers.placement import replica_layout

Checks = list[tuple[bool, str, str]]


@dataclass
class TeacherConfig:
    """The keys every teacher backend takes: the model and the pool of replicas serving it."""

    name: str = key("vllm", "Backend: vllm (a vLLM engine per Ray actor) or openai (an "
                    "OpenAI-compatible HTTP endpoint); it decides which other keys the section "
                    "takes.")
    model: str = key(MISSING, "A path, a hub id, builtin:tiny-teacher (shipped), an s3:// "
                     "checkpoint, or the API's model name.")
    replicas: int = key(1, "Actors in the pool (data parallel replicas).", perf=True)
    max_replicas: int | None = key(None, "null: a fixed pool of `replicas`; else the pool may "
                                   "grow to this many actors.", perf=True)
    resources: dict[str, float] = key(factory=lambda: {"CPU": 1.0}, doc="Ray resources per "
                                      "replica: {CPU: 1}, {GPU: 2}, {NPU: 1}.", perf=True)
    batch_size: int = key(16, "Problems per batch handed to a teacher actor.", perf=True)
    env: dict[str, str] = key(factory=dict, doc="Environment variables of the teacher actors.",
                              perf=True)
    # Prices: an API's list price, or a self-hosted engine's cost expressed per token;
    # they feed the summary's usage, the per-teacher cost, `raydistill plan` and the
    # output.max_cost_usd cap.
    price_input_per_million: float = key(0.0, "Price of a million prompt tokens, for the "
                                         "summary's usage, the plan and the cost cap.",
                                         perf=True)
    price_output_per_million: float = key(0.0, "Price of a million completion tokens.",
                                          perf=True)


@dataclass
class VLLMTeacherConfig(TeacherConfig):
    """A vLLM engine per Ray actor, on GPUs, Ascend NPUs or CPU (``teachers/vllm_engine.py``)."""

    tensor_parallel_size: int = key(1, "Devices per replica splitting each layer (one node, "
                                    "STRICT_PACK placement group).")
    pipeline_parallel_size: int = key(1, "Devices per replica splitting the layers (may span "
                                      "nodes, PACK placement group).")
    dtype: str = key("auto", "vLLM's dtype (auto, float32, bfloat16, ...).")
    max_model_len: int | None = key(None, "Context length of the engine (null = the model's).")
    gpu_memory_utilization: float = key(0.9, "Share of device memory vLLM may take.", perf=True)
    enable_prefix_caching: bool = key(True, "vLLM's prefix caching.", perf=True)
    max_num_seqs: int = key(256, "Sequences an engine runs at once; the actor admits "
                            "max_num_seqs / sampling.n problems at a time.", perf=True)
    seed: int = key(0, "Engine seed (sampling seeds are per request, from sampling.seed).")
    engine_kwargs: dict[str, Any] = key(factory=dict, doc="Any other vllm.AsyncEngineArgs "
                                        "argument (added to or overriding the keys above).")
    quantization: str | None = key(None, "vLLM's quantization method (awq, gptq, fp8, ...).")


@dataclass
class HTTPTeacherConfig(TeacherConfig):
    """An OpenAI-compatible chat-completions endpoint (``teachers/http.py``)."""

    base_url: str = key("", "The API's base URL, http(s)://.../v1 (required).")
    api_key_env: str | None = key(None, "Name of the environment variable holding the API key "
                                  "(read in the driver; never stored).", perf=True)
    request_fields: dict[str, Any] = key(factory=dict, doc="Extra fields sent in every request.")
    use_n: bool = key(True, "Ask for n samples in one request (false: n requests; for APIs "
                      "that ignore n).")
    max_concurrency: int = key(16, "Requests in flight per actor.", perf=True)
    requests_per_minute: float | None = key(None, "Rate limit shared by all actors (null = "
                                            "none).", perf=True)
    tokens_per_minute: float | None = key(None, "Token rate limit shared by all actors (null = "
                                          "none).", perf=True)
    timeout_s: float = key(600.0, "Seconds per request.", perf=True)
    max_retries: int = key(6, "Retries of a failed request (429, 5xx, dropped connection).",
                           perf=True)
    backoff_base_s: float = key(1.0, "First retry's backoff, doubled each retry.", perf=True)
    backoff_max_s: float = key(60.0, "Longest backoff between retries.", perf=True)
    retry_deadline_s: float = key(1800.0, "A request is given up after this many seconds of "
                                  "retries.", perf=True)


# teacher.name -> the section's type. The registry of actor classes is teachers.TEACHERS.
BACKENDS: dict[str, type[TeacherConfig]] = {"vllm": VLLMTeacherConfig,
                                            "openai": HTTPTeacherConfig}


def backend_of_key(name: str) -> list[str]:
    """The backends whose teacher section takes the key ``name``."""
    return sorted(b for b, cls in BACKENDS.items()
                  if name in {f.name for f in dataclasses.fields(cls)})


@dataclass
class StopOnRepetitionConfig:
    """Stop a sample that loops while it is generated (:mod:`raydistill.teachers.budgets`)."""

    enabled: bool = key(False, "Stop a sample whose output ends in a repeated block; it ends "
                        "with finish_reason repetition, never checked.")
    ngram: int = key(32, "Longest repeated block looked for, in tokens (vLLM's "
                     "max_pattern_size; a looping sentence is ~10-40 tokens).")
    repeats: int = key(4, "Times the block must repeat in a row (vLLM's min_count, >= 2).")
    window: int = key(256, "Trailing units an HTTP teacher's stream check keeps (>= ngram * "
                      "repeats; vLLM checks its whole output itself).", perf=True)


OVERFLOW_MODES = ("error", "shrink")


@dataclass
class SamplingConfig:
    """Decoding parameters, recorded on every output row."""

    n: int = key(4, "Samples per problem (vLLM's n; all n are kept).")
    temperature: float = key(0.6, "Sampling temperature.")
    top_p: float = key(0.95, "Nucleus sampling cut-off.")
    max_tokens: int = key(4096, "Completion tokens at most; a longer trace is cut and marked "
                          "truncated.")
    min_tokens: int = key(0, "No end of sequence before this many tokens (vLLM's min_tokens; "
                          "sent to HTTP teachers when set). 0 = none.")
    seed: int | None = key(None, "Base of the per-problem seeds (null = unseeded): a rerun "
                           "draws the same samples however problems are batched.")
    stop_on_repetition: StopOnRepetitionConfig = key(
        factory=StopOnRepetitionConfig, doc="Stop looping samples while they are generated.")
    think_budget: int | None = key(None, "Reasoning tokens at most (null = none): a trace "
                                   "reaching it gets </think> plus answer_cue and answers "
                                   "within answer_budget (budget_forced: true).")
    answer_budget: int = key(256, "With think_budget: tokens of the forced answer.")
    answer_cue: str = key("Final answer: \\boxed{", "With think_budget: text after the forced "
                          "</think> that asks for the answer.")
    on_overflow: str = key("error", "A prompt that leaves less than max_tokens of the context: "
                           "error (the engine cuts at the context) or shrink (max_tokens lowered "
                           "to fit, recorded as max_tokens_used).")
    overflow_floor: int = key(64, "With on_overflow shrink: fewer completion tokens than this "
                              "left is an error row.")


@dataclass
class RunSamplingConfig(SamplingConfig):
    """Decoding parameters, recorded on every output row; and adaptive sampling's waves.

    Adaptive sampling: :mod:`raydistill.adaptive`.
    An entry ``{n: 4, teacher: strong}`` asks the named teacher of the run's
    ``teachers`` section (escalation; :mod:`raydistill.sampling.escalation`).
    ``waves`` unset: ``n`` samples per problem, in one pass. Set: samples in waves
    (``[2, 4, 8]``: 2, then 4 more for the problems still short of
    ``stop_at_verified`` verified samples, then 8 more), at most ``max_samples``
    per problem in all (null: the sum of the waves); ``n`` is then unused.
    """

    waves: list[Any] | None = key(None, "Adaptive sampling: samples per wave, e.g. [2, 4, 8] "
                                  "(null = a fixed sampling.n per problem); an entry "
                                  "{n: 2, teacher: NAME} asks one of `teachers` (escalation).")
    stop_at_verified: int = key(1, "With waves: a problem stops once it has this many verified "
                                "samples.")
    max_samples: int | None = key(None, "With waves: samples per problem at most (null = the "
                                  "sum of the waves).")


def teacher_checks(t: TeacherConfig, prefix: str = "teacher") -> Checks:
    """``(ok, key, problem)`` checks of a teacher section the types cannot catch."""
    vllm = t if isinstance(t, VLLMTeacherConfig) else VLLMTeacherConfig(model="")
    try:
        replica_layout({"resources": t.resources, "tensor_parallel_size": vllm.tensor_parallel_size,
                        "pipeline_parallel_size": vllm.pipeline_parallel_size})
        layout_problem = ""
    except ValueError as exc:
        layout_problem = str(exc)
    checks = [
        (t.name in BACKENDS, "name", f"must be one of {sorted(BACKENDS)}"),
        (t.replicas >= 1, "replicas", "must be >= 1"),
        (t.batch_size >= 1, "batch_size", "must be >= 1"),
        (all(v >= 0 for v in t.resources.values()), "resources", "amounts must be >= 0"),
        (t.max_replicas is None or t.max_replicas >= t.replicas, "max_replicas",
         f"must be >= {prefix}.replicas (or null for a fixed pool)"),
        (vllm.tensor_parallel_size >= 1 and vllm.pipeline_parallel_size >= 1,
         "tensor_parallel_size", "and pipeline_parallel_size must be >= 1"),
        (not layout_problem, "resources", layout_problem),
        (t.price_input_per_million >= 0 and t.price_output_per_million >= 0,
         "price_input_per_million", "and price_output_per_million must be >= 0"),
    ]
    if isinstance(t, HTTPTeacherConfig):
        checks += [
            (t.base_url.startswith(("http://", "https://")), "base_url",
             "must be an http(s):// URL for teacher.name=openai"),
            (t.max_concurrency >= 1, "max_concurrency", "must be >= 1"),
            (t.requests_per_minute is None or t.requests_per_minute > 0,
             "requests_per_minute", "must be > 0 or null"),
            (t.tokens_per_minute is None or t.tokens_per_minute > 0,
             "tokens_per_minute", "must be > 0 or null"),
            (t.timeout_s > 0, "timeout_s", "must be > 0"),
            (t.max_retries >= 0, "max_retries", "must be >= 0"),
            (0 < t.backoff_base_s <= t.backoff_max_s, "backoff_base_s",
             f"must be > 0 and <= {prefix}.backoff_max_s"),
            (t.retry_deadline_s > 0, "retry_deadline_s", "must be > 0"),
        ]
    return [(ok, f"{prefix}.{name}", why) for ok, name, why in checks]


def sampling_checks(s: SamplingConfig, prefix: str = "sampling") -> Checks:
    """Checks of a ``sampling`` section (adaptive sampling's keys only while ``waves`` is set)."""
    checks = [
        (s.n >= 1, "n", "must be >= 1"),
        (s.temperature >= 0, "temperature", "must be >= 0"),
        (0 < s.top_p <= 1, "top_p", "must be in (0, 1]"),
        (s.max_tokens >= 1, "max_tokens", "must be >= 1"),
        (0 <= s.min_tokens <= s.max_tokens, "min_tokens",
         f"must be between 0 and {prefix}.max_tokens"),
        (s.on_overflow in OVERFLOW_MODES, "on_overflow", f"must be one of {list(OVERFLOW_MODES)}"),
        (s.overflow_floor >= 1, "overflow_floor", "must be >= 1"),
    ]
    rep = s.stop_on_repetition
    if rep.enabled:
        checks += [
            (rep.ngram >= 1, "stop_on_repetition.ngram", "must be >= 1"),
            (rep.repeats >= 2, "stop_on_repetition.repeats", "must be >= 2"),
            (rep.window >= rep.ngram * rep.repeats, "stop_on_repetition.window",
             f"must be >= {prefix}.stop_on_repetition.ngram * repeats "
             f"({rep.ngram * rep.repeats}): a smaller window cannot hold the repeats"),
        ]
    if s.think_budget is not None:
        checks += [
            (1 <= s.think_budget < s.max_tokens, "think_budget",
             f"must be between 1 and {prefix}.max_tokens - 1 ({s.max_tokens - 1}) or null"),
            (s.answer_budget >= 1 and s.think_budget + s.answer_budget <= s.max_tokens,
             "answer_budget", f"must be >= 1 with {prefix}.think_budget + answer_budget <= "
             f"{prefix}.max_tokens ({s.max_tokens})"),
        ]
    if isinstance(s, RunSamplingConfig) and s.waves is not None:
        try:
            sizes = [wave_entry(w)[0] for w in s.waves]
            malformed = ""
        except ValueError as exc:
            sizes, malformed = [], str(exc)
        cap = s.max_samples if s.max_samples is not None else sum(sizes)
        checks += [
            (not malformed, "waves", malformed),
            (bool(s.waves) and all(w >= 1 for w in sizes), "waves",
             "must be a non-empty list of samples per wave, each >= 1 (or null: a fixed n)"),
            (s.max_samples is None or s.max_samples >= 1, "max_samples",
             f"must be >= 1 or null (the sum of {prefix}.waves)"),
            (1 <= s.stop_at_verified <= cap, "stop_at_verified",
             f"must be between 1 and the cap of samples per problem ({cap})"),
        ]
    return [(ok, f"{prefix}.{name}", why) for ok, name, why in checks]


def sequences_in_flight(t: TeacherConfig, n: int) -> int:
    """Problems one teacher actor works on at once: vLLM's max_num_seqs / n, HTTP's requests.

    >>> sequences_in_flight(VLLMTeacherConfig(model="m"), 4)
    64
    >>> sequences_in_flight(HTTPTeacherConfig(model="m", max_concurrency=8), 4)
    8
    """
    if isinstance(t, HTTPTeacherConfig):
        return max(1, t.max_concurrency)
    seqs = t.max_num_seqs if isinstance(t, VLLMTeacherConfig) else 256
    return max(1, seqs // n)
