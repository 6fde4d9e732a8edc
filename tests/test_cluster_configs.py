"""The cluster definitions under cluster/: parsed and checked without starting anything (well under 2 s).

What must hold: token auth on every Ray cluster config; the dashboard on loopback, or behind a
ClusterIP Service only; no secret values (secrets come from files and secretKeyRef); the shared volume at
ZSDIST_HOME on every pod; RayJobs clean up after themselves; the image installs with constraints.txt and
checks the fonts. The job commands themselves (RayJob entrypoints, cluster/README.md) are checked against
the real parsers in test_cluster_commands.py.
"""

import importlib.util
import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
CLUSTER = ROOT / "cluster"
DOCKERFILE = (CLUSTER / "Dockerfile").read_text()
# A key or variable named like a secret (not a reference to one: secretName, secretKeyRef).
SECRET_NAME = re.compile(r"(?i)^[a-z_][\w-]*(password|passwd|token|secret|api_?key|access_?key)$")
LITERAL_SECRET = re.compile(r"(?i)\b\w*(PASSWORD|TOKEN|SECRET)\w*=(?![$'\"])\S"       # VAR=literal
                            r"|[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@]+@")                # user:password@host
LOOPBACK = {"127.0.0.1", "localhost"}
OBJECT_STORAGE_SECRET = "zsdist-object-storage"  # AWS_* keys, optional where pods have an identity


def _docs() -> dict[Path, list]:
    return {path: [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
            for path in sorted(CLUSTER.rglob("*.y*ml"))}


DOCS = _docs()
LAUNCHER = {p: d[0] for p, d in DOCS.items() if "launcher" in p.parts}
K8S = [(p, d) for p, docs in DOCS.items() if "kuberay" in p.parts for d in docs]
RAY_CLUSTERS = [(p, d["spec"] if d["kind"] == "RayCluster" else d["spec"]["rayClusterSpec"])
                for p, d in K8S if d["kind"] in ("RayCluster", "RayJob")]
RAY_JOBS = {p.name: d for p, d in K8S if d["kind"] == "RayJob"}
CONSTRAINT_RAY = re.search(r"^ray==(\S+)$", (ROOT / "constraints.txt").read_text(), re.MULTILINE)[1]


def _pods(spec: dict) -> list[dict]:
    groups = [spec["headGroupSpec"], *spec.get("workerGroupSpecs", [])]
    return [group["template"]["spec"] for group in groups]


def _env(container: dict) -> dict[str, dict]:
    return {e["name"]: e for e in container.get("env", [])}


def _strings(node):
    if isinstance(node, dict):
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item)
    elif isinstance(node, str):
        yield node


def _pairs(node):
    if isinstance(node, dict):
        for key, value in node.items():
            yield key, value
            yield from _pairs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _pairs(item)


def test_the_expected_definitions_exist_and_parse():
    names = {p.relative_to(CLUSTER).as_posix() for p in DOCS}
    assert {"launcher/aws-gpu.yaml", "launcher/onprem-local.yaml", "kuberay/raycluster.yaml",
            "kuberay/shared-storage.yaml", "kuberay/mlflow.yaml"} <= names
    assert set(RAY_JOBS) == {"rayjob-fonts-datagen.yaml", "rayjob-fonts-v2-datagen.yaml", "rayjob-train-gzsnet.yaml",
                             "rayjob-train-cadavae.yaml", "rayjob-tune.yaml"}
    assert all(isinstance(d, dict) for docs in DOCS.values() for d in docs)
    assert all(d["apiVersion"] == "ray.io/v1" for _, d in K8S if d["kind"] in ("RayCluster", "RayJob"))


def test_launcher_configs_follow_rays_schema():
    schema_dir = Path(importlib.util.find_spec("ray").submodule_search_locations[0]) / "autoscaler"
    schema = json.loads((schema_dir / "ray-schema.json").read_text())
    for config in LAUNCHER.values():
        jsonschema.validate(config, schema)  # the check `ray up` starts with


@pytest.mark.parametrize("name", ["aws-gpu.yaml", "onprem-local.yaml"])
def test_launcher_token_auth_loopback_dashboard_shared_storage(name):
    config = LAUNCHER[CLUSTER / "launcher" / name]
    docker = config["docker"]
    options = " ".join(docker.get("run_options", []))
    assert "--env RAY_AUTH_MODE=token" in options, "every container (servers and clients) needs token mode"
    assert any(k.endswith(".ray/auth_token") for k in config["file_mounts"]), "the token must reach every node"
    heads = [c for c in config["head_start_ray_commands"] if re.search(r"\bray start\b.*--head", c)]
    assert heads and all(re.search(r"--dashboard-host[= ]127\.0\.0\.1\b", c) or "--include-dashboard=false" in c
                         for c in heads)
    home = re.search(r"--env ZSDIST_HOME=(\S+)", options)[1]
    assert f"--volume {home}:{home}" in options, "ZSDIST_HOME must be the shared mount"
    assert docker["image"] == _image(), "one image for every cluster"


def _long_lived() -> dict:
    return next(spec for path, spec in RAY_CLUSTERS if path.name == "raycluster.yaml")


def _image() -> str:
    return _long_lived()["headGroupSpec"]["template"]["spec"]["containers"][0]["image"]


def test_kuberay_clusters_use_token_auth_shared_volume_and_no_exposed_dashboard():
    claim = next(d for _, d in K8S if d["kind"] == "PersistentVolumeClaim")
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    mlflow = next(d for _, d in K8S if d["kind"] == "Service" and d["metadata"]["name"] == "zsdist-mlflow")
    mlflow_uri = f"http://{mlflow['metadata']['name']}:{mlflow['spec']['ports'][0]['port']}"
    for path, spec in RAY_CLUSTERS:
        where = path.name
        assert spec["rayVersion"] == CONSTRAINT_RAY, f"{where}: rayVersion must be the image's Ray"
        auth = spec["authOptions"]
        assert auth["mode"] == "token" and auth["secretName"], where
        head = spec["headGroupSpec"]
        if head["rayStartParams"].get("dashboard-host", "0.0.0.0") not in LOOPBACK:
            # Only a RayJob's cluster may listen on the pod's address (the operator and the submitter
            # call its dashboard), and then only behind a ClusterIP Service, never an Ingress.
            assert spec is not _long_lived(), f"{where}: the dashboard must bind to 127.0.0.1"
            assert head.get("serviceType", "ClusterIP") == "ClusterIP" and not head.get("enableIngress"), where
            assert head.get("headService", {}).get("spec", {}).get("type", "ClusterIP") == "ClusterIP", where
        for pod in _pods(spec):
            assert pod["securityContext"]["runAsNonRoot"] is True, where
            claims = {v["name"]: v["persistentVolumeClaim"]["claimName"] for v in pod["volumes"]
                      if "persistentVolumeClaim" in v}
            for container in pod["containers"]:
                env = _env(container)
                assert env["RAY_AUTH_MODE"]["value"] == "token", where
                ref = env["RAY_AUTH_TOKEN"]["valueFrom"]["secretKeyRef"]
                assert ref == {"name": auth["secretName"], "key": "auth_token"}, where
                assert env["MLFLOW_TRACKING_URI"]["value"] == mlflow_uri, where
                mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
                assert claims.get(mounts.get(env["ZSDIST_HOME"]["value"])) == claim["metadata"]["name"], where
                assert container["image"] == _image(), where
    gpu_groups = [g for g in _long_lived()["workerGroupSpecs"]
                  if "nvidia.com/gpu" in g["template"]["spec"]["containers"][0]["resources"]["limits"]]
    assert gpu_groups, "the long-lived cluster needs a GPU worker group"


def test_nothing_is_exposed_outside_kubernetes():
    for path, doc in K8S:
        assert doc["kind"] not in ("Ingress", "Secret"), f"{path.name}: no Ingress, no Secret manifests"
        if doc["kind"] == "Service":
            assert doc["spec"].get("type", "ClusterIP") == "ClusterIP", path.name


def test_no_literal_secrets_in_any_config():
    for path, docs in DOCS.items():
        for key, value in _pairs(docs):
            if isinstance(value, (str, int)) and SECRET_NAME.search(str(key)):
                pytest.fail(f"{path.name}: {key} has a literal value")
            if isinstance(value, list) and key in ("env", "envFrom"):
                for entry in value:
                    if SECRET_NAME.search(entry.get("name", "")) and "value" in entry:
                        pytest.fail(f"{path.name}: env {entry['name']} must come from a secretKeyRef")
        for text in _strings(docs):
            assert not LITERAL_SECRET.search(text), f"{path.name}: secret-like literal in {text!r}"
    code = [line for line in DOCKERFILE.splitlines() if not line.lstrip().startswith("#")]
    assert not [line for line in code if re.match(r"\s*(ENV|ARG)\b.*(PASSWORD|TOKEN|SECRET)", line, re.IGNORECASE)]
    assert not [line for line in code if LITERAL_SECRET.search(line) or "auth_token" in line]


def test_image_installs_like_install_sh_with_constraints_and_fonts():
    runs = re.findall(r"^RUN (.*?)(?<!\\)$", DOCKERFILE, re.MULTILINE | re.DOTALL)
    assert re.search(r"^(ARG CUDA_BASE=|FROM )nvidia/cuda:", DOCKERFILE, re.MULTILINE)
    assert any("python3.11 -m venv" in r for r in runs)
    torch_at = next(i for i, r in enumerate(runs) if '"torch==' in r)
    # The project itself (with its s3 extra: boto3 for MLflow artifacts on s3:// and the AWS autoscaler).
    project_at = next(i for i, r in enumerate(runs)
                      if re.search(r"pip install -c constraints\.txt (\.|\"\.\[s3\]\")(\s|$)", r))
    assert torch_at < project_at, "torch first, as scripts/install.sh, so the project keeps the CUDA build"
    assert any("-r datagen/fonts/requirements.txt" in r for r in runs)
    assert any("verify_fonts(" in r for r in runs[project_at:]), "the fonts are checked after installing"
    assert not re.search(r"\bray(\[[^\]]*\])?==", DOCKERFILE), "Ray comes from constraints.txt, like the clients"
    pyproject = (ROOT / "pyproject.toml").read_text()
    ray_req = Requirement(re.search(r'"(ray\[[^"]*)"', pyproject)[1])
    assert ray_req.specifier.contains(CONSTRAINT_RAY)
    assert re.findall(r"^USER\s+(\S+)", DOCKERFILE, re.MULTILINE)[-1] not in ("root", "0")
    for source in re.findall(r"^COPY (?!--)(\S+) ", DOCKERFILE, re.MULTILINE):
        assert (ROOT / source).exists(), source


def test_rayjobs_clean_up_after_themselves():
    for name, job in RAY_JOBS.items():
        spec = job["spec"]
        assert spec["shutdownAfterJobFinishes"] is True and spec["ttlSecondsAfterFinished"] >= 0, name


def test_rayjobs_writing_to_object_storage_give_every_container_its_credentials_from_a_secret():
    # Every writer uploads its own shards, so every pod (not only the driver's) needs the credentials;
    # they come from an optional Secret (absent where a pod identity grants access), never a value here.
    writers = {name: job for name, job in RAY_JOBS.items() if re.search(r"\b(s3|gs)://", job["spec"]["entrypoint"])}
    assert "rayjob-fonts-v2-datagen.yaml" in writers
    for name, job in writers.items():
        for pod in _pods(job["spec"]["rayClusterSpec"]):
            for container in pod["containers"]:
                assert container.get("envFrom") == [{"secretRef": {"name": OBJECT_STORAGE_SECRET, "optional": True}}], \
                    f"{name}: {container['name']} lacks the object storage credentials"


def test_readme_heads_bind_loopback_and_link_the_mlflow_guide():
    text = (CLUSTER / "README.md").read_text().replace("\\\n", " ")
    for line in re.findall(r"^.*\bray start --head.*$", text, re.MULTILINE):
        assert "--dashboard-host 127.0.0.1" in line, line
    assert "(mlflow-server.md)" in text


def _pip_installs(script: str) -> list[tuple[str, bool]]:
    """(what, with constraints.txt) of each `pip install` in a shell script or Dockerfile, in order."""
    installs = []
    for command in re.findall(r"pip install\b(.*?)(?:&&|$)", script.replace("\\\n", " "), re.MULTILINE):
        what = ("torch" if "torch==" in command else "fonts" if "datagen/fonts/requirements.txt" in command
                else "project" if re.search(r"""(^|\s)(-e\s+)?['"]?\.(\[|['"\s]|$)""", command) else None)
        if what:
            installs.append((what, "-c constraints.txt" in command))
    return installs


def test_install_sh_and_the_image_install_in_the_same_order_with_constraints():
    local = _pip_installs((ROOT / "scripts" / "install.sh").read_text())
    image = _pip_installs(DOCKERFILE)
    assert [what for what, _ in local] == [what for what, _ in image] == ["torch", "fonts", "project"]
    assert all(constrained for what, constrained in local + image if what != "torch"), (local, image)
