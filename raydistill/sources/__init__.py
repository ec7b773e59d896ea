"""Read problems from data sets and normalise them into ``records.PROBLEM`` rows.

Each data set maps its own fields onto ``problem``, ``ground_truth_solution``,
``test_cases`` and ``starter_code`` through its ``preset`` (see
:mod:`raydistill.sources.presets`; ``question_field``/``answer_field`` override the
field names), which also gives the rows' verifier ``domain`` unless set.
Every problem gets a stable ``problem_id``: a hash of the source name and the
problem text, so reruns and dedup line up. A row that cannot be used (missing or
empty field, not UTF-8, not JSON, tests the verifier cannot read) is kept with its
``input_error``, never dropped.

>>> from raydistill.sources.config import DatasetConfig
>>> spec = DatasetConfig(name="gsm8k", preset="gsm8k")
>>> to_problem({"question": "1+1?", "answer": "#### 2"}, spec, 0)["input_error"] is None
True
>>> to_problem({"question": ""}, spec, 1)["input_error"]
"empty field 'question'"
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
from collections.abc import Iterator
from typing import Any

import pyarrow.dataset as pads
import pyarrow.fs as pafs

from raydistill.output.storage import list_files, resolve
from raydistill.sources import presets, synthetic
from raydistill.sources.config import DatasetConfig, SourceConfig

logger = logging.getLogger(__name__)

def problem_id(source: str, text: str) -> str:
    """Stable id of a problem: 16 hex digits of sha256(source, text).

    64 bits keep the chance of any collision among 10M problems below 3e-6.

    >>> problem_id("gsm8k", "What is 2+2?")
    'eaef8e9633cae712'
    """
    return hashlib.sha256(f"{source}\x00{text}".encode()).hexdigest()[:16]


def to_problem(raw: dict[str, Any], spec: DatasetConfig, index: int) -> dict[str, Any]:
    """Map one raw row of a data set onto a problem row through its preset."""
    preset = presets.get(spec.preset)
    try:
        fields = preset.map(raw, spec.question_field, spec.answer_field)
        error = None
        pid = problem_id(spec.name, fields["problem"])
    except presets.RowError as exc:
        error = str(exc)
        # Keep what we can show of the bad row; its id still has to be stable.
        question = raw.get(spec.question_field or preset.question)
        answer = raw.get(spec.answer_field or preset.answer)
        fields = {"problem": question if isinstance(question, str) else "",
                  "ground_truth_solution": answer if isinstance(answer, str) else "",
                  "test_cases": "", "starter_code": ""}
        pid = problem_id(spec.name, f"#{index}:{raw!r}")
    return {
        "problem_id": pid,
        "source": spec.name,
        "source_index": index,
        "domain": spec.domain or preset.domain,
        **fields,
        "input_error": error,
    }


def _bad_line(spec: DatasetConfig, index: int, line: bytes, reason: str) -> dict[str, Any]:
    row = to_problem({}, spec, index)
    row["problem_id"] = problem_id(spec.name, f"#{index}:{line!r}")
    row["input_error"] = reason
    return row


def _jsonl_rows(fs: pafs.FileSystem, path: str, spec: DatasetConfig) -> Iterator[dict[str, Any]]:
    index = 0
    for file in list_files(fs, path, (".jsonl", ".json")):
        with fs.open_input_stream(file) as stream:
            lines = stream.read().split(b"\n")
        for line in lines:
            if not line.strip():
                continue
            try:
                raw = json.loads(line.decode("utf-8"))
            except UnicodeDecodeError:
                yield _bad_line(spec, index, line, "line is not valid UTF-8")
            except json.JSONDecodeError as exc:
                yield _bad_line(spec, index, line, f"line is not JSON: {exc}")
            else:
                if isinstance(raw, dict):
                    yield to_problem(raw, spec, index)
                else:
                    yield _bad_line(spec, index, line, "line is not a JSON object")
            index += 1


def _parquet_rows(fs: pafs.FileSystem, path: str, spec: DatasetConfig) -> Iterator[dict[str, Any]]:
    dataset = pads.dataset(list_files(fs, path, (".parquet",)), filesystem=fs)
    index = 0
    for batch in dataset.to_batches():
        for raw in batch.to_pylist():
            yield to_problem(raw, spec, index)
            index += 1


def _hf_rows(spec: DatasetConfig) -> Iterator[dict[str, Any]]:
    import datasets  # heavy import, only for this format

    rows = datasets.load_dataset(spec.path, spec.subset or None, split=spec.split)
    for index, raw in enumerate(rows):
        yield to_problem(dict(raw), spec, index)


def _synthetic_rows(spec: DatasetConfig, count: int) -> Iterator[dict[str, Any]]:
    for index, p in enumerate(synthetic.problems(count, spec.seed)):
        yield to_problem({"question": p.question, "answer": p.solution}, spec, index)


def read_dataset(
    spec: DatasetConfig, limit: int | None, endpoint: str | None = None
) -> Iterator[dict[str, Any]]:
    """Yield up to ``limit`` problem rows of one data set, after its first ``spec.offset``."""
    caps = [x for x in (spec.limit, limit) if x is not None]
    cap = min(caps) if caps else None  # 0 means none, not all
    if spec.format == "synthetic_arithmetic":
        rows: Iterator[dict[str, Any]] = _synthetic_rows(
            spec, spec.offset + (cap if cap is not None else 1000))
    elif spec.format == "hf":
        rows = _hf_rows(spec)
    else:
        fs, path = resolve(spec.path, endpoint)
        rows = _jsonl_rows(fs, path, spec) if spec.format == "jsonl" else _parquet_rows(
            fs, path, spec
        )
    for count, row in enumerate(itertools.islice(rows, spec.offset, None)):
        if cap is not None and count >= cap:
            return
        yield row


def read_problems(cfg: SourceConfig, endpoint: str | None = None) -> Iterator[dict[str, Any]]:
    """Yield problem rows of every data set, up to ``cfg.limit`` in all, without duplicates.

    A problem seen twice (same source, same text) is yielded twice, with one
    ``problem_id``: staging keeps its first row and counts the others
    (:meth:`~raydistill.output.location.OutputLocation.stage_problems`).
    """
    remaining = cfg.limit
    for spec in cfg.datasets:
        if remaining is not None and remaining <= 0:
            return
        taken = 0
        for row in read_dataset(spec, remaining, endpoint):
            taken += 1
            yield row
        if remaining is not None:
            remaining -= taken
