"""cluster/: Ray's own schema for the launcher YAML, KubeRay structure, and the confs' fit.

Pairing rule between confs and cluster files: a cluster file runs the conf its
job command names (`conf=NAME` in the `ray job submit` line of a launcher file,
in the RayJob's entrypoint of a KubeRay file); that conf must fit that cluster.
Every other conf in conf/ must fit at least one cluster file.
"""

import copy
import json
import math
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

import jsonschema
import pytest
import ray
import ray.autoscaler
import yaml
from ray.autoscaler._private.util import prepare_config, validate_config

from raydistill.config import load
from tests.support.paths import REPO

ROOT = REPO
CLUSTER = ROOT / "cluster"
SCHEMA = json.loads((Path(ray.autoscaler.__file__).parent / "ray-schema.json").read_text())
CONFS = sorted(p.stem for p in (ROOT / "conf").glob("*.yaml"))


def documents(path):
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def launcher_files():
    return [p for p in sorted(CLUSTER.glob("*.yaml")) if "provider" in documents(p)[0]]


def kuberay_files():
    return [p for p in sorted(CLUSTER.glob("*.yaml")) if "apiVersion" in documents(p)[0]]


@dataclass
class NodeType:
    name: str
    resources: dict
    max_workers: int


def cpu_quantity(text) -> float:
    text = str(text)
    return float(text[:-1]) / 1000 if text.endswith("m") else float(text)


def kuberay_group(name, group, max_workers) -> NodeType:
    params = group["rayStartParams"]
    limits = group["template"]["spec"]["containers"][0]["resources"]["limits"]
    resources = {"CPU": cpu_quantity(params.get("num-cpus", limits["cpu"]))}
    gpus = params.get("num-gpus", limits.get("nvidia.com/gpu", 0))
    if float(gpus):
        resources["GPU"] = float(gpus)
    if "resources" in params:  # KubeRay's format: a JSON string quoted once more
        resources.update(json.loads(json.loads(params["resources"])))
    return NodeType(name, resources, max_workers)


def node_types(path) -> list[NodeType]:
    docs = documents(path)
    if "provider" in docs[0]:
        return [NodeType(name, {k: float(v) for k, v in t["resources"].items()},
                         1 if name == docs[0]["head_node_type"] else t.get("max_workers", 0))
                for name, t in docs[0]["available_node_types"].items()]
    spec = next(d for d in docs if d["kind"] == "RayCluster")["spec"]
    found = [kuberay_group("head", spec["headGroupSpec"], 1)]
    found += [kuberay_group(g["groupName"], g, g["maxReplicas"]) for g in spec["workerGroupSpecs"]]
    return found


def job_confs(path) -> list[str]:
    docs = documents(path)
    if "provider" in docs[0]:
        text = "\n".join(line for line in path.read_text().splitlines()
                         if line.lstrip().startswith("#"))
        commands = re.findall(r"ray job submit.*?(?:\n#[^\n]*)*?conf=(\w+)", text)
        return commands
    return [re.search(r"conf=(\w+)", d["spec"]["entrypoint"]).group(1)
            for d in docs if d["kind"] == "RayJob"]


def fit_problems(conf_name, path) -> list[str]:
    """Why conf `conf_name` cannot run on the cluster in `path` (empty: it fits)."""
    cfg = load([f"conf={conf_name}"])
    types = node_types(path)
    asked = {k: v for k, v in cfg.teacher.resources.items() if v > 0}
    problems = []
    capacity = 0
    for t in types:
        if all(t.resources.get(k, 0) >= v for k, v in asked.items()):
            per_node = min((math.floor(t.resources[k] / v) for k, v in asked.items()), default=1)
            capacity += per_node * t.max_workers
    # An autoscaling pool (teacher.max_replicas) must be able to reach its maximum.
    replicas = max(cfg.teacher.replicas, getattr(cfg.teacher, "max_replicas", None) or 0)
    if capacity < replicas:
        problems.append(f"teacher needs {replicas} x {asked}, the node types offer "
                        f"room for {capacity}: {[(t.name, t.resources) for t in types]}")
    if not any(t.resources.get("CPU", 0) >= cfg.verify.num_cpus for t in types):
        problems.append(f"no node type has {cfg.verify.num_cpus} CPUs for one verifier")
    return problems


@pytest.mark.parametrize("path", launcher_files(), ids=lambda p: p.name)
def test_launcher_yaml_matches_rays_schema(path):
    config = documents(path)[0]
    jsonschema.validate(config, SCHEMA)
    # Ray's own loader: fills the provider's defaults and checks what the schema cannot.
    validate_config(prepare_config(copy.deepcopy(config)))
    types = config["available_node_types"]
    assert config["head_node_type"] in types
    assert config["idle_timeout_minutes"] > 0
    workers = [t for n, t in types.items() if n != config["head_node_type"]]
    assert any(t["resources"].get("GPU") for t in workers), "a GPU worker type for teachers"
    assert any(not t["resources"].get("GPU") and t["resources"]["CPU"] >= 32 for t in workers), \
        "a CPU worker type with many cores for verifiers"
    assert all(t["min_workers"] <= t["max_workers"] for t in workers)
    setup = " ".join(config["setup_commands"])
    assert "[gpu]" in setup, "installs raydistill with the gpu extra"


def test_schema_check_can_fail():
    config = documents(CLUSTER / "aws.yaml")[0]
    broken = copy.deepcopy(config)
    broken["idle_timeout_minute"] = 5  # a misspelt key
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, SCHEMA)
    broken = copy.deepcopy(config)
    broken["available_node_types"]["gpu_teacher"]["resources"]["GPU"] = "eight"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, SCHEMA)


@pytest.mark.parametrize("path", kuberay_files(), ids=lambda p: p.name)
def test_kuberay_manifest_structure(path):
    docs = documents(path)
    kinds = [d["kind"] for d in docs]
    assert kinds.count("RayCluster") == 1 and kinds.count("RayJob") == 1
    for doc in docs:
        assert doc["apiVersion"] == "ray.io/v1"
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", doc["metadata"]["name"])
    cluster = docs[kinds.index("RayCluster")]
    spec = cluster["spec"]
    assert spec["enableInTreeAutoscaling"] is True
    assert spec["autoscalerOptions"]["idleTimeoutSeconds"] > 0
    groups = [spec["headGroupSpec"], *spec["workerGroupSpecs"]]
    for group in groups:
        assert isinstance(group["rayStartParams"], dict)
        assert all(isinstance(v, str) for v in group["rayStartParams"].values()), \
            "KubeRay wants rayStartParams values as strings"
        pod = group["template"]["spec"]
        assert pod["containers"][0]["image"] and pod["containers"][0]["name"]
        mounts = {m["name"] for c in pod["containers"] for m in c.get("volumeMounts", [])}
        assert mounts <= {v["name"] for v in pod.get("volumes", [])}
        limits = pod["containers"][0]["resources"]["limits"]
        assert limits == pod["containers"][0]["resources"]["requests"] or group is spec[
            "headGroupSpec"] or "cpu" in limits
    for group in spec["workerGroupSpecs"]:
        assert 0 <= group["minReplicas"] <= group["replicas"] <= group["maxReplicas"]
    names = [g["groupName"] for g in spec["workerGroupSpecs"]]
    assert len(set(names)) == len(names)
    job = docs[kinds.index("RayJob")]["spec"]
    assert job["entrypoint"].startswith("python -m raydistill.run conf=")
    assert job["clusterSelector"]["ray.io/cluster"] == cluster["metadata"]["name"]
    assert "working_dir" in yaml.safe_load(job["runtimeEnvYAML"])


def test_every_cluster_names_a_job_conf():
    for path in launcher_files() + kuberay_files():
        assert job_confs(path), f"{path.name} names no conf=... job"


def test_ascend_cluster_offers_npu_with_the_vllm_ascend_image():
    types = node_types(CLUSTER / "kuberay-ascend.yaml")
    assert any(t.resources.get("NPU", 0) >= 8 for t in types)
    spec = documents(CLUSTER / "kuberay-ascend.yaml")[0]["spec"]
    npu = [g for g in spec["workerGroupSpecs"] if "NPU" in g["rayStartParams"].get("resources", "")]
    assert "vllm-ascend" in npu[0]["template"]["spec"]["containers"][0]["image"]


@pytest.mark.parametrize("path", launcher_files() + kuberay_files(), ids=lambda p: p.name)
def test_job_conf_fits_its_cluster(path):
    for name in job_confs(path):
        assert name in CONFS, f"{path.name} runs conf={name}, but conf/{name}.yaml is missing"
        assert fit_problems(name, path) == []


@pytest.mark.parametrize("conf", CONFS)
def test_every_conf_fits_some_cluster(conf):
    found = {p.name: fit_problems(conf, p) for p in launcher_files() + kuberay_files()}
    assert any(not problems for problems in found.values()), found


def test_fit_check_can_fail(tmp_path):
    # A conf asking for NPUs cannot run on the GPU cluster; one asking for 16 GPUs per
    # replica fits no node type (one replica must fit one node); 9 replicas of 8 GPUs
    # need more nodes than the 8 the GPU group may start.
    for resources, tp, replicas in [("{NPU: 8}", 8, 1), ("{GPU: 16}", 16, 1), ("{GPU: 8}", 8, 9)]:
        conf = tmp_path / "c.yaml"
        conf.write_text((ROOT / "conf" / "local.yaml").read_text())
        cfg = yaml.safe_load(conf.read_text())
        cfg["teacher"].update(resources=yaml.safe_load(resources), tensor_parallel_size=tp,
                              replicas=replicas)
        conf.write_text(yaml.safe_dump(cfg))
        problems = fit_problems(str(conf), CLUSTER / "kuberay.yaml")
        assert any("teacher needs" in p for p in problems), problems
    cfg["teacher"].update(resources={"GPU": 8}, tensor_parallel_size=8, replicas=8)
    conf.write_text(yaml.safe_dump(cfg))
    assert fit_problems(str(conf), CLUSTER / "kuberay.yaml") == []


def test_images_match_installed_ray():
    installed = ".".join(ray.__version__.split(".")[:2])
    for path in launcher_files() + kuberay_files():
        text = path.read_text()
        versions = re.findall(r"rayproject/ray:(\d+\.\d+)", text)
        versions += re.findall(r'rayVersion: "(\d+\.\d+)', text)
        assert versions and set(versions) == {installed}, (path.name, versions)


def test_runtime_env_pip_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    needed = {d for d in project["dependencies"] if not d.startswith("ray[")}
    for path in kuberay_files():
        job = next(d for d in documents(path) if d["kind"] == "RayJob")
        pip = set(yaml.safe_load(job["spec"]["runtimeEnvYAML"])["pip"])
        extra = {"gpu": set(project["optional-dependencies"]["gpu"])} if "ascend" not in \
            path.name else {}
        assert pip == needed | set().union(*extra.values()), path.name
