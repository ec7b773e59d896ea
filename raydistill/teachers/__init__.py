"""Teachers: Ray Data actors that turn problem rows into ``n`` sampled traces.

``teacher.name`` picks one from :data:`TEACHERS`:

- ``vllm`` (:mod:`.vllm_engine`): one vLLM engine replica per actor, on GPUs,
  Ascend NPUs or CPU, tensor/pipeline parallel through placement groups
  (:mod:`.placement`);
- ``openai`` (:mod:`.http`): any OpenAI-compatible chat-completions endpoint
  (DeepSeek's API, a gateway, a ``vllm serve`` you already run), with rate
  limits and retries (:mod:`.limits`).

Every teacher has the same interface: ``cls(teacher, sampling)`` (the typed
``teacher`` and ``sampling`` sections, :mod:`.config`), called on a pyarrow
batch of ``records.GENERATION`` rows with ``messages``; it yields the rows with
``samples`` (one :func:`raydistill.parsing.make_sample` record each),
``teacher_error``, ``prompt_tokens`` and timings filled in. ``complete(messages,
key)`` asks one prompt without a problem row (the LLM judge's call).
"""

from __future__ import annotations

import math
from typing import Any

from raydistill.teachers.base import request_seed, resolve_model
from raydistill.teachers.config import (
    HTTPTeacherConfig,
    SamplingConfig,
    TeacherConfig,
    VLLMTeacherConfig,
)
from raydistill.teachers.http import HTTPTeacher, read_api_key
from raydistill.teachers.vllm_engine import VLLMTeacher

TEACHERS: dict[str, type] = {"vllm": VLLMTeacher, "openai": HTTPTeacher}


def get_teacher(name: str) -> type:
    """The teacher class registered as ``name``, or an error listing the known ones."""
    try:
        return TEACHERS[name]
    except KeyError:
        raise KeyError(f"unknown teacher {name!r}; known: {', '.join(sorted(TEACHERS))}") from None


# Batches in flight per teacher actor, at least: a new batch is queued in the
# engine while the last problems of the previous one finish.
TEACHER_BATCHES_IN_FLIGHT = 4


def batches_in_flight(slots: int, batch_size: int) -> int:
    """Batches queued on each teacher actor: twice what its engine admits at once.

    ``slots`` is the problems an actor runs at once (``max_num_seqs / n`` for an
    engine, ``max_concurrency`` for an HTTP teacher:
    :func:`raydistill.teachers.config.sequences_in_flight`). With only that many
    queued, each batch's slowest problems run while the engine's other slots sit
    empty until Ray Data hands over the next batch (we measured the engine idle
    10% of the time with 4 x 16 problems for 64 slots); twice as many keeps a
    waiting problem for every slot that frees up.

    >>> batches_in_flight(64, 16)  # conf=local: 256 / n=4 = 64 slots, batches of 16
    8
    """
    return max(TEACHER_BATCHES_IN_FLIGHT, math.ceil(2 * max(1, slots) / batch_size))


def constructor_kwargs(teacher: TeacherConfig, sampling: SamplingConfig,
                       crash_ledger: Any | None = None, sample_offset: int = 0) -> dict[str, Any]:
    """``fn_constructor_kwargs`` of the teacher actors.

    The HTTP teacher's API key is read here, in the driver, so that a missing one
    fails before any work, and travels to the actors as a ``Secret`` (never in the
    config, the summary or Ray's displayed arguments). ``crash_ledger``
    (:func:`.crashes.start_ledger`) goes to vLLM teachers, whose engines can crash.
    """
    kwargs: dict[str, Any] = {"teacher": teacher, "sampling": sampling}
    if sample_offset:  # an adaptive wave after the first: its own seeds (teachers/base.py)
        kwargs["sample_offset"] = sample_offset
    if isinstance(teacher, VLLMTeacherConfig) and crash_ledger is not None:
        kwargs["crash_ledger"] = crash_ledger
    if isinstance(teacher, HTTPTeacherConfig) and teacher.api_key_env:
        kwargs["api_key"] = read_api_key(teacher)
    return kwargs


__all__ = ["TEACHERS", "HTTPTeacher", "VLLMTeacher", "batches_in_flight", "constructor_kwargs",
           "get_teacher", "request_seed", "resolve_model"]
