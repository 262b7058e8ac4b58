#!/usr/bin/env python3
"""Collect the hook image's runtime into a root directory (run by the Dockerfile's build stage).

The final image is `FROM scratch` plus this directory plus the virtual environment: Debian's
Python (the interpreter, its standard library without tests and tools, recompiled to hash-based
bytecode so it is valid whatever file times the image keeps), exactly the shared libraries the
interpreter, its extension modules and the environment's extension modules link (found with
`ldd`), `/etc/passwd` and `/etc/group` naming uid and gid 65532, `/tmp`, and the Debian package
records of what was copied (`/var/lib/dpkg/status.d/`, which image scanners read). No shell,
no package manager: nothing the hook does not run.

Usage: image_rootfs.py ROOT VENV"""

from __future__ import annotations

import compileall
import os
import py_compile
import re
import shutil
import subprocess
import sys
from pathlib import Path

PYTHON = Path(os.path.realpath(sys.executable))  # /usr/bin/python3.11 (the build stage's python3)
STDLIB = Path(os.__file__).parent  # /usr/lib/python3.11
STDLIB_UNUSED = {"test", "ensurepip", "idlelib", "lib2to3", "pydoc_data", "tkinter", "turtledemo", "venv"}
EXTRA_LIBRARIES = ["libgcc_s.so.1"]  # dlopen()ed by glibc when a thread is cancelled; ldd cannot see it
ROOT_LINKS = ["/bin", "/lib", "/lib64", "/sbin"]  # merged /usr: the ELF interpreter is /lib*/ld-*.so
FILES = {
    "etc/passwd": "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/tmp:/sbin/nologin\n",
    "etc/group": "root:x:0:\nnonroot:x:65532:\n",
    "etc/nsswitch.conf": "passwd: files\ngroup: files\nhosts: files dns\n",
}
LDD_LINE = re.compile(r"(?:=>\s*)?(/\S+)\s+\(0x")


def copy_path(root: Path, path: Path) -> None:
    """Copy one file into root at the same place, as a link if it is one (and its target too)."""
    path = Path(os.path.realpath(path.parent)) / path.name
    dest = root / path.relative_to("/")
    if dest.exists() or dest.is_symlink():
        return
    dest.parent.mkdir(parents=True, exist_ok=True)
    if path.is_symlink():
        target = os.readlink(path)
        dest.symlink_to(target)
        copy_path(root, path.parent / target)
    else:
        shutil.copy2(path, dest)


def shared_libraries(binaries: list[Path]) -> set[Path]:
    """Every library the binaries link, as ldd resolves them (ELF interpreter included)."""
    found: set[Path] = set()
    for binary in binaries:
        output = subprocess.run(["ldd", str(binary)], capture_output=True, text=True).stdout
        found.update(Path(match.group(1)) for match in LDD_LINE.finditer(output))
    return found


def library_path(name: str) -> Path:
    output = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True, check=True).stdout
    match = re.search(rf"\s{re.escape(name)} \([^)]*\) => (\S+)", output)
    if not match:
        raise SystemExit(f"{name} not found by ldconfig")
    return Path(match.group(1))


def copy_python(root: Path) -> None:
    copy_path(root, PYTHON)
    for link in PYTHON.parent.glob("python3"):
        copy_path(root, link)
    ignore = shutil.ignore_patterns(*STDLIB_UNUSED, "__pycache__")
    shutil.copytree(STDLIB, root / STDLIB.relative_to("/"), symlinks=True, ignore=ignore, dirs_exist_ok=True)
    etc = Path("/etc") / STDLIB.name  # Debian's sitecustomize.py lives there
    if etc.is_dir():
        shutil.copytree(etc, root / etc.relative_to("/"), dirs_exist_ok=True)
    compileall.compile_dir(root / STDLIB.relative_to("/"), quiet=1, workers=0,
                           invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)


def record_packages(root: Path, files: list[Path]) -> None:
    """Debian's records of the packages the copied files come from, in distroless' layout."""
    packages: set[str] = set()
    for path in files:
        for candidate in {str(path), os.path.realpath(path)}:
            owner = subprocess.run(["dpkg-query", "-S", candidate], capture_output=True, text=True)
            packages.update(line.split(":", 1)[0].split(",")[0].strip() for line in owner.stdout.splitlines())
    status = root / "var/lib/dpkg/status.d"
    status.mkdir(parents=True, exist_ok=True)
    for package in sorted(packages):
        record = subprocess.run(["dpkg-query", "-s", package], capture_output=True, text=True, check=True).stdout
        (status / package.split(":")[0]).write_text(record)


def main(root: Path, venv: Path) -> int:
    for link in ROOT_LINKS:
        if os.path.islink(link):
            (root / link.lstrip("/")).symlink_to(os.readlink(link))
    copy_python(root)
    binaries = [PYTHON, *STDLIB.glob("lib-dynload/*.so"), *venv.rglob("*.so")]
    libraries = [lib for lib in shared_libraries(binaries) if not lib.is_relative_to(venv)]
    libraries += [library_path(name) for name in EXTRA_LIBRARIES]
    for library in libraries:
        copy_path(root, library)
    for name, text in FILES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    (root / "tmp").mkdir(mode=0o1777, exist_ok=True)
    os.chmod(root / "tmp", 0o1777)
    record_packages(root, [PYTHON, STDLIB / "os.py", *libraries])
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2])))
