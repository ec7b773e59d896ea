
import pytest

from raydistill.config import ConfigError, conf_path, load
from tests.support.paths import REPO

CONF_DIR = REPO / "conf"


@pytest.mark.parametrize("path", sorted(CONF_DIR.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_conf_file_loads_through_the_real_loader(path):
    cfg = load([f"conf={path.stem}"])
    assert cfg.output.uri
    assert cfg.source.datasets


@pytest.mark.parametrize("path", sorted(CONF_DIR.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_conf_key_has_a_comment_above_it(path):
    lines = path.read_text().splitlines()
    for i, line in enumerate(lines):
        stripped = line.strip()
        if not stripped or stripped.startswith("#") or ":" not in stripped:
            continue
        if lines[i - 1].strip().startswith("- "):
            continue  # a list item's first key is documented above the "- "
        assert lines[i - 1].strip().startswith("#"), f"{path.name}:{i + 1} {stripped!r}"


def test_conf_by_path_and_overrides():
    cfg = load([f"conf={CONF_DIR / 'local.yaml'}", "sampling.n=2", "source.limit=5",
                "output.uri=/tmp/x", "sampling.temperature=0.3", "sampling.max_tokens=7",
                "teacher.model=some/model"])
    assert (cfg.sampling.n, cfg.source.limit, cfg.output.uri) == (2, 5, "/tmp/x")
    assert (cfg.sampling.temperature, cfg.sampling.max_tokens) == (0.3, 7)
    assert cfg.teacher.model == "some/model"


def test_misspelled_key_is_named():
    with pytest.raises(ConfigError, match="sampling.temprature"):
        load(["conf=local", "sampling.temprature=0.5"])


def test_misspelled_key_in_a_yaml_file_is_named(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("output:\n  urii: /tmp/x\n")
    with pytest.raises(ConfigError, match="urii"):
        load([f"conf={bad}"])


def test_wrong_type_is_named():
    with pytest.raises(ConfigError, match="sampling.n"):
        load(["conf=local", "sampling.n=many"])


@pytest.mark.parametrize(
    "override, key",
    [
        ("sampling.n=0", "sampling.n"),
        ("sampling.top_p=1.5", "sampling.top_p"),
        ("sampling.min_tokens=129", "sampling.min_tokens"),  # over max_tokens (128)
        ("ray.parquet_footer_readers=0", "ray.parquet_footer_readers"),
        ("teacher.replicas=0", "teacher.replicas"),
        ("prompt.template=nope", "prompt.template"),
        ("teacher.name=nope", "teacher.name"),
        ("source.datasets.0.domain=poetry", "source.datasets[0].domain"),
        ("source.datasets.0.format=csv", "source.datasets[0].format"),
    ],
)
def test_bad_values_are_named(override, key):
    with pytest.raises(ConfigError, match=key.replace("[", r"\[").replace("]", r"\]")):
        load(["conf=local", override])


def test_unknown_conf_lists_the_available_ones():
    with pytest.raises(ConfigError, match="local"):
        conf_path("no-such-conf")


def test_argument_without_equals_is_rejected():
    with pytest.raises(ConfigError, match="key=value"):
        load(["local"])


def test_gsm8k_local_builds_on_local():
    local, gsm8k = load(["conf=local"]), load(["conf=gsm8k_local"])
    assert gsm8k.teacher == local.teacher and gsm8k.ray == local.ray
    assert (gsm8k.source.limit, gsm8k.sampling.max_tokens) == (300, 256)
    assert [ds.name for ds in gsm8k.source.datasets] == ["gsm8k"]  # lists are replaced
    assert "teacher:" not in (CONF_DIR / "gsm8k_local.yaml").read_text()


def test_an_overlay_wins_over_its_bases_in_order(tmp_path):
    (tmp_path / "a.yaml").write_text("sampling: {n: 2, top_p: 0.5}\noutput: {uri: /tmp/a}\n")
    (tmp_path / "b.yaml").write_text("base: a\nsampling: {n: 3}\n")
    (tmp_path / "c.yaml").write_text(f"base: [{CONF_DIR / 'local'}, b]\nsampling: {{n: 5}}\n")
    cfg = load([f"conf={tmp_path / 'c.yaml'}"])
    # local (n=4, top_p 1.0) < a (n=2, top_p 0.5) < b (n=3) < c (n=5).
    assert (cfg.sampling.n, cfg.sampling.top_p, cfg.output.uri) == (5, 0.5, "/tmp/a")
    assert cfg.teacher.model == "builtin:tiny-teacher"
    assert load([f"conf={tmp_path / 'c.yaml'}", "sampling.n=7"]).sampling.n == 7


def test_a_map_in_an_overlay_replaces_its_base_s_map(tmp_path):
    (tmp_path / "gpu.yaml").write_text(
        "base: local\nteacher:\n  resources: {GPU: 1}\n  engine_kwargs: {}\n"
        "judge:\n  teacher:\n    env: {HF_ENDPOINT: 'https://mirror'}\n")
    cfg, local = load([f"conf={tmp_path / 'gpu.yaml'}"]), load(["conf=local"])
    # Not {CPU: 0.5, GPU: 1}: the overlay's map is the whole map, as a list would be.
    assert cfg.teacher.resources == {"GPU": 1.0} and cfg.teacher.engine_kwargs == {}
    assert cfg.judge.teacher.env == {"HF_ENDPOINT": "https://mirror"}
    # Maps the overlay does not name, and the sections around them, are the base's.
    assert cfg.teacher.env == local.teacher.env and cfg.teacher.model == local.teacher.model
    assert cfg.judge.teacher.engine_kwargs == local.judge.teacher.engine_kwargs
    # A key=value override still merges into a map, OmegaConf-style.
    merged = load(["conf=local", "teacher.resources={GPU: 1}"])
    assert merged.teacher.resources == {"CPU": 0.5, "GPU": 1.0}


def test_an_unknown_key_in_an_overlay_is_named_with_its_file(tmp_path):
    (tmp_path / "over.yaml").write_text("base: local\nsampling:\n  temprature: 0.5\n")
    with pytest.raises(ConfigError, match=r"over\.yaml.*sampling\.temprature"):
        load([f"conf={tmp_path / 'over.yaml'}"])


def test_a_cycle_of_bases_fails_naming_the_chain(tmp_path):
    (tmp_path / "a.yaml").write_text("base: b\n")
    (tmp_path / "b.yaml").write_text("base: a\n")
    with pytest.raises(ConfigError, match=r"a\.yaml -> b\.yaml -> a\.yaml"):
        load([f"conf={tmp_path / 'a.yaml'}"])


def test_a_missing_base_lists_the_confs(tmp_path):
    (tmp_path / "a.yaml").write_text("base: no_such_base\n")
    with pytest.raises(ConfigError, match="no conf named 'no_such_base'.*local"):
        load([f"conf={tmp_path / 'a.yaml'}"])


def test_a_teacher_key_the_chosen_backend_does_not_take_is_refused_naming_it(tmp_path):
    with pytest.raises(ConfigError, match=r"'teacher\.base_url'.*teacher\.name=openai"):
        load(["conf=local", "teacher.base_url=http://127.0.0.1:8000/v1"])
    with pytest.raises(ConfigError, match=r"'judge\.teacher\.use_n'"):
        load(["conf=local", "judge.teacher.use_n=false"])
    # The layer that names the backend may not carry the other backend's keys ...
    (tmp_path / "api.yaml").write_text(
        "base: local\nteacher:\n  name: openai\n  base_url: http://h/v1\n  dtype: float32\n")
    with pytest.raises(ConfigError, match=r"api\.yaml.*'teacher\.dtype'.*teacher\.name=vllm"):
        load([f"conf={tmp_path / 'api.yaml'}"])
    # ... while the layers below it may: switching the backend drops them, keeps the rest.
    (tmp_path / "api.yaml").write_text(
        "base: local\nteacher:\n  name: openai\n  base_url: http://h/v1\n")
    local = load(["conf=local"])
    for args in ([f"conf={tmp_path / 'api.yaml'}"],
                 ["conf=local", "teacher.name=openai", "teacher.base_url=http://h/v1"]):
        cfg = load(args)
        assert type(cfg.teacher).__name__ == "HTTPTeacherConfig"
        assert cfg.teacher.resources == local.teacher.resources
        assert not hasattr(cfg.teacher, "dtype") and cfg.teacher.base_url == "http://h/v1"
    with pytest.raises(ConfigError, match=r"'teacher\.name' must be one of"):
        load(["conf=local", "teacher.name=tgi"])


def test_one_error_format_for_confs_the_verify_command_and_export_options():
    from raydistill.cli import verify
    from raydistill.export.config import ExportError
    from raydistill.export.plan import options

    with pytest.raises(ConfigError, match=r"^config key 'verify\.replcas': .*replicas"):
        load(["conf=local", "verify.replcas=2"])
    with pytest.raises(ConfigError, match=r"^config key 'verify\.replcas': .*replicas"):
        verify.load(["verify.replcas=2"])
    with pytest.raises(ConfigError, match=r"^config key 'verify\.replicas' must be >= 1"):
        verify.load(["verify.replicas=0"])
    with pytest.raises(ExportError, match=r"^config key 'export\.k': .*Integer"):
        options("trl_sft", {"k": "many"})
    with pytest.raises(ExportError, match=r"^config key 'export\.k' must be >= 1"):
        options("trl_sft", {"k": 0})


def test_the_verify_command_types_its_judge_teacher_by_backend():
    from raydistill.cli import verify

    cfg = verify.load(["judge.teacher.name=openai", "judge.teacher.base_url=http://h/v1"])
    assert type(cfg.judge.teacher).__name__ == "HTTPTeacherConfig"
    with pytest.raises(ConfigError, match=r"'judge\.teacher\.base_url'.*name=openai"):
        verify.load(["judge.teacher.base_url=http://h/v1"])
