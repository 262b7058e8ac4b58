#!/usr/bin/env python3
"""Start a real registry (distribution) with a token service on loopback, then run the real
`binderhub-registry provision --output -` against it, the way the hook Job does, and `check` on
what it wrote. Uses the test suite's stand-ins (tests/stand_ins)."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.stand_ins.registry import Registry  # noqa: E402
from tests.stand_ins.token_server import TokenServer  # noqa: E402


def main() -> int:
    users = {"binder-robot": {"password": "try-local-password-0123456789", "grants": [("*", {"pull", "push", "delete"})]}}
    with TokenServer(users) as tokens, Registry(auth="token", token_server=tokens) as registry, tempfile.TemporaryDirectory() as tmp:
        values = Path(tmp) / "values.yaml"
        values.write_text(yaml.safe_dump({"registry": {"type": "generic", "generic": {
            "url": registry.url, "repository": "binder", "username": "binder-robot", "password": users["binder-robot"]["password"]}}}))
        print(
            f"# registry {registry.url} (token service {tokens.realm}); values:\n# " + values.read_text().replace("\n", "\n# "), flush=True
        )
        command = [sys.executable, "-m", "binderhub_registry", "provision", "--values", str(values), "--output", "-"]
        print("$ " + " ".join(command[2:]), flush=True)
        provisioned = subprocess.run(command, stdout=subprocess.PIPE, text=True)
        print(provisioned.stdout, end="", flush=True)
        if provisioned.returncode != 0:
            return provisioned.returncode
        secret = next(doc for doc in yaml.safe_load_all(provisioned.stdout) if doc and doc["kind"] == "Secret")
        import base64  # noqa: PLC0415

        config = Path(tmp) / "config.json"
        config.write_bytes(base64.b64decode(secret["data"]["config.json"]))
        command = [sys.executable, "-m", "binderhub_registry", "check", "--values", str(values), "--docker-config", str(config)]
        print("$ " + " ".join(command[2:]), flush=True)
        return subprocess.run(command).returncode


if __name__ == "__main__":
    sys.exit(main())
