"""./scripts/try-local, as the README runs it: the chart installed, tested and uninstalled for real
on the test cluster, told in a few lines."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.cluster

ROOT = Path(__file__).resolve().parents[2]


def test_try_local_installs_tests_and_uninstalls_for_real(cluster):
    result = subprocess.run([str(ROOT / "scripts" / "try-local")], capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) <= 10
    assert any("helm install: the hook Job proved push and wrote Secret try-local/binderhub-registry" in line for line in lines)
    assert any("helm test: a pod mounting the Secret as BinderHub does pushed: BinderHub can push to" in line for line in lines)
    assert any(line.endswith("left of ours: nothing") for line in lines)
    assert "try-local-password" not in result.stdout + result.stderr
