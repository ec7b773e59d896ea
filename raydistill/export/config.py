"""The ``export`` config section: which trainer formats, and how rows are rendered and chosen.

Each key's field says which formats take it (its ``formats`` metadata, None:
every format; :func:`taken_keys`): a per-sample SFT format the trace and sample
keys, a pair format the trace and ``pairs.*`` keys. A key the format does not
take is refused before any work (:func:`check_keys`), naming the key and what
the format takes.

>>> check_keys("trl_dpo", ["pairs.chosen", "style"])
>>> check_keys("trl_dpo", ["k"])
Traceback (most recent call last):
...
raydistill.export.config.ExportError: format 'trl_dpo' does not take key 'k' (it takes: ...
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields

from raydistill.keys import key


class ExportError(ValueError):
    """An export that cannot run (bad format, key or run); the message says why."""

FORMATS = ("sharegpt", "sharegpt_pairs", "openai", "trl_sft", "trl_dpo", "verl")
PAIR_FORMATS = ("sharegpt_pairs", "trl_dpo")
STYLES = ("think", "bespoke")
TARGETS = ("thought_solution", "solution", "thought", "response")
ROWS = ("verified", "checked", "all")
PICKS = ("first", "shortest", "random")
PAIR_RULES = ("correct_vs_incorrect", "length")
PAIR_PICKS = ("random", "shortest", "longest", "lowest_perplexity", "highest_perplexity")
# Kinds of failed sample that may be a pair's rejected side only when listed in pairs.allow.
PAIR_ALLOW = ("truncated", "error", "filtered")
FILE_FORMATS = ("jsonl", "parquet")


_TRACE = ("sharegpt", "openai", "trl_sft", "sharegpt_pairs", "trl_dpo")  # a trace is rendered
_SAMPLES = ("sharegpt", "openai", "trl_sft")  # per-sample formats: samples are chosen


@dataclass
class PairsConfig:
    """How a preference pair is built from one problem's samples (``raydistill.export.pairs``)."""

    rule: str = key("correct_vs_incorrect", "correct_vs_incorrect: chosen verified, rejected "
                    "failed (STILL-2); length: the shortest and the longest verified samples "
                    "(Sky-T1-Flash).", formats=PAIR_FORMATS)
    chosen: str = key("random", "How the chosen sample is picked among the candidates: random, "
                      "shortest, longest, lowest_perplexity, highest_perplexity.",
                      formats=PAIR_FORMATS)
    rejected: str = key("random", "The same choices for the rejected sample.",
                        formats=PAIR_FORMATS)
    allow: list[str] = key(factory=list, doc="Failed samples that may also be rejected: "
                           "truncated, error, filtered (none by default).", formats=PAIR_FORMATS)


@dataclass
class DataSourcesConfig:
    """The verl export's ``data_source`` of each verifier domain: a name verl's reward routes.

    ``verl.utils.reward_score.default_compute_score`` picks its scorer by this
    name and raises ``NotImplementedError`` for any other. A domain not listed
    here, and code whose tests are asserts (HumanEval, MBPP: verl's code scorers
    read only ``inputs``/``outputs``), get ``raydistill/<domain>``: only
    raydistill's reward (``raydistill.export.verl_reward``) scores those rows.
    """

    math: str = key("lighteval/MATH", "lighteval/MATH: the last \\boxed{} of the response "
                    "against the bare final answer, 1 or 0 (openai/gsm8k wants '#### N' in the "
                    "response, which our prompts do not ask for).", formats=("verl",))
    code: str = key("apps", "apps: prime_code runs the last python block on inputs/outputs "
                    "(and fn_name); codecontests, codeforces and taco route to the same "
                    "scorer.", formats=("verl",))
    mcq: str = key("math_dapo", "math_dapo: 'Answer: X' (then \\boxed{X}) against the gold "
                   "letter; DAPO scores 1 or -1.", formats=("verl",))


@dataclass
class LlamaFactoryConfig:
    """The LLaMA-Factory training file written beside a sharegpt export (``llamafactory.py``)."""

    model: str | None = key(None, "model_name_or_path in the file; null = left for the user "
                            "to set (or model_name_or_path=... on llamafactory-cli's line).",
                            formats=("sharegpt", "sharegpt_pairs"))
    template: str = key("qwen", "The chat template of that model (LLaMA-Factory's name: qwen, "
                        "llama3, deepseekr1...).", formats=("sharegpt", "sharegpt_pairs"))


@dataclass
class ExportConfig:
    """Trainer-ready exports of a finished run (``python -m raydistill.export``)."""

    formats: list[str] = key(factory=list, doc="Formats written at the end of a run "
                             "(raydistill.run); the export command takes format=NAME.",
                             formats=())
    uri: str | None = key(None, "Where an export goes; null = <run uri>/exports/<format>.")
    style: str = key("think", "think: <think>reasoning</think> then the answer; bespoke: "
                     "begin/end_of_thought and begin/end_of_solution tags with that style's "
                     "system prompt.", formats=_TRACE)
    target: str = key("thought_solution", "What the assistant turn holds: thought_solution, "
                      "solution or thought (in style), or response: the sample's text as the "
                      "model wrote it (style aside; the loop's choice).", formats=_TRACE)
    system: str | None = key(None, "System prompt; null = the style's (bespoke) or the one the "
                             "teacher was sent; \"\" = none.")
    rows: str = key("verified", "verified: rows that passed; checked: rows the verifier passed, "
                    "also those the trace filters then removed; all: every row with a "
                    "response.", formats=_SAMPLES)
    k: int | None = key(None, "At most k samples per problem (null = all), chosen by pick.",
                        formats=_SAMPLES)
    pick: str = key("first", "first (lowest sample_idx), shortest (fewest completion tokens), "
                    "random (seeded by seed).", formats=_SAMPLES)
    seed: int = key(0, "Seed of every random choice (pick=random, pairs.*=random).")
    exclude_sources: list[str] = key(factory=list, doc="Rows of these sources (the source "
                                     "column: a data set's name) are left out, e.g. a held-out "
                                     "split (the loop leaves out loop.heldout this way).")
    min_pass_rate: float = key(0.0, "Only problems whose measured pass rate (verified / "
                               "samples) is at least this.")
    max_pass_rate: float = key(1.0, "... and at most this (verl users pick hard-but-solvable "
                               "problems, e.g. 0.1-0.9).")
    file_format: str | None = key(None, "parquet or jsonl (null = parquet). Only Parquet exports "
                                  "become configurations of the run's dataset card (OpenAI's "
                                  "upload wants jsonl).")
    rows_per_file: int = key(50_000, "Rows per shard file: bounds each file's size and the "
                             "driver's buffer.", perf=True)
    mb_per_file: int = key(500, "A shard also closes at about this many MiB of Arrow data "
                           "(50k R1 traces of ~6k tokens are ~1.2 GB; 500 MiB streams well in "
                           "the Hub's viewer and `datasets`).", perf=True)
    name: str | None = key(None, "The dataset_info.json entry's name; null = "
                           "raydistill_<format>.", formats=("sharegpt", "sharegpt_pairs"))
    pairs: PairsConfig = key(factory=PairsConfig, doc="Preference pairs (sharegpt_pairs, "
                             "trl_dpo).", formats=PAIR_FORMATS)
    data_sources: DataSourcesConfig = key(factory=DataSourcesConfig, doc="verl: the "
                                          "data_source of each domain's rows.",
                                          formats=("verl",))
    llamafactory: LlamaFactoryConfig = key(factory=LlamaFactoryConfig, doc="sharegpt formats: "
                                           "the LLaMA-Factory training file beside the export.",
                                           formats=("sharegpt", "sharegpt_pairs"))
    s3_endpoint: str | None = key(None, "S3-compatible endpoint of s3:// URIs; null = "
                                  "$AWS_ENDPOINT_URL.")
    s3_region: str | None = key(None, "S3 region; null = $AWS_REGION.")


# Sections of ExportConfig whose keys a format takes one by one ("pairs.rule").
SUBSECTIONS: dict[str, type] = {"pairs": PairsConfig, "data_sources": DataSourcesConfig,
                                "llamafactory": LlamaFactoryConfig}


def taken_keys(fmt: str) -> list[str]:
    """The keys format ``fmt`` takes, from each field's ``formats`` (None: every format).

    >>> taken_keys("verl")[:3]
    ['data_sources.code', 'data_sources.math', 'data_sources.mcq']
    """
    taken = []
    for f in fields(ExportConfig):
        formats = f.metadata.get("formats")
        if formats is not None and fmt not in formats:
            continue
        if f.name in SUBSECTIONS:
            taken += [f"{f.name}.{p.name}" for p in fields(SUBSECTIONS[f.name])]
        else:
            taken.append(f.name)
    return sorted(taken)


def check_format(name: str) -> None:
    """Refuse an unknown format, listing the known ones."""
    if name not in FORMATS:
        raise ExportError(f"unknown export format {name!r}; formats: {', '.join(FORMATS)}")


def check_keys(fmt: str, keys: Iterable[str]) -> None:
    """Refuse a key ``fmt`` does not take, naming it and what ``fmt`` takes."""
    check_format(fmt)
    taken = taken_keys(fmt)
    for name in keys:
        if name not in taken:
            raise ExportError(f"format {fmt!r} does not take key {name!r} "
                              f"(it takes: {', '.join(taken)})")


def export_checks(cfg: ExportConfig, prefix: str = "") -> list[tuple[bool, str, str]]:
    """``(ok, key, problem)`` checks of the values the types cannot catch (``prefix`` + key)."""
    checks = [
        (all(f in FORMATS for f in cfg.formats), "formats", f"must be among {FORMATS}"),
        (cfg.style in STYLES, "style", f"must be one of {STYLES}"),
        (cfg.target in TARGETS, "target", f"must be one of {TARGETS}"),
        (cfg.rows in ROWS, "rows", f"must be one of {ROWS}"),
        (cfg.k is None or cfg.k >= 1, "k", "must be >= 1 or null"),
        (cfg.pick in PICKS, "pick", f"must be one of {PICKS}"),
        (0 <= cfg.min_pass_rate <= cfg.max_pass_rate <= 1, "min_pass_rate",
         "and max_pass_rate must satisfy 0 <= min <= max <= 1"),
        (cfg.file_format is None or cfg.file_format in FILE_FORMATS, "file_format",
         f"must be one of {FILE_FORMATS} or null"),
        (cfg.rows_per_file >= 1, "rows_per_file", "must be >= 1"),
        (cfg.mb_per_file >= 1, "mb_per_file", "must be >= 1"),
        (cfg.pairs.rule in PAIR_RULES, "pairs.rule", f"must be one of {PAIR_RULES}"),
        (cfg.pairs.chosen in PAIR_PICKS, "pairs.chosen", f"must be one of {PAIR_PICKS}"),
        (cfg.pairs.rejected in PAIR_PICKS, "pairs.rejected", f"must be one of {PAIR_PICKS}"),
        (all(a in PAIR_ALLOW for a in cfg.pairs.allow), "pairs.allow",
         f"must be among {PAIR_ALLOW}"),
        (all(getattr(cfg.data_sources, f.name).strip() for f in fields(DataSourcesConfig)),
         "data_sources", "names must not be empty"),
        (bool(cfg.llamafactory.template.strip()), "llamafactory.template", "must not be empty"),
    ]
    return [(ok, prefix + name, why) for ok, name, why in checks]

