#!/usr/bin/env python3
"""Build the test cluster's programs from the published Go modules, once per version.

Kubernetes (apiserver, controller-manager, scheduler, kubelet, kube-proxy) comes from
``k8s.io/kubernetes`` as pinned in ``tests/cluster/k8s/go.mod``; etcd from
``go.etcd.io/etcd/server/v3`` as pinned in ``tests/cluster/etcd/go.mod``; CoreDNS from
``github.com/coredns/coredns`` as pinned in ``tests/cluster/coredns/go.mod``; crictl from
``sigs.k8s.io/cri-tools``; and our own pause program (``tests/cluster/pause``). Each set goes to
``.tools/<name>-<version>/``; a set whose binaries are all there is left alone, and Go's build
cache makes a rebuild after ``rm -rf .tools`` a matter of linking. Stdlib only: it runs before
the project's virtual environment exists.

Usage: ``python3 tests/cluster/build.py`` prints the directory of each set, one per line.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent.parent
TOOLS = REPO_ROOT / ".tools"


@dataclass(frozen=True)
class GoBuild:
    name: str  # the directory under .tools, with the version appended
    module_dir: Path  # our module that requires the upstream one
    upstream: str  # the upstream module whose version names the set
    packages: dict[str, str]  # binary name -> package path

    def version(self) -> str:
        for line in (self.module_dir / "go.mod").read_text().splitlines():
            words = line.split()
            if len(words) >= 2 and words[-2] == self.upstream and words[0] in ("require", self.upstream):
                return words[-1]
        raise SystemExit(f"{self.module_dir}/go.mod does not require {self.upstream}")

    def destination(self) -> Path:
        return TOOLS / f"{self.name}-{self.version()}"

    def ldflags(self) -> str:
        return "-s -w"


class KubernetesBuild(GoBuild):
    def ldflags(self) -> str:
        # What Kubernetes' own build stamps in, so that the components report their release
        # (the API server's /version is what Helm checks a chart's kubeVersion against).
        version = self.version()
        major, minor = version.lstrip("v").split(".")[:2]
        stamp = "k8s.io/component-base/version"
        return " ".join([
            "-s -w",
            f"-X {stamp}.gitVersion={version}",
            f"-X {stamp}.gitMajor={major}",
            f"-X {stamp}.gitMinor={minor}",
            f"-X {stamp}.gitTreeState=clean",
            f"-X {stamp}/verflag.programName=kubernetes",
        ])


BUILDS = [
    KubernetesBuild(
        name="kubernetes",
        module_dir=HERE / "k8s",
        upstream="k8s.io/kubernetes",
        packages={
            name: f"k8s.io/kubernetes/cmd/{name}"
            for name in ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy")
        },
    ),
    GoBuild(name="etcd", module_dir=HERE / "etcd", upstream="go.etcd.io/etcd/server/v3", packages={"etcd": "."}),
    GoBuild(name="coredns", module_dir=HERE / "coredns", upstream="github.com/coredns/coredns", packages={"coredns": "."}),
    GoBuild(name="crictl", module_dir=HERE / "critools", upstream="sigs.k8s.io/cri-tools",
            packages={"crictl": "sigs.k8s.io/cri-tools/cmd/crictl"}),
]


class PauseBuild(GoBuild):
    """Our own pause program: static (it runs alone in an image made from scratch)."""

    def version(self) -> str:
        return "3.10"


PAUSE = PauseBuild(name="pause", module_dir=HERE / "pause", upstream="", packages={"pause": "."})
BUILDS.append(PAUSE)


def build(spec: GoBuild) -> Path:
    destination = spec.destination()
    missing = [name for name in spec.packages if not (destination / name).is_file()]
    if not missing:
        return destination
    destination.mkdir(parents=True, exist_ok=True)
    partial = destination / ".partial"
    partial.mkdir(exist_ok=True)
    environment = {**os.environ, "GOFLAGS": "-trimpath -buildvcs=false"}
    if isinstance(spec, PauseBuild):
        environment["CGO_ENABLED"] = "0"
    for name in missing:
        print(f"building {name} {spec.version()} (go build; minutes the first time)", file=sys.stderr, flush=True)
        subprocess.run(
            ["go", "build", "-ldflags", spec.ldflags(), "-o", str(partial / name), spec.packages[name]],
            cwd=spec.module_dir, env=environment, check=True,
        )
        (partial / name).rename(destination / name)
    partial.rmdir()
    return destination


def main() -> int:
    try:
        for spec in BUILDS:
            print(build(spec))
    except subprocess.CalledProcessError as error:
        print(f"go build failed ({error.returncode}); its output is above", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
