"""What a run's report counts: each sample's verdict category, pass@k, lengths, times.

:class:`Tally` reads the run's ``all/`` one part at a time (:func:`read_samples`)
and keeps only a few numbers per sample; :mod:`raydistill.observe.report` draws
its sections from it.
"""

from __future__ import annotations

import json
import math
from array import array
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs

from raydistill.output.location import OutputLocation
from raydistill.output.storage import StorageError
from raydistill.reasons import DEFAULT_FOR_STATUS, FILTERED_PREFIX

VERDICTS = ("pass", "fail", "error")
SAMPLE_COLUMNS = ("problem_id", "sample_idx", "source", "domain", "verdict", "reason",
                  "verdict_detail", "prompt_tokens", "completion_tokens", "generated_at",
                  "generation_seconds")


def status_of(verdict: str | None) -> str:
    """``pass``/``fail``/``error``; anything else (a missing verdict) counts as an error."""
    return verdict if verdict in VERDICTS else "error"


# A reader's name for a reason code where the code itself reads badly.
CATEGORY_NAMES = {"input_error": "bad input"}


def verdict_category(verdict: str | None, reason: str | None) -> str:
    """A reader's name for why a sample got its verdict (from its reason code).

    >>> verdict_category("fail", "truncated")
    'truncated'
    >>> verdict_category("fail", "wrong_answer")
    'wrong answer'
    >>> verdict_category("error", "teacher_error"), verdict_category("error", "input_error")
    ('teacher error', 'bad input')
    >>> verdict_category("fail", "filtered:repetition")
    'filtered: repetition'
    """
    if not reason:  # a row without a code: its status's default
        reason = DEFAULT_FOR_STATUS[status_of(verdict)]
    if reason.startswith(FILTERED_PREFIX):
        return f"filtered: {reason[len(FILTERED_PREFIX):]}"
    return CATEGORY_NAMES.get(reason, reason.replace("_", " "))


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k of one problem with ``c`` passing samples out of ``n`` (Codex paper).

    >>> pass_at_k(4, 1, 1), pass_at_k(4, 1, 4), pass_at_k(4, 0, 2)
    (0.25, 1.0, 0.0)
    """
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def read_samples(out: OutputLocation) -> Iterator[pa.Table]:
    """The per-sample columns the report needs, one part of ``all/`` at a time.

    Texts are reduced to their lengths before the next part is read, so making
    the report of a large run holds one part's texts at most.
    """
    if out.fs.get_file_info(out.all).type != pafs.FileType.Directory:
        raise StorageError(f"{out.uri} holds no finished run (no all/ directory)")
    texts = ("response", "reasoning", "solution")
    for part in out.iter_columns(out.all, [*SAMPLE_COLUMNS, *texts]):
        for text in texts:
            part = part.append_column(f"{text}_chars", pc.utf8_length(part[text]))
        yield part.drop_columns(list(texts))


class Tally:
    """What the sections draw, added one batch of samples at a time.

    Memory: one small entry per problem (for pass@k and the funnels) and a few
    numbers per sample (for the histograms), never the rows themselves.
    """

    def __init__(self) -> None:
        # problem_id -> [source, domain, samples generated, samples passed,
        #                samples a trace filter failed]
        self.problems: dict[str, list[Any]] = {}
        self.verdicts: Counter[tuple[str, str]] = Counter()
        self.example: dict[tuple[str, str], str] = {}
        self.completion_tokens = 0
        # Per generated sample: status, reasoning and answer tokens; per timed one: end, tokens.
        self.status = array("b")
        self.lengths = {"reasoning": array("d"), "answer": array("d")}
        self.timed_status = array("b")
        self.starts, self.ends, self.tokens = array("d"), array("d"), array("d")

    def add(self, batch: pa.RecordBatch) -> None:
        """Count the samples of ``batch`` (the columns :func:`read_samples` yields)."""
        names: dict[str, str] = {}  # one str object per distinct source/domain
        for s in batch.to_pylist():
            status = status_of(s["verdict"])
            key = (status, verdict_category(s["verdict"], s["reason"]))
            self.verdicts[key] += 1
            self.example.setdefault(key, s["verdict_detail"] or "")
            self.completion_tokens += s["completion_tokens"] or 0
            source, domain = (names.setdefault(v, v) for v in (s["source"] or "unknown",
                                                               s["domain"] or "unknown"))
            entry = self.problems.setdefault(s["problem_id"], [source, domain, 0, 0, 0])
            entry[3] += s["verdict"] == "pass"
            entry[4] += (s["reason"] or "").startswith(FILTERED_PREFIX)
            if s["response_chars"] is None:  # no sample was generated
                continue
            entry[2] += 1
            self._add_lengths(s, VERDICTS.index(status))
            if s["generated_at"] is not None:
                self.timed_status.append(VERDICTS.index(status))
                self.starts.append(s["generated_at"])
                self.ends.append(s["generated_at"] + (s["generation_seconds"] or 0))
                self.tokens.append(s["completion_tokens"] or 0)

    def _add_lengths(self, s: dict[str, Any], status: int) -> None:
        chars = (s["reasoning_chars"] or 0) + (s["solution_chars"] or 0)
        if not chars:
            return
        tokens = s["completion_tokens"] or 0
        self.status.append(status)
        self.lengths["reasoning"].append(tokens * (s["reasoning_chars"] or 0) / chars)
        self.lengths["answer"].append(tokens * (s["solution_chars"] or 0) / chars)


def read_summary(out: OutputLocation) -> dict[str, Any]:
    """``summary.json`` of the run, or ``{}`` when the run wrote none."""
    if out.fs.get_file_info(out.summary).type != pafs.FileType.File:
        return {}
    with out.fs.open_input_stream(out.summary) as stream:
        summary: dict[str, Any] = json.loads(stream.read())
    return summary
