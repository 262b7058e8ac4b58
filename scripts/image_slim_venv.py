#!/usr/bin/env python3
"""Trim the hook image's virtual environment and compile its bytecode (run by the Dockerfile).

Removes what the hook never runs:
* pip and setuptools (nothing is installed at run time);
* the Kubernetes client's asyncio copy (`kubernetes/aio`) and its generated per-group API
  classes and models (`kubernetes/client/api/*`, `kubernetes/client/models/*`; their packages'
  lazy `__init__.py` stay): the hook's Kubernetes writer (binderhub_registry/kube.py) sends JSON
  dicts through the client's REST layer (kube_client.py) and never imports them;
* the Google API versions the hook does not call (it uses `iam_admin_v1`; Artifact Registry is
  called on its REST API through google-auth), type stubs (`*.pyi`), `.proto` sources and the client's own tests;
* botocore's models of the AWS services registry.type ecr does not call (all but ECR and STS:
  28 of its 32 MB);
* every `__pycache__` pip may have left.
Then it compiles every remaining module to bytecode, hash-based and unchecked, so it stays valid
whatever file times the image keeps and a start on a read-only root filesystem reads bytecode
instead of compiling. The image tests run the CLI in the image and fail if anything it imports
is compiled from source or missing."""

from __future__ import annotations

import compileall
import py_compile
import shutil
import sys
from pathlib import Path

UNUSED = [
    "pip", "setuptools", "pkg_resources", "_distutils_hack", "distutils-precedence.pth",
    "kubernetes/aio",
    "google/cloud/iam_v2", "google/cloud/iam_v2beta", "google/cloud/iam_v3", "google/cloud/iam_v3beta",
    "google/cloud/iam_credentials_v1", "google/cloud/iam_credentials", "google/cloud/artifactregistry_v1beta2",
]
UNUSED_DIST_INFO = ("pip-", "setuptools-")
GENERATED_KUBERNETES = ["kubernetes/client/api", "kubernetes/client/models"]
UNUSED_FILES = ["**/*.pyi", "**/*.proto", "kubernetes/**/*_test.py"]
AWS_SERVICES = frozenset({"ecr", "sts"})  # botocore/data/<service>: the models registry.type ecr loads


def remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def trim(site_packages: Path) -> None:
    for name in UNUSED:
        remove(site_packages / name)
    for dist_info in site_packages.glob("*.dist-info"):
        if dist_info.name.startswith(UNUSED_DIST_INFO):
            remove(dist_info)
    for package in GENERATED_KUBERNETES:
        for module in (site_packages / package).iterdir():
            if module.name != "__init__.py":
                remove(module)
    for model in (site_packages / "botocore" / "data").glob("*/"):
        if model.is_dir() and model.name not in AWS_SERVICES:
            remove(model)
    for pattern in UNUSED_FILES:
        for path in list(site_packages.glob(pattern)):
            remove(path)


def main(venv: Path) -> int:
    site_packages = next(venv.glob("lib/python3*/site-packages"))
    trim(site_packages)
    for script in venv.glob("bin/pip*"):
        remove(script)
    for cache in list(venv.rglob("__pycache__")):
        remove(cache)
    compiled = compileall.compile_dir(site_packages, quiet=1, workers=0,
                                      invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
    return 0 if compiled else 1


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
