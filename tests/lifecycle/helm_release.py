"""The README's commands, run for real: ``helm install / upgrade / test / uninstall`` of the chart
(with BinderHub's chart as its dependency) by the real Helm 3 or 4 against the test cluster."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.fixtures_cluster import Cluster

TEST_POD = "binderhub-registry-check-push"


@dataclass
class HelmResult:
    command: list[str]
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def assert_ok(self) -> HelmResult:
        assert self.returncode == 0, f"{' '.join(self.command[1:3])} failed ({self.returncode}):\n{self.output}"
        return self


@dataclass
class HelmRelease:
    cluster: Cluster
    helm: Path
    chart: Path
    name: str
    namespace: str
    home: Path  # Helm's config, cache and data for this test only
    base_values: dict[str, Any] = field(default_factory=dict)  # the hook image and test settings

    def _environment(self) -> dict[str, str]:
        return {
            "PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
            "HOME": str(self.home),
            "KUBECONFIG": str(self.cluster.kubeconfig),
            **{f"HELM_{kind}_HOME": str(self.home / kind.lower()) for kind in ("CONFIG", "CACHE", "DATA")},
        }

    def helm_command(self, *arguments: str, check: bool = False, timeout: float = 600) -> HelmResult:
        command = [str(self.helm), *arguments]
        proc = subprocess.run(command, capture_output=True, text=True, env=self._environment(), timeout=timeout)
        result = HelmResult(command, proc.returncode, proc.stdout, proc.stderr)
        return result.assert_ok() if check else result

    def _values_files(self, values: list[Path]) -> list[str]:
        base = self.home / "base-values.yaml"
        base.parent.mkdir(parents=True, exist_ok=True)
        base.write_text(yaml.safe_dump(self.base_values))
        return [argument for path in [base, *values] for argument in ("-f", str(path))]

    def install(self, values: list[Path], *extra: str, check: bool = True) -> HelmResult:
        return self.helm_command("install", self.name, str(self.chart), "-n", self.namespace, *self._values_files(values),
                                 "--timeout", "5m", *extra, check=check)

    def start_install(self, values: list[Path], *extra: str) -> subprocess.Popen[str]:
        """``helm install`` in the background, for a test that acts on the cluster meanwhile."""
        command = [str(self.helm), "install", self.name, str(self.chart), "-n", self.namespace, *self._values_files(values),
                   "--timeout", "5m", *extra]
        return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=self._environment())

    def upgrade(self, values: list[Path], *extra: str, check: bool = True) -> HelmResult:
        return self.helm_command("upgrade", self.name, str(self.chart), "-n", self.namespace, *self._values_files(values),
                                 "--timeout", "5m", *extra, check=check)

    def test(self, *extra: str, check: bool = True) -> HelmResult:
        """``helm test``; its Pod's log is :meth:`test_log` (``--logs`` also asks for logs of the
        test hooks that are not Pods, which Helm 4.1 cannot do: see the README)."""
        return self.helm_command("test", self.name, "-n", self.namespace, "--timeout", "5m", *extra, check=check)

    def test_log(self) -> str:
        return self.cluster.kubectl("logs", f"pod/{TEST_POD}", namespace=self.namespace, check=False).stdout

    def uninstall(self, check: bool = True) -> HelmResult:
        return self.helm_command("uninstall", self.name, "-n", self.namespace, "--wait", "--timeout", "5m", check=check)

    def logs(self, job: str) -> str:
        return self.cluster.kubectl("logs", f"job/{job}", namespace=self.namespace, check=False).stdout

    def get(self, kind: str, name: str) -> dict[str, Any] | None:
        return self.cluster.get(kind, name, self.namespace)
