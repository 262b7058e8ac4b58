#!/usr/bin/env python3
"""What users wait for on a real cluster: the hook Job inside `helm install`.

On the test cluster (``scripts/cluster``; brought up if it is not running, left running):

* the hook Job (generic registry, the real registry on the node's address), from its creation to
  its completion as the API server reports it to a client polling it, paired with a Job of the
  same image and pod spec that runs ``binderhub-registry --help`` (the floor: scheduling, the
  container's start, the Job controller noticing the end);
* ``helm install`` (Helm 4) of the chart with BinderHub as a dependency, not waiting for its pods,
  paired with ``helm install`` of BinderHub's chart alone (the same release without our hook).

Each pair is alternated ``--runs`` times; it prints the median, min and max of each and the
difference of the medians. Usage: ``.venv/bin/python benchmarks/cluster.py [--runs 5]`` as root,
after ``./scripts/setup``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402

from tests.cluster import layout as net  # noqa: E402
from tests.cluster.__main__ import up  # noqa: E402
from tests.cluster.layout import Layout  # noqa: E402
from tests.fixtures_chart import binderhub_archive, built_chart  # noqa: E402
from tests.fixtures_cluster import Cluster  # noqa: E402
from tests.helpers import generic_values  # noqa: E402
from tests.image.container import build_image  # noqa: E402
from tests.stand_ins.registry import Registry  # noqa: E402

HELM = ROOT / ".tools" / "bin" / "helm4"
PASSWORD = "bench-password-0123456789"


def wait_complete(cluster: Cluster, namespace: str, job: str) -> None:
    while True:
        status = json.loads(cluster.kubectl("get", "job", job, "-o", "json", namespace=namespace).stdout)["status"]
        if status.get("succeeded"):
            return
        if status.get("failed"):
            raise SystemExit(f"Job {job} failed: {cluster.kubectl('logs', f'job/{job}', namespace=namespace, check=False).stdout}")
        time.sleep(0.05)


def time_job(cluster: Cluster, namespace: str, job: dict) -> float:
    name = job["metadata"]["name"]
    cluster.kubectl("delete", "job", name, "--ignore-not-found", "--wait=true", "--cascade=foreground", namespace=namespace)
    started = time.monotonic()
    cluster.apply([job], namespace=namespace)
    wait_complete(cluster, namespace, name)
    return time.monotonic() - started


def helm(*arguments: str, kubeconfig: Path) -> float:
    started = time.monotonic()
    subprocess.run([str(HELM), *arguments, "--kubeconfig", str(kubeconfig)], check=True, capture_output=True)
    return time.monotonic() - started


def summary(label: str, seconds: list[float]) -> float:
    median = statistics.median(seconds)
    print(f"  {label:52} median {median:6.2f} s   min {min(seconds):6.2f}   max {max(seconds):6.2f}")
    return median


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    layout = Layout.default()
    cluster = Cluster(layout, up(layout))
    image = build_image().stdout.strip().splitlines()[-1]
    cluster.load(image)
    repository, tag = image.rsplit(":", 1)
    work = Path(tempfile.mkdtemp(prefix="bench-cluster-"))
    with Registry("htpasswd", users={"alice": PASSWORD}, address=net.NODE_IP) as registry:
        values = generic_values(registry.url, "alice", PASSWORD)
        values.update({"image": {"repository": repository, "tag": tag, "pullPolicy": "Never"}})
        values_file = work / "values.yaml"
        values_file.write_text(yaml.safe_dump(values))
        namespace = "bench-hook"
        cluster.kubectl("create", "namespace", namespace, check=False)
        rendered = subprocess.run([str(HELM), "template", "binderhub-registry", str(built_chart()), "-n", namespace,
                                   "-f", str(values_file), "--set", "binderhub.enabled=false"],
                                  check=True, capture_output=True, text=True).stdout
        documents = [d for d in yaml.safe_load_all(rendered) if d]
        hook = next(d for d in documents if d["kind"] == "Job" and d["metadata"]["name"].endswith("-hook"))
        floor = json.loads(json.dumps(hook))
        floor["metadata"]["name"] += "-floor"
        floor["spec"]["template"]["spec"]["containers"][0]["args"] = ["--help"]
        cluster.apply([d for d in documents if d["kind"] in ("ServiceAccount", "Role", "RoleBinding", "Secret")], namespace=namespace)

        print(f"hook Job vs a Job of the same image running --help ({runs} paired runs)")
        hook_times, floor_times = [], []
        for _ in range(runs):
            hook_times.append(time_job(cluster, namespace, hook))
            floor_times.append(time_job(cluster, namespace, floor))
        hook_median = summary("hook Job, created to complete", hook_times)
        floor_median = summary("--help Job, created to complete (the floor)", floor_times)
        print(f"  the hook's own work adds {hook_median - floor_median:.2f} s to the floor")
        cluster.kubectl("delete", "namespace", namespace, "--wait=false")

        print(f"helm install (Helm 4, no --wait) with and without our hook ({runs} paired runs)")
        ours_times, bare_times = [], []
        for run in range(runs):
            for chart, label, times in ((str(built_chart()), "ours", ours_times), (str(binderhub_archive()), "bare", bare_times)):
                release_namespace = f"bench-{label}-{run}"
                arguments = ["install", "binderhub", chart, "-n", release_namespace, "--create-namespace"]
                if label == "ours":
                    arguments += ["-f", str(values_file)]
                times.append(helm(*arguments, kubeconfig=cluster.kubeconfig))
                helm("uninstall", "binderhub", "-n", release_namespace, "--no-hooks", kubeconfig=cluster.kubeconfig)
                cluster.kubectl("delete", "namespace", release_namespace, "--wait=false")
        ours_median = summary("helm install, the chart with its hook", ours_times)
        bare_median = summary("helm install, BinderHub's chart alone", bare_times)
        print(f"  our hook adds {ours_median - bare_median:.2f} s to helm install")
    return 0


if __name__ == "__main__":
    sys.exit(main())
