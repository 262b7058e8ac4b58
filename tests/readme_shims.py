"""`helm`, `kubectl` and `gcloud` as the README's shell blocks meet them in tests/test_readme.py,
where there is no cluster, no Google and no network (run as `python readme_shims.py PROGRAM ARGS`).

- helm: the real Helm 3 or 4 (`README_HELM`). `install` and `upgrade [--install]` become `helm
  template` with the same arguments (what Helm renders and validates before it talks to the
  cluster; `--timeout`, `--wait` and `--atomic` only concern the cluster); `repo`, `pull` and
  `dependency` run as they are, with jupyterhub's Helm repository URL replaced by the local
  repository the test serves (`README_CHART_REPO`), which holds BinderHub's chart at the version
  chart/Chart.yaml pins. Anything else (test, uninstall, ...) is refused: it needs a cluster.
- kubectl: `create` runs for real with `--dry-run=client`; `get configmap <secret>-settings -o
  jsonpath={.data.KEY}` prints KEY of the settings ConfigMap the hook writes for that Secret, from
  the real `binderhub-registry render`. Anything else is refused.
- gcloud: recorded only (no Google here).

Every command is appended to `README_LOG`, one JSON line each, with its exit code.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

UPSTREAM_REPO = re.compile(r"https://jupyterhub\.github\.io/helm-chart/?")
CLUSTER_ONLY_FLAGS = {"--timeout": 1, "--wait": 0, "--atomic": 0, "--install": 0}


def log(program: str, args: list[str], code: int) -> int:
    with open(os.environ["README_LOG"], "a", encoding="utf-8") as out:
        out.write(json.dumps({"program": program, "args": args, "code": code}) + "\n")
    return code


def without_cluster_flags(args: list[str]) -> list[str]:
    kept: list[str] = []
    skip = 0
    for arg in args:
        if skip:
            skip -= 1
            continue
        name = arg.split("=", 1)[0]
        if name in CLUSTER_ONLY_FLAGS:
            skip = CLUSTER_ONLY_FLAGS[name] if "=" not in arg else 0
            continue
        kept.append(arg)
    return kept


def helm(args: list[str]) -> int:
    real = os.environ["README_HELM"]
    args = [UPSTREAM_REPO.sub(os.environ["README_CHART_REPO"], arg) for arg in args]
    if args[:1] in (["install"], ["upgrade"]):
        return subprocess.run([real, "template", *without_cluster_flags(args[1:])], check=False).returncode
    if args[:1] in (["repo"], ["pull"], ["dependency"]):
        return subprocess.run([real, *args], check=False).returncode
    print(f"readme shim: `helm {' '.join(args[:1])}` needs a cluster, which tests do not have", file=sys.stderr)
    return 3


def kubectl(args: list[str]) -> int:
    real = os.environ["README_KUBECTL"]
    if "create" in args:
        return subprocess.run([real, *args, "--dry-run=client", "-o", "yaml"], check=False, stdout=subprocess.DEVNULL).returncode
    jsonpath = next((arg.split("=", 1)[1] for arg in args if arg.startswith("jsonpath=")), "")
    jsonpath = jsonpath or (args[args.index("-o") + 1].split("=", 1)[1] if "-o" in args else "")
    names = [arg for arg in args if arg.endswith("-settings")]
    key = re.fullmatch(r"\{\.data\.(.+)\}", jsonpath)
    if "get" not in args or "configmap" not in args or len(names) != 1 or not key:
        print(f"readme shim: `kubectl {' '.join(args)}` needs a cluster, which tests do not have", file=sys.stderr)
        return 3
    secret = names[0].removesuffix("-settings")
    values = {"registry": {"type": "generic", "generic": {"url": "https://registry.example.org", "username": "u", "password": "p"}},
              "output": {"secretName": secret}}
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as file:
        json.dump(values, file)
    rendered = subprocess.run([sys.executable, "-m", "binderhub_registry", "render", "--values", file.name],
                              capture_output=True, text=True, check=False)
    os.unlink(file.name)
    if rendered.returncode != 0:
        print(rendered.stderr, file=sys.stderr)
        return rendered.returncode
    import yaml  # noqa: PLC0415  (only this command reads YAML)

    for document in yaml.safe_load_all(rendered.stdout):
        if document and document.get("kind") == "ConfigMap" and document["metadata"]["name"] == names[0]:
            print(document["data"][key[1].replace("\\.", ".")], end="")
            return 0
    print(f"readme shim: no ConfigMap {names[0]}", file=sys.stderr)
    return 1


def main(argv: list[str]) -> int:
    program, args = Path(argv[0]).name, argv[1:]
    handlers = {"helm": helm, "kubectl": kubectl, "gcloud": lambda _args: 0}
    return log(program, args, handlers[program](args))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
