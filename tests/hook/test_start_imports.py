"""What a hook run imports is start-up time and memory users wait for inside `helm install`: a
generic provision imports none of the Google, Kubernetes or jsonschema libraries it does not use
(lazy imports per registry type; kube_client; schema_check)."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.helpers import generic_values, write_values

RUN_AND_LIST_MODULES = """
import json, sys
from binderhub_registry.cli import main
code = main(sys.argv[1:])
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""
NEVER_ON_THE_GENERIC_PATH = ("jsonschema", "kubernetes", "google", "grpc", "cryptography")


def test_a_generic_provision_imports_only_what_it_uses(tmp_path, htpasswd_registry):
    values = write_values(tmp_path / "values.yaml", generic_values(htpasswd_registry.url, "alice", htpasswd_registry.password("alice")))
    proc = subprocess.run([sys.executable, "-c", RUN_AND_LIST_MODULES, "provision", "--values", str(values), "--output", "-"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    outcome = json.loads(proc.stdout.splitlines()[-1])
    assert outcome["code"] == 0
    assert "httpx" in outcome["modules"] and "jinja2" in outcome["modules"]  # what it does use
    assert [m for m in outcome["modules"] if m.split(".")[0] in NEVER_ON_THE_GENERIC_PATH] == []
