"""The machine-level parts of the node: its address, kernel settings, images, and the clean-up.

These are what a real node's operating system and installer do before the kubelet starts, and
what ``down`` undoes so that nothing of the cluster stays behind on the machine.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from tests.cluster import layout as net
from tests.cluster.build import PAUSE
from tests.cluster.layout import Layout
from tests.cluster.processes import ClusterError


def run(command: list[str], check: bool = True, input_bytes: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    result = subprocess.run(command, input=input_bytes, capture_output=True)
    if check and result.returncode != 0:
        raise ClusterError(f"{' '.join(command[:4])} ... failed ({result.returncode}): "
                           f"{result.stderr.decode(errors='replace').strip()[-800:]}")
    return result


def network_up() -> None:
    """The node's own address (on the loopback device: a local address no other machine routes to),
    IP forwarding and bridge netfilter on."""
    if not Path("/proc/sys/net/bridge").is_dir() or "overlay" not in Path("/proc/filesystems").read_text():
        raise ClusterError("The kernel lacks bridge netfilter or overlayfs (modprobe br_netfilter overlay, as root).")
    Path("/proc/sys/net/ipv4/ip_forward").write_text("1")
    Path("/proc/sys/net/bridge/bridge-nf-call-iptables").write_text("1")
    if f" {net.NODE_IP}/32 " not in run(["ip", "-4", "addr", "show", "dev", "lo"]).stdout.decode():
        run(["ip", "addr", "add", f"{net.NODE_IP}/32", "dev", "lo"])


def network_down() -> None:
    run(["ip", "link", "delete", net.BRIDGE], check=False)
    run(["ip", "addr", "delete", f"{net.NODE_IP}/32", "dev", "lo"], check=False)
    for namespace in run(["ip", "netns", "list"], check=False).stdout.decode().splitlines():
        name = namespace.split()[0] if namespace.strip() else ""
        if name.startswith("cni-"):
            run(["ip", "netns", "delete", name], check=False)


def unmount_under(*roots: Path) -> None:
    """Unmount everything mounted below ``roots`` (Secret volumes, overlay roots), deepest first."""
    mounts = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        mount_point = line.split()[4].replace("\\040", " ")
        if any(mount_point == str(root) or mount_point.startswith(f"{root}/") for root in roots):
            mounts.append(mount_point)
    for mount_point in sorted(mounts, key=len, reverse=True):
        run(["umount", "-l", mount_point], check=False)


def ctr(layout: Layout, *arguments: str, input_bytes: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return run(["ctr", f"--address={layout.containerd_socket}", f"--namespace={net.CONTAINERD_NAMESPACE}", *arguments],
               input_bytes=input_bytes)


def crictl(layout: Layout, *arguments: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
    from tests.cluster.build import BUILDS

    binary = next(spec for spec in BUILDS if spec.name == "crictl").destination() / "crictl"
    return run([str(binary), f"--runtime-endpoint=unix://{layout.containerd_socket}",
                f"--image-endpoint=unix://{layout.containerd_socket}", "--timeout=60s", *arguments], check=check)


def runtime_image_id(layout: Layout, image: str) -> str | None:
    """The config digest under which the node's runtime knows ``image``, if it does."""
    result = crictl(layout, "inspecti", "-o", "json", image, check=False)
    if result.returncode != 0:
        return None
    return str(json.loads(result.stdout)["status"]["id"])


def local_image_id(image: str) -> str:
    result = run(["podman", "image", "inspect", "--format", "{{.Id}}", image], check=False)
    if result.returncode != 0:
        raise ClusterError(f"There is no local image {image} (podman image ls); build it first.")
    return "sha256:" + result.stdout.decode().strip().removeprefix("sha256:")


def load_image(layout: Layout, image: str) -> bool:
    """Make podman's ``image`` available to the node under its name; whether it had to be copied."""
    if runtime_image_id(layout, image) == local_image_id(image):
        return False
    archive = run(["podman", "save", "--format", "docker-archive", image]).stdout
    ctr(layout, "images", "import", "--no-unpack=false", "--snapshotter=overlayfs", "-", input_bytes=archive)
    if runtime_image_id(layout, image) is None:
        raise ClusterError(f"containerd imported {image} but the runtime does not know it by that name.")
    return True


def build_pause_image() -> None:
    """``registry.k8s.io/pause:3.10`` in podman's store, from our own pause program."""
    if run(["podman", "image", "exists", net.PAUSE_IMAGE], check=False).returncode == 0:
        return
    binary = PAUSE.destination() / "pause"
    container = run(["buildah", "from", "scratch"]).stdout.decode().strip()
    try:
        run(["buildah", "copy", container, str(binary), "/pause"])
        run(["buildah", "config", "--entrypoint", '["/pause"]', "--user", "65535:65535", container])
        run(["buildah", "commit", "--quiet", container, net.PAUSE_IMAGE])
    finally:
        run(["buildah", "rm", container], check=False)


def remove_state(layout: Layout) -> None:
    """The cluster's contents go with ``down``; PKI, built images and configuration stay."""
    for directory in (layout.etcd_data, layout.kubelet_root, layout.cni_config / "ipam"):
        shutil.rmtree(directory, ignore_errors=True)


def allow_plain_http(layout: Layout, host: str) -> None:
    """Let the node's runtime pull from the registry at ``host`` (``ADDRESS:PORT``) over plain
    http, as an operator configures an in-house registry (containerd reads these files per pull)."""
    directory = layout.config / "certs.d" / host
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "hosts.toml").write_text(
        f'server = "http://{host}"\n\n[host."http://{host}"]\n  capabilities = ["pull", "resolve"]\n')
