"""Typed configuration, one dataclass per stage, mirrored by ``conf/*.yaml``.

``load(["conf=local", "sampling.n=8"])`` merges the schema defaults, the named
YAML file (after the files it names as ``base:``, :func:`conf_layers`) and
``key=value`` overrides (OmegaConf dotlist), then validates. Any
unknown key or bad value raises :class:`ConfigError` naming it, before Ray starts.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import MISSING, DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from raydistill import verifiers
from raydistill.errors import ConfigError
from raydistill.export.config import ExportConfig, export_checks
from raydistill.filters.config import BROKEN_TEST_POLICIES, FiltersConfig
from raydistill.loop.config import LoopConfig, renamed_key
from raydistill.sources import presets
from raydistill.sources.config import DatasetConfig, SourceConfig
from raydistill.teachers import TEACHERS
from raydistill.teachers.placement import replica_layout
from raydistill.train.config import TrainConfig, train_checks

__all__ = ["Config", "ConfigError", "DatasetConfig", "SourceConfig", "load", "to_dict"]

REPO_CONF_DIR = Path(__file__).resolve().parent.parent / "conf"
SOURCE_FORMATS = ("synthetic_arithmetic", "jsonl", "parquet", "hf")


@dataclass
class PromptConfig:
    """How a problem becomes chat messages."""

    template: str = "r1"
    system: str | None = None
    user_template: str | None = None


@dataclass
class TeacherConfig:
    """The model that writes the traces and the replicas that serve it."""

    name: str = "vllm"
    model: str = MISSING
    replicas: int = 1
    resources: dict[str, float] = field(default_factory=lambda: {"CPU": 1.0})
    tensor_parallel_size: int = 1
    pipeline_parallel_size: int = 1
    dtype: str = "auto"
    max_model_len: int | None = None
    gpu_memory_utilization: float = 0.9
    enable_prefix_caching: bool = True
    max_num_seqs: int = 256
    seed: int = 0
    batch_size: int = 16
    engine_kwargs: dict[str, Any] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    # vLLM pools (see raydistill.teachers.placement).
    max_replicas: int | None = None
    quantization: str | None = None
    # HTTP teacher, name=openai (see raydistill.teachers.http).
    base_url: str = ""
    api_key_env: str | None = None
    request_fields: dict[str, Any] = field(default_factory=dict)
    use_n: bool = True
    max_concurrency: int = 16
    requests_per_minute: float | None = None
    tokens_per_minute: float | None = None
    timeout_s: float = 600.0
    max_retries: int = 6
    backoff_base_s: float = 1.0
    backoff_max_s: float = 60.0
    retry_deadline_s: float = 1800.0
    price_input_per_million: float = 0.0
    price_output_per_million: float = 0.0


@dataclass
class SamplingConfig:
    """Decoding parameters, recorded on every output row."""

    n: int = 4
    temperature: float = 0.6
    top_p: float = 0.95
    max_tokens: int = 4096
    # vLLM's min_tokens: no end of sequence before this many tokens (0 = none).
    min_tokens: int = 0
    seed: int | None = None


@dataclass
class RunSamplingConfig(SamplingConfig):
    """Decoding parameters, recorded on every output row; and adaptive sampling's waves.

    Adaptive sampling: :mod:`raydistill.adaptive`.
    ``waves`` unset: ``n`` samples per problem, in one pass. Set: samples in waves
    (``[2, 4, 8]``: 2, then 4 more for the problems still short of
    ``stop_at_verified`` verified samples, then 8 more), at most ``max_samples``
    per problem in all (null: the sum of the waves); ``n`` is then unused.
    """

    waves: list[int] | None = None
    stop_at_verified: int = 1
    max_samples: int | None = None


@dataclass
class CodeSandboxConfig:
    """The code verifier and its sandbox: the one home of these defaults."""

    cpu_s: float = 4.0  # per test: 2-4x the 1-2 s contest limits, for Python
    wall_s: float = 10.0  # per test: sleeping or blocked programs; > cpu_s for load
    total_wall_s: float = 60.0  # the whole solution: bounds 100 slow tests to a minute
    memory_mb: int = 512  # address space per process: contest limits are 256 MB + Python
    max_processes: int = 16  # threads count too; the slot's cgroup caps it as well
    max_output_bytes: int = 8 << 20  # per test, well above contest outputs (a few MB)
    file_mb: int = 32  # largest file the program may write (RLIMIT_FSIZE)
    tmpfs_mb: int = 64  # the whole writable /tmp, captured outputs included
    max_open_files: int = 64  # contest programs open stdin/stdout and little else
    float_tolerance: float = 1e-6  # contest checkers accept 1e-6, relative or absolute
    allow_weak_sandbox: bool = False  # run without seccomp/uid/slot bound, loudly warned


@dataclass
class VerifyConfig:
    """The CPU verifier pool."""

    replicas: int = 2
    num_cpus: float = 1.0
    batch_size: int = 16
    # One math check's hard deadline (its child is killed); the only home of this default.
    # A check takes ~1 ms, so 5 s trips only on inputs that hang math-verify.
    math_timeout_s: float = 5.0
    code: CodeSandboxConfig = field(default_factory=CodeSandboxConfig)


JUDGE_POLICIES = ("rule_only", "rule_or_judge")


@dataclass
class JudgeConfig:
    """The LLM judge: a cascade step after the rule verifiers (raydistill.verifiers.judge)."""

    policy: str = "rule_only"
    domains: list[str] = field(default_factory=lambda: ["math", "mcq"])
    prompt: str | None = None
    teacher: TeacherConfig = field(default_factory=lambda: TeacherConfig(model=""))
    sampling: SamplingConfig = field(
        default_factory=lambda: SamplingConfig(n=1, temperature=0.0, top_p=1.0, max_tokens=256,
                                               seed=0))


@dataclass
class OutputConfig:
    """Where the dataset goes."""

    uri: str = MISSING
    s3_endpoint: str | None = None
    s3_region: str | None = None
    s3_retry_attempts: int = 10
    overwrite: bool = False
    max_error_fraction: float | None = None


@dataclass
class RayConfig:
    """How to reach Ray and how the plan is cut into blocks."""

    address: str | None = None
    num_cpus: int | None = None
    rows_per_block: int = 16
    max_task_retries: int = 10
    parquet_footer_readers: int = 2


@dataclass
class Config:
    """The whole run."""

    source: SourceConfig = field(default_factory=SourceConfig)
    prompt: PromptConfig = field(default_factory=PromptConfig)
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    sampling: RunSamplingConfig = field(default_factory=RunSamplingConfig)
    verify: VerifyConfig = field(default_factory=VerifyConfig)
    judge: JudgeConfig = field(default_factory=JudgeConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    ray: RayConfig = field(default_factory=RayConfig)
    export: ExportConfig = field(default_factory=ExportConfig)
    filters: FiltersConfig = field(default_factory=FiltersConfig)
    # Self-bootstrapping rounds and their fine-tuning (python -m raydistill.loop).
    loop: LoopConfig = field(default_factory=LoopConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


def conf_path(name: str) -> Path:
    """Resolve ``conf=NAME`` to a file: a path as given, else ``conf/NAME.yaml``.

    ``conf/`` is looked up in the working directory first (``ray job submit
    --working-dir``), then next to the package.
    """
    given = Path(name)
    if given.suffix in (".yaml", ".yml"):
        if given.is_file():
            return given
        raise ConfigError(f"conf file not found: {name}")
    for conf_dir in (Path.cwd() / "conf", REPO_CONF_DIR):
        candidate = conf_dir / f"{name}.yaml"
        if candidate.is_file():
            return candidate
    available = sorted(p.stem for p in REPO_CONF_DIR.glob("*.yaml"))
    raise ConfigError(f"no conf named {name!r}; available: {', '.join(available)}")


BASE_KEY = "base"


def conf_layers(path: Path, _chain: tuple[Path, ...] = ()) -> list[tuple[Path, Any]]:
    """The YAML layers of the conf file at ``path``, bases first, ``path`` last.

    A conf file may start with ``base: NAME`` (or a list of names): those files
    are merged first, in order, then the file itself, so an overlay such as
    ``gsm8k_local.yaml`` holds only what differs from ``local.yaml``. A base
    name is looked up next to the file first, then as ``conf=NAME`` is. Lists
    (``source.datasets``) are replaced, not appended. A cycle of bases fails,
    naming the chain.
    """
    path = path.resolve()
    if path in _chain:
        cycle = " -> ".join(p.name for p in (*_chain, path))
        raise ConfigError(f"conf files name each other as base: {cycle}")
    try:
        layer = OmegaConf.load(path)
    except (OmegaConfBaseException, OSError) as exc:
        raise ConfigError(f"{path}: {str(exc).splitlines()[0]}") from None
    bases = layer.pop(BASE_KEY, None) if isinstance(layer, DictConfig) else None
    names = [] if bases is None else [bases] if isinstance(bases, str) else list(bases)
    layers: list[tuple[Path, Any]] = []
    for name in names:
        beside = path.parent / f"{name}.yaml"
        base_path = beside if beside.is_file() else conf_path(str(name))
        layers += conf_layers(base_path, (*_chain, path))
    return [*layers, (path, layer)]


def clear_replaced_maps(merged: DictConfig, layer: Any) -> None:
    """Empty each map-valued key of ``merged`` (``resources``, ``env``, ...) that ``layer`` sets.

    So a conf file's map replaces its base's, as a list does, instead of adding
    keys to it: an overlay of ``local.yaml`` that says ``resources: {GPU: 1}``
    means one GPU, not that plus local's half CPU, and ``engine_kwargs: {}`` means
    none. Config sections (dataclasses) are still merged key by key.
    """
    if not isinstance(layer, DictConfig):
        return
    for key, value in layer.items_ex(resolve=False):
        if not isinstance(value, DictConfig) or key not in merged:
            continue
        node = merged._get_node(str(key))
        if OmegaConf.get_type(node) is dict:
            merged[str(key)] = {}
        elif isinstance(node, DictConfig):
            clear_replaced_maps(node, value)


def load(args: list[str]) -> Config:
    """Build a validated :class:`Config` from ``conf=NAME`` and ``key=value`` args."""
    conf_name = None
    overrides = []
    for arg in args:
        if "=" not in arg:
            raise ConfigError(f"expected key=value, got {arg!r}")
        if arg.startswith("conf="):
            conf_name = arg.split("=", 1)[1]
        else:
            overrides.append(arg)
    merged: Any = OmegaConf.structured(Config)
    try:
        for path, layer in conf_layers(conf_path(conf_name)) if conf_name else []:
            try:
                clear_replaced_maps(merged, layer)
                merged = OmegaConf.merge(merged, layer)
            except OmegaConfBaseException as exc:
                raise ConfigError(f"{_shown(path)}: {_describe(exc)}") from None
        for override in overrides:
            key, _, text = override.partition("=")
            value = OmegaConf.from_dotlist([f"value={text}"])["value"]
            OmegaConf.update(merged, key, value, merge=True)
        cfg: Config = OmegaConf.to_object(merged)  # type: ignore[assignment]
    except OmegaConfBaseException as exc:
        raise ConfigError(_describe(exc)) from None
    for ds in cfg.source.datasets:
        ds.domain = ds.domain or presets.domain_of(ds.preset)
    validate(cfg)
    return cfg


def _shown(path: Path) -> str:
    """``path`` relative to the working directory when it is below it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _describe(exc: OmegaConfBaseException) -> str:
    key = getattr(exc, "full_key", None)
    first_line = str(exc).splitlines()[0]
    if key and renamed_key(key):
        return f"config key {key!r} is now {renamed_key(key)!r}"
    return f"config key {key!r}: {first_line}" if key else first_line


def validate(cfg: Config) -> None:
    """Reject values the schema's types cannot catch, naming the key."""
    checks = [
        (cfg.sampling.n >= 1, "sampling.n", "must be >= 1"),
        (cfg.sampling.temperature >= 0, "sampling.temperature", "must be >= 0"),
        (0 < cfg.sampling.top_p <= 1, "sampling.top_p", "must be in (0, 1]"),
        (cfg.sampling.max_tokens >= 1, "sampling.max_tokens", "must be >= 1"),
        (0 <= cfg.sampling.min_tokens <= cfg.sampling.max_tokens, "sampling.min_tokens",
         "must be between 0 and sampling.max_tokens"),
        *sampling_checks(cfg.sampling),
        (cfg.source.limit is None or cfg.source.limit >= 0, "source.limit", "must be >= 0"),
        (bool(cfg.source.datasets), "source.datasets", "needs at least one data set"),
        (cfg.teacher.replicas >= 1, "teacher.replicas", "must be >= 1"),
        (cfg.teacher.batch_size >= 1, "teacher.batch_size", "must be >= 1"),
        (cfg.verify.replicas >= 1, "verify.replicas", "must be >= 1"),
        (cfg.verify.num_cpus > 0, "verify.num_cpus", "must be > 0"),
        *verify_checks(cfg.verify, cfg.judge),
        *((ok, f"export.{key}", why) for ok, key, why in export_checks(cfg.export)),
        *train_checks(cfg.train),
        *ray_checks(cfg.ray),
        (cfg.output.s3_retry_attempts >= 1, "output.s3_retry_attempts", "must be >= 1"),
        (cfg.output.max_error_fraction is None or 0 <= cfg.output.max_error_fraction <= 1,
         "output.max_error_fraction", "must be in [0, 1] or null"),
        (cfg.prompt.template in ("r1", "bespoke", "custom"), "prompt.template",
         "must be one of r1, bespoke, custom"),
        (cfg.prompt.template != "custom" or bool(cfg.prompt.user_template),
         "prompt.user_template", "is required when prompt.template=custom"),
        (all(v >= 0 for v in cfg.teacher.resources.values()), "teacher.resources",
         "amounts must be >= 0"),
        *filter_checks(cfg.filters),
    ]
    checks.append((cfg.teacher.name in TEACHERS, "teacher.name",
                   f"must be one of {sorted(TEACHERS)}"))
    checks += _teacher_checks(cfg.teacher)
    domains = verifiers.known_domains()
    for i, ds in enumerate(cfg.source.datasets):
        key = f"source.datasets[{i}]"
        checks += [
            (ds.format in SOURCE_FORMATS, f"{key}.format", f"must be one of {SOURCE_FORMATS}"),
            (ds.format == "synthetic_arithmetic" or bool(ds.path), f"{key}.path",
             f"is required for format {ds.format!r}"),
            (ds.domain in domains, f"{key}.domain", f"must be one of {domains}"),
            (not ds.preset or ds.preset in presets.PRESETS, f"{key}.preset",
             f"must be one of {sorted(presets.PRESETS)}"),
            (ds.offset >= 0, f"{key}.offset", "must be >= 0"),
            (ds.limit is None or ds.limit >= 0, f"{key}.limit", "must be >= 0"),
        ]
    for ok, key, problem in checks:
        if not ok:
            raise ConfigError(f"config key {key!r} {problem}")
    if not cfg.output.uri:
        raise ConfigError("config key 'output.uri' must be set")


def _teacher_checks(t: TeacherConfig) -> list[tuple[bool, str, str]]:
    try:
        replica_layout({"resources": t.resources, "tensor_parallel_size": t.tensor_parallel_size,
                        "pipeline_parallel_size": t.pipeline_parallel_size})
        layout_problem = ""
    except ValueError as exc:
        layout_problem = str(exc)
    http = t.name == "openai"
    return [
        (t.max_replicas is None or t.max_replicas >= t.replicas, "teacher.max_replicas",
         "must be >= teacher.replicas (or null for a fixed pool)"),
        (t.tensor_parallel_size >= 1 and t.pipeline_parallel_size >= 1,
         "teacher.tensor_parallel_size", "and pipeline_parallel_size must be >= 1"),
        (not layout_problem, "teacher.resources", layout_problem),
        (not http or t.base_url.startswith(("http://", "https://")), "teacher.base_url",
         "must be an http(s):// URL for teacher.name=openai"),
        (t.max_concurrency >= 1, "teacher.max_concurrency", "must be >= 1"),
        (t.requests_per_minute is None or t.requests_per_minute > 0,
         "teacher.requests_per_minute", "must be > 0 or null"),
        (t.tokens_per_minute is None or t.tokens_per_minute > 0,
         "teacher.tokens_per_minute", "must be > 0 or null"),
        (t.timeout_s > 0, "teacher.timeout_s", "must be > 0"),
        (t.max_retries >= 0, "teacher.max_retries", "must be >= 0"),
        (0 < t.backoff_base_s <= t.backoff_max_s, "teacher.backoff_base_s",
         "must be > 0 and <= teacher.backoff_max_s"),
        (t.retry_deadline_s > 0, "teacher.retry_deadline_s", "must be > 0"),
        (t.price_input_per_million >= 0 and t.price_output_per_million >= 0,
         "teacher.price_input_per_million", "and price_output_per_million must be >= 0"),
    ]


def sampling_checks(s: RunSamplingConfig) -> list[tuple[bool, str, str]]:
    """Checks of adaptive sampling's keys (they shape nothing while ``waves`` is null)."""
    if s.waves is None:
        return []
    cap = s.max_samples if s.max_samples is not None else sum(s.waves)
    return [
        (bool(s.waves) and all(w >= 1 for w in s.waves), "sampling.waves",
         "must be a non-empty list of samples per wave, each >= 1 (or null: a fixed n)"),
        (s.max_samples is None or s.max_samples >= 1, "sampling.max_samples",
         "must be >= 1 or null (the sum of sampling.waves)"),
        (1 <= s.stop_at_verified <= cap, "sampling.stop_at_verified",
         f"must be between 1 and the cap of samples per problem ({cap})"),
    ]


def ray_checks(r: RayConfig) -> list[tuple[bool, str, str]]:
    """Checks of the ``ray`` section (shared with ``raydistill.verify``)."""
    return [
        (r.num_cpus is None or r.num_cpus >= 1, "ray.num_cpus", "must be >= 1 or null"),
        (r.rows_per_block >= 1, "ray.rows_per_block", "must be >= 1"),
        (r.max_task_retries >= 0, "ray.max_task_retries", "must be >= 0"),
        (r.parquet_footer_readers >= 1, "ray.parquet_footer_readers", "must be >= 1"),
    ]


def verify_checks(v: VerifyConfig, judge: JudgeConfig) -> list[tuple[bool, str, str]]:
    """Checks of the ``verify`` and ``judge`` sections (shared with ``raydistill.verify``)."""
    code, domains = v.code, verifiers.known_domains()
    checks = [
        (v.math_timeout_s > 0, "verify.math_timeout_s", "must be > 0"),
        (v.batch_size >= 1, "verify.batch_size", "must be >= 1"),
        (judge.policy in JUDGE_POLICIES, "judge.policy", f"must be one of {JUDGE_POLICIES}"),
        (all(d in domains for d in judge.domains), "judge.domains", f"must be among {domains}"),
        (code.float_tolerance >= 0, "verify.code.float_tolerance", "must be >= 0"),
    ]
    checks += [(getattr(code, key) > 0, f"verify.code.{key}", "must be > 0")
                for key in ("cpu_s", "wall_s", "total_wall_s", "memory_mb", "max_processes",
                            "max_output_bytes", "file_mb", "tmpfs_mb", "max_open_files")]
    if judge.policy != "rule_only":
        checks += [
            (bool(judge.teacher.model), "judge.teacher.model", "must be set for a judge policy"),
            (judge.teacher.name in TEACHERS, "judge.teacher.name",
             f"must be one of {sorted(TEACHERS)}"),
            (judge.teacher.replicas >= 1, "judge.teacher.replicas", "must be >= 1"),
            (judge.sampling.n == 1, "judge.sampling.n", "must be 1 (one verdict per sample)"),
        ]
        checks += [(ok, f"judge.{key}", why) for ok, key, why in _teacher_checks(judge.teacher)]
    return checks


def filter_checks(f: FiltersConfig) -> list[tuple[bool, str, str]]:
    """Checks of the ``filters:`` section."""
    return [
        (0 < f.near.threshold <= 1, "filters.near.threshold", "must be in (0, 1]"),
        (f.near.num_perm >= 8, "filters.near.num_perm", "must be >= 8"),
        (f.near.bands * f.near.rows <= f.near.num_perm, "filters.near.bands",
         "bands x rows must be <= num_perm"),
        (f.near.shingle_words >= 1, "filters.near.shingle_words", "must be >= 1"),
        (f.decontam.ngram >= 1, "filters.decontam.ngram", "must be >= 1"),
        (all(b.name and b.path for b in f.decontam.benchmarks), "filters.decontam.benchmarks",
         "each needs a name and a path"),
        (f.code_tests.on_broken in BROKEN_TEST_POLICIES, "filters.code_tests.on_broken",
         f"must be one of {BROKEN_TEST_POLICIES}"),
    ]


def to_dict(cfg: Config) -> dict[str, Any]:
    """Plain-dict view, for summaries and provenance."""
    return OmegaConf.to_container(OmegaConf.structured(cfg))  # type: ignore[return-value]


def s3_endpoint(cfg: OutputConfig) -> str | None:
    """The S3 endpoint: the config's, else ``AWS_ENDPOINT_URL`` (pyarrow ignores it)."""
    return cfg.s3_endpoint or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get(
        "AWS_ENDPOINT_URL"
    )
