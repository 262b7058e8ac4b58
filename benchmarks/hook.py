#!/usr/bin/env python3
"""Speed, memory and round trips of the hook where users wait for it (inside `helm install`).

One run measures, each as separate processes like the Job, alternated with its baseline so that a
loaded machine slows both alike (medians and min/max of --runs paired runs, peak RSS of the hook):

* `provision --output -` against the real local registry with Basic and with token auth, paired
  with `kubectl create secret docker-registry --dry-run=client` (the least a user could run);
* `provision` applying to the stand-in Kubernetes API (tests/stand_ins/kube_api.py), what the Job
  does, paired with `helm template` of the chart (companion mode: without BinderHub's chart);
* Google (tests/stand_ins/google_cloud.py): validate mode, the create path's first run and its
  steady-state re-runs, paired with the generic apply;
* the HTTP requests of one provision through a loopback proxy that adds latency
  (tests/stand_ins/counting_proxy.py), per registry auth, and the wall time with that latency.

The package's modules and templates are compiled first, as the hook image's build does
(scripts/image_slim_venv.py), so that a run with PYTHONDONTWRITEBYTECODE set does not measure
compiling the package from source on every start, which the Job never does. The hook runs as the
console script `binderhub-registry`, as the Job's container command does.

It prints ratios against the targets of issue 13. Run with `python benchmarks/hook.py` after the
README's setup (it re-runs itself with the repository's .venv when needed).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_PYTHON = ROOT / ".venv" / "bin" / "python"


def _use_the_venv() -> None:
    """Re-run this script with the repository's .venv python (which has the package and the test
    stand-ins' dependencies) when another python started it."""
    if VENV_PYTHON.exists() and Path(sys.prefix).resolve() != VENV_PYTHON.parent.parent.resolve():
        os.execv(str(VENV_PYTHON), [str(VENV_PYTHON), *sys.argv])
    try:
        import binderhub_registry  # noqa: F401, PLC0415
    except ImportError:
        raise SystemExit("binderhub_registry is not installed; run ./scripts/setup first (see the README).") from None


_use_the_venv()

import argparse  # noqa: E402
import base64  # noqa: E402
import compileall  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from typing import Any  # noqa: E402

import yaml  # noqa: E402

sys.path.insert(0, str(ROOT))

from tests.fixtures_chart import built_chart  # noqa: E402
from tests.stand_ins.counting_proxy import CountingProxy, ProxiedRequest  # noqa: E402
from tests.stand_ins.google_cloud import GoogleCloud, google_token_server  # noqa: E402
from tests.stand_ins.kube_api import KubeApiServer  # noqa: E402
from tests.stand_ins.registry import Registry  # noqa: E402
from tests.stand_ins.token_server import TokenServer  # noqa: E402

TOOLS = ROOT / ".tools" / "bin"
PROJECT = "binder-test"
AR_HOST = "us-central1-docker.pkg.dev"
PASSWORD = "bench-password-0123456789"
NAMESPACE = "default"
TARGETS = {"apply / helm template": 4.0, "--output - / kubectl": 4.0, "google re-run / generic apply": 2.0}
REQUEST_TARGETS = {"basic": 3, "token": 4}
GOOGLE_PEAK_MIB = 80.0


@dataclass
class Runs:
    name: str
    seconds: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)  # user + system seconds
    peak_mib: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def cpu_median(self) -> float:
        return statistics.median(self.cpu)

    def line(self) -> str:
        return (f"{self.name:<42} wall median {self.median:6.3f} s (min {min(self.seconds):.3f}, max {max(self.seconds):.3f}, "
                f"n={len(self.seconds)})  CPU {self.cpu_median:.3f} s  peak RSS {max(self.peak_mib):5.1f} MiB")


# Peak RSS comes from wait4() on the measured process. A process spawned by this (large) one
# would report this one's memory as its own peak (Linux keeps the pre-exec high-water mark), so
# a small python started once spawns them and reports wall time, exit status and peak RSS; its
# own size (~10 MiB) is the floor of every peak below.
LAUNCHER = """
import json, os, subprocess, sys, time
for line in sys.stdin:
    job = json.loads(line)
    start = time.perf_counter()
    proc = subprocess.Popen(job["command"], env=job["env"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = proc.stdout.read(), proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    print(json.dumps({"code": os.waitstatus_to_exitcode(status), "seconds": seconds, "peak_kib": usage.ru_maxrss,
                      "cpu": usage.ru_utime + usage.ru_stime,
                      "stdout": out.decode(errors="replace"), "stderr": err.decode(errors="replace")}), flush=True)
"""


class Launcher:
    def __init__(self) -> None:
        self._proc = subprocess.Popen([sys.executable, "-S", "-c", LAUNCHER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def run(self, command: list[str], env: dict[str, str], runs: Runs | None = None) -> str:
        """Run once; wall seconds and peak RSS go to ``runs``; stdout."""
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._proc.stdin.write(json.dumps({"command": command, "env": env}) + "\n")
        self._proc.stdin.flush()
        done = json.loads(self._proc.stdout.readline())
        if done["code"] != 0:
            raise SystemExit(f"{' '.join(command)} exited {done['code']}:\n{done['stderr'][-2000:]}")
        if runs is not None:
            runs.seconds.append(done["seconds"])
            runs.cpu.append(done["cpu"])
            runs.peak_mib.append(done["peak_kib"] / 1024)
        return str(done["stdout"])

    def close(self) -> None:
        if self._proc.stdin is not None:
            self._proc.stdin.close()
        self._proc.wait()


LAUNCH = Launcher()
run_measured = LAUNCH.run


def paired(count: int, *pairs: tuple[Runs, Callable[[Runs], object]]) -> None:
    """Alternate the measured commands, ``count`` times each."""
    for _ in range(count):
        for runs, step in pairs:
            step(runs)


def hook(*args: str) -> list[str]:
    """The console script, as the Job runs it (`command: [binderhub-registry]`)."""
    return [str(Path(sys.executable).parent / "binderhub-registry"), *args]


def write(path: Path, values: dict[str, Any]) -> str:
    path.write_text(yaml.safe_dump(values))
    return str(path)


def generic_values(url: str, username: str) -> dict[str, Any]:
    return {"registry": {"type": "generic", "generic": {"url": url, "repository": "binder", "username": username, "password": PASSWORD}},
            "restart": {"deployments": ["binder"]}}


def google_values(cloud: GoogleCloud, registry: Registry, **google: Any) -> dict[str, Any]:
    return {"registry": {"type": "artifact-registry",
                         "artifactRegistry": {"project": PROJECT, "location": "us-central1", "repository": "binder"},
                         "google": {"registryUrl": registry.url, "propagationTimeoutSeconds": 60,
                                    "endpoints": {"iam": "http://" + cloud.endpoints.iam_target,
                                                  "artifactRegistry": cloud.endpoints.artifact_registry}, **google}}}


def binder_deployment() -> dict[str, Any]:
    labels = {"app": "binder"}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "binder", "namespace": NAMESPACE},
            "spec": {"selector": {"matchLabels": labels}, "template": {"metadata": {"labels": labels},
                     "spec": {"containers": [{"name": "binder", "image": "binder"}]}}}}


def ratio_line(name: str, hook_runs: Runs, base_runs: Runs, target: float) -> str:
    ratio, cpu_ratio = hook_runs.median / base_runs.median, hook_runs.cpu_median / base_runs.cpu_median
    return (f"{name:<32} wall {ratio:5.1f}x  (target <= {target:g}x)  {'ok' if ratio <= target else 'OVER':<4}"
            f"   CPU {cpu_ratio:5.1f}x")


def requests_line(auth: str, requests: list[ProxiedRequest], seconds: float, latency: float) -> str:
    failed = [f"{r.method} {r.path} -> {r.status}" for r in requests if r.failed_authenticated]
    shown = ", ".join(f"{r.method} {r.path.split('/blobs/')[0] + ('/blobs/…' if '/blobs/' in r.path else '')}"
                      f"{'*' if r.authenticated else ''} {r.status}" for r in requests)
    over = len(requests) > REQUEST_TARGETS[auth] or failed
    return (f"{auth:<6} {len(requests)} requests (target <= {REQUEST_TARGETS[auth]}, none failing with credentials) "
            f"{'OVER' if over else 'ok'}; {seconds:.3f} s with {latency * 1000:g} ms per request\n"
            f"       {shown}" + (f"\n       failing by design: {'; '.join(failed)}" if failed else ""))


def compile_the_package() -> None:
    """Bytecode for the package, as the image has (its build compiles every module): without it,
    each measured start would compile the package from source (timestamp-checked .pyc files, so an
    edited module is still read from its source)."""
    import binderhub_registry  # noqa: PLC0415

    if not compileall.compile_dir(Path(binderhub_registry.__file__).parent, quiet=1):
        raise SystemExit("could not compile the binderhub_registry package to bytecode")


def main() -> int:  # noqa: PLR0915 - one script that reads top to bottom
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="paired runs per measurement (default 7)")
    parser.add_argument("--latency", type=float, default=0.02, help="seconds the proxy adds per request (default 0.02)")
    args = parser.parse_args()
    compile_the_package()
    kubectl, helm = str(TOOLS / "kubectl"), str(TOOLS / "helm3")
    base_env = {k: v for k, v in os.environ.items() if k not in ("KUBERNETES_SERVICE_HOST", "GOOGLE_APPLICATION_CREDENTIALS")}
    users = {"bench": {"password": PASSWORD, "grants": [("*", {"pull", "push"})]}}
    cloud = GoogleCloud().start()
    google_tokens = google_token_server(cloud.authorizer(AR_HOST)).start()
    with (TokenServer(users) as tokens, Registry(auth="token", token_server=tokens) as token_registry,
          Registry(auth="htpasswd", users={"bench": PASSWORD}) as basic_registry,
          Registry(auth="token", token_server=google_tokens) as google_registry,
          KubeApiServer() as kube, CountingProxy(latency=args.latency) as proxy, tempfile.TemporaryDirectory() as tmp_dir):
        tmp = Path(tmp_dir)
        basic = write(tmp / "basic.yaml", generic_values(basic_registry.url, "bench"))
        token = write(tmp / "token.yaml", generic_values(token_registry.url, "bench"))
        kube.put(binder_deployment())
        env = {**base_env, "KUBECONFIG": str(kube.write_kubeconfig(tmp / "kubeconfig"))}
        results: list[Runs] = []

        def runs(name: str) -> Runs:
            results.append(Runs(name))
            return results[-1]

        kubectl_runs, helm_runs = runs("kubectl create secret --dry-run=client"), runs("helm template (chart)")
        out_basic, out_token = runs("provision --output - (basic)"), runs("provision --output - (token)")
        apply_token = runs("provision, applying (generic, token)")
        kubectl_cmd = [kubectl, "create", "secret", "docker-registry", "x", "--docker-server", token_registry.url,
                       "--docker-username", "bench", "--docker-password", PASSWORD, "--dry-run=client", "-o", "yaml"]
        # the chart alone (companion mode): BinderHub's own chart would only make the baseline slower
        helm_cmd = [helm, "template", "binderhub-registry", str(built_chart()), "--values", token, "--set", "binderhub.enabled=false"]
        paired(args.runs,
               (kubectl_runs, lambda r: run_measured(kubectl_cmd, env, r)),
               (out_basic, lambda r: run_measured(hook("provision", "--values", basic, "--output", "-"), env, r)),
               (out_token, lambda r: run_measured(hook("provision", "--values", token, "--output", "-"), env, r)),
               (helm_runs, lambda r: run_measured(helm_cmd, env, r)),
               (apply_token, lambda r: run_measured(hook("provision", "--values", token), env, r)))
        if kube.get("secrets", NAMESPACE, "binderhub-registry") is None:
            raise SystemExit("provision did not apply the Secret on the stand-in Kubernetes API")

        # Google: validate mode with a ready key; create mode's first run, then steady-state re-runs
        builder = cloud.add_principal("manual-builder", roles=[])
        repository = f"projects/{PROJECT}/locations/us-central1/repositories/binder"
        cloud.state.add_repository(PROJECT, "us-central1", "binder")
        cloud.state.grant_repository_role(repository, builder["client_email"], "roles/artifactregistry.writer")
        admin = cloud.add_principal("hook-admin")
        admin_key = tmp / "admin-key.json"
        admin_key.write_text(json.dumps(admin))
        google_env = {**env, "GOOGLE_APPLICATION_CREDENTIALS": str(admin_key)}
        validate = write(tmp / "validate.yaml", {**google_values(cloud, google_registry, mode="validate", key=json.dumps(builder)),
                                                 "output": {"secretName": "validated"}})
        create = write(tmp / "create.yaml", {**google_values(cloud, google_registry), "output": {"secretName": "created"}})
        first = runs("google create, first run (creates all)")
        run_measured(hook("provision", "--values", create), google_env, first)
        google_validate, google_rerun = runs("google validate"), runs("google create, steady-state re-run")
        generic_apply = runs("provision, applying (generic, token) again")
        paired(args.runs,
               (generic_apply, lambda r: run_measured(hook("provision", "--values", token), env, r)),
               (google_rerun, lambda r: run_measured(hook("provision", "--values", create), google_env, r)),
               (google_validate, lambda r: run_measured(hook("provision", "--values", validate), google_env, r)))
        secret = kube.get("secrets", NAMESPACE, "created")
        if secret is None or "auths" not in json.loads(base64.b64decode(secret["data"]["config.json"])):
            raise SystemExit("the Google create path did not write its Secret")

        # round trips: one provision per auth through the latency-adding proxy
        proxy_env = {**env, **proxy.environment()}
        traces = []
        for auth, values in (("basic", basic), ("token", token)):
            proxy.clear()
            trip = Runs(auth)
            run_measured(hook("provision", "--values", values, "--output", "-"), proxy_env, trip)
            traces.append(requests_line(auth, proxy.taken(), trip.seconds[0], args.latency))
    google_tokens.stop()
    cloud.stop()
    LAUNCH.close()

    print(f"binderhub-registry hook benchmark: {args.runs} paired runs each, loopback registries and stand-ins\n")
    for result in results:
        print(result.line())
    print("\nratios (medians; wall is the target, CPU time is less sensitive to a loaded machine)")
    print(ratio_line("apply / helm template", apply_token, helm_runs, TARGETS["apply / helm template"]))
    print(ratio_line("--output - basic / kubectl", out_basic, kubectl_runs, TARGETS["--output - / kubectl"]))
    print(ratio_line("--output - token / kubectl", out_token, kubectl_runs, TARGETS["--output - / kubectl"]))
    print(ratio_line("google re-run / generic apply", google_rerun, generic_apply, TARGETS["google re-run / generic apply"]))
    print(ratio_line("google validate / generic apply", google_validate, generic_apply, TARGETS["google re-run / generic apply"]))
    peak = max(max(first.peak_mib), max(google_rerun.peak_mib))
    verdict = "ok" if peak <= GOOGLE_PEAK_MIB else "OVER"
    print(f"{'google create peak RSS':<32} {peak:5.1f} MiB  (target <= {GOOGLE_PEAK_MIB:g} MiB)  {verdict}")
    print("\nrequests per provision (* = with credentials)")
    for trace in traces:
        print(trace)
    return 0


if __name__ == "__main__":
    sys.exit(main())
