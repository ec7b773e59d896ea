"""The run's typed configuration: the sections, composed, mirrored by ``conf/*.yaml``.

Each section's dataclass lives beside the code it configures (``source``:
``sources/config.py``; ``prompt``: ``prompts.py``; ``teacher``, ``sampling``:
``teachers/config.py``; ``verify``, ``judge``: ``verifiers/config.py``; ``labels``:
``verifiers/labels.py``; ``output``: ``output/config.py``; ``ray``: ``ray_config.py``; ``filters``,
``export``, ``loop``, ``train``: their packages' ``config.py``). Every field
carries its documentation and role (:mod:`raydistill.keys`);
``docs/config-reference.md`` is generated from them (:mod:`.reference`).

``load(["conf=local", "sampling.n=8"])`` merges the schema defaults, the named
YAML file (after the files it names as ``base:``, :func:`conf_layers`) and
``key=value`` overrides through the one loader (:func:`.loader.build`), then
validates. ``teacher.name`` (and ``judge.teacher.name``) picks the teacher
section's type: a key the chosen backend does not take is refused, naming it.
Any unknown key or bad value raises :class:`ConfigError` naming it, before Ray
starts.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from omegaconf import MISSING, DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from raydistill import verifiers
from raydistill.config.loader import Layer, build, parse_overrides, raise_first, to_dict
from raydistill.errors import ConfigError
from raydistill.eval.config import EvalConfig
from raydistill.export.config import ExportConfig, export_checks
from raydistill.filters.config import FiltersConfig, filter_checks
from raydistill.keys import key
from raydistill.loop.config import LoopConfig, renamed_key
from raydistill.output.caps import cap_checks
from raydistill.output.config import OutputConfig, output_checks
from raydistill.prompts import PromptConfig, prompt_checks
from raydistill.ray_config import RayConfig, ray_checks
from raydistill.sampling.escalation import wave_teacher_checks
from raydistill.sources import presets
from raydistill.sources.config import SourceConfig
from raydistill.teachers.config import (
    BACKENDS,
    RunSamplingConfig,
    TeacherConfig,
    VLLMTeacherConfig,
    backend_of_key,
    sampling_checks,
    teacher_checks,
)
from raydistill.train.config import TrainConfig, train_checks
from raydistill.verifiers.config import JudgeConfig, VerifyConfig, verify_checks
from raydistill.verifiers.labels import LabelsConfig, labels_checks

__all__ = ["Config", "ConfigError", "load", "to_dict"]

REPO_CONF_DIR = Path(__file__).resolve().parent.parent.parent / "conf"
SOURCE_FORMATS = ("synthetic_arithmetic", "jsonl", "parquet", "hf")
BASE_KEY = "base"
# The sections whose type teacher.name picks, as dotted paths.
TEACHER_SECTIONS = ("teacher", "judge.teacher")


@dataclass
class Config:
    """The whole run."""

    source: SourceConfig = key(factory=SourceConfig, doc="Where problems come from.")
    prompt: PromptConfig = key(factory=PromptConfig, doc="How a problem becomes chat messages.")
    teacher: TeacherConfig = key(factory=VLLMTeacherConfig, doc="The model that writes the "
                                 "traces and the replicas serving it; name (vllm, openai) "
                                 "picks the backend and its keys.")
    teachers: dict[str, TeacherConfig] = key(factory=dict, doc="Named extra teachers for "
                                             "escalation, each a teacher section (its name "
                                             "picks the backend); a sampling.waves entry "
                                             "{n: 4, teacher: NAME} asks one.")
    sampling: RunSamplingConfig = key(factory=RunSamplingConfig, doc="Decoding parameters, "
                                      "recorded on every output row.")
    verify: VerifyConfig = key(factory=VerifyConfig, doc="The CPU verifier pool.")
    judge: JudgeConfig = key(factory=JudgeConfig, doc="The LLM judge after the rule verifiers.")
    labels: LabelsConfig = key(factory=LabelsConfig, doc="Where a problem's label comes from "
                               "(gold, the majority of its samples) and the audit of its gold.")
    output: OutputConfig = key(factory=OutputConfig, doc="Where the dataset goes.", perf=True)
    ray: RayConfig = key(factory=RayConfig, doc="How to reach Ray and how the plan is cut into "
                         "blocks.", perf=True)
    export: ExportConfig = key(factory=ExportConfig, doc="Trainer-ready exports written at the "
                               "end of a run (and the options of python -m raydistill.export).")
    filters: FiltersConfig = key(factory=FiltersConfig, doc="Problem filters before the "
                                 "teacher, trace filters after it.")
    loop: LoopConfig = key(factory=LoopConfig, doc="Self-bootstrapping rounds "
                           "(python -m raydistill.loop).")
    train: TrainConfig = key(factory=TrainConfig, doc="Fine-tuning of a loop round (Ray Train "
                             "+ TRL).")
    eval: EvalConfig = key(factory=EvalConfig, doc="Benchmarks and protocol of raydistill eval "
                           "(the loop's rounds use it too).")


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


def conf_layers(path: Path, _chain: tuple[Path, ...] = ()) -> list[Layer]:
    """The YAML layers of the conf file at ``path``, bases first, ``path`` last.

    A conf file may start with ``base: NAME`` (or a list of names): those files
    are merged first, in order, then the file itself, so an overlay such as
    ``gsm8k_local.yaml`` holds only what differs from ``local.yaml``. A base
    name is looked up next to the file first, then as ``conf=NAME`` is. Lists
    (``source.datasets``) and maps (``teacher.resources``) are replaced, not
    appended. A cycle of bases fails, naming the chain.
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
    layers: list[Layer] = []
    for name in names:
        beside = path.parent / f"{name}.yaml"
        base_path = beside if beside.is_file() else conf_path(str(name))
        layers += conf_layers(base_path, (*_chain, path))
    return [*layers, (path, layer)]


def load(args: list[str]) -> Config:
    """Build a validated :class:`Config` from ``conf=NAME`` and ``key=value`` args."""
    overrides = parse_overrides(args)
    conf_names = [value for name, value in overrides if name == "conf"]
    overrides = [(name, value) for name, value in overrides if name != "conf"]
    layers = conf_layers(conf_path(str(conf_names[-1]))) if conf_names else []
    named = named_teachers(layers, overrides)
    schema = replace(Config(), teachers={name: TeacherConfig(model=MISSING) for name in named})
    schema, layers = pick_backends(schema, (*TEACHER_SECTIONS, *(f"teachers.{name}"
                                                                 for name in named)),
                                   layers, overrides)
    cfg: Config = build(schema, layers, overrides, hint=key_hint)
    for ds in cfg.source.datasets:
        ds.domain = ds.domain or presets.domain_of(ds.preset)
    validate(cfg)
    return cfg


def named_teachers(layers: list[Layer], overrides: list[tuple[str, Any]]) -> list[str]:
    """The names under ``teachers`` that the conf's layers and the overrides define, in order."""
    names: dict[str, None] = {}
    for _, layer in layers:
        node = OmegaConf.select(layer, "teachers", default=None)
        if isinstance(node, DictConfig):
            names.update(dict.fromkeys(str(k) for k in node))
    for given, value in overrides:
        head, _, rest = given.partition(".")
        if head == "teachers" and rest:
            names[rest.partition(".")[0]] = None
        elif head == "teachers" and isinstance(value, dict):
            names.update(dict.fromkeys(str(k) for k in value))
    return list(names)


def pick_backends(schema: Any, sections: Iterable[str], layers: list[Layer],
                  overrides: list[tuple[str, Any]]) -> tuple[Any, list[Layer]]:
    """``schema`` (a dataclass instance) with each teacher section typed for its backend.

    Used by every loader of a config holding teacher sections (the run's, the
    verify-only command's ``judge.teacher``); see :func:`_pick_backend`.
    """
    for section in sections:
        schema, layers = _pick_backend(schema, section, layers, overrides)
    return schema, layers


def _with(schema: Any, dotted: str, value: Any) -> Any:
    """A copy of ``schema`` (a dataclass or a dict) with the item at ``dotted`` set to ``value``."""
    head, _, rest = dotted.partition(".")
    inner = _with(_get(schema, head), rest, value) if rest else value
    return {**schema, head: inner} if isinstance(schema, dict) else replace(schema,
                                                                           **{head: inner})


def _get(schema: Any, name: str) -> Any:
    return schema[name] if isinstance(schema, dict) else getattr(schema, name)


def _pick_backend(schema: Any, section: str, layers: list[Layer],
                  overrides: list[tuple[str, Any]]) -> tuple[Any, list[Layer]]:
    """``schema`` with ``section`` typed for the backend its ``name`` ends as, and the layers.

    A layer below the one that names the backend may set the keys of another
    backend (``conf=local teacher.name=openai``: local's vLLM keys): those are
    dropped, as switching the backend means. Keys of another backend in the
    naming layer or above are refused by the loader, naming them.
    """
    name, named_at = "vllm", -1
    for i, (_, layer) in enumerate(layers):
        found = OmegaConf.select(layer, f"{section}.name", default=None)
        if found is not None:
            name, named_at = str(found), i
    for given, value in overrides:
        if given == f"{section}.name":
            name, named_at = str(value), len(layers)
    if name not in BACKENDS:
        raise ConfigError(f"config key '{section}.name' must be one of {sorted(BACKENDS)}")
    backend = BACKENDS[name]
    ours = set(backend.__dataclass_fields__)
    kept = []
    for i, (path, layer) in enumerate(layers):
        node = OmegaConf.select(layer, section, default=None)
        if i < named_at and isinstance(node, DictConfig):
            layer = layer.copy()
            node = OmegaConf.select(layer, section)
            for other in [k for k in node if k not in ours and backend_of_key(str(k))]:
                node.pop(other)
        kept.append((path, layer))
    current = functools.reduce(_get, section.split("."), schema)
    return _with(schema, section, backend(model=current.model)), kept


def key_hint(full_key: str) -> str | None:
    """What more to say of an unknown key: its new name, or the backend that takes it."""
    if new := renamed_key(full_key):
        return f"is now {new!r}"
    return other_backend(full_key)


def other_backend(full_key: str) -> str | None:
    """Whose key ``full_key`` is, when it is a teacher key the chosen backend does not take."""
    section, _, name = full_key.rpartition(".")
    teacher_section = section in TEACHER_SECTIONS or section.startswith("teachers.")
    owners = backend_of_key(name) if teacher_section else []
    if not owners:
        return None
    return f"a key of {section}.name={' or '.join(owners)}, not of the backend chosen"


def validate(cfg: Config) -> None:
    """Reject values the schema's types cannot catch, naming the key."""
    checks = [
        *sampling_checks(cfg.sampling),
        (cfg.source.limit is None or cfg.source.limit >= 0, "source.limit", "must be >= 0"),
        (bool(cfg.source.datasets), "source.datasets", "needs at least one data set"),
        *teacher_checks(cfg.teacher),
        *(check for name, t in cfg.teachers.items()
          for check in teacher_checks(t, f"teachers.{name}")),
        *wave_teacher_checks(cfg),
        *verify_checks(cfg.verify, cfg.judge),
        *labels_checks(cfg.labels),
        *export_checks(cfg.export, "export."),
        *train_checks(cfg.train),
        *ray_checks(cfg.ray),
        *output_checks(cfg.output),
        *cap_checks(cfg),
        *prompt_checks(cfg.prompt),
        *filter_checks(cfg.filters),
    ]
    domains = verifiers.known_domains()
    for i, ds in enumerate(cfg.source.datasets):
        name = f"source.datasets[{i}]"
        checks += [
            (ds.format in SOURCE_FORMATS, f"{name}.format", f"must be one of {SOURCE_FORMATS}"),
            (ds.format == "synthetic_arithmetic" or bool(ds.path), f"{name}.path",
             f"is required for format {ds.format!r}"),
            (ds.domain in domains, f"{name}.domain", f"must be one of {domains}"),
            (not ds.preset or ds.preset in presets.PRESETS, f"{name}.preset",
             f"must be one of {sorted(presets.PRESETS)}"),
            (ds.offset >= 0, f"{name}.offset", "must be >= 0"),
            (ds.limit is None or ds.limit >= 0, f"{name}.limit", "must be >= 0"),
        ]
    raise_first(checks)

