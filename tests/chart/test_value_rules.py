"""Each rule on values, with values it accepts and values it refuses side by side, through the real
Helm 3 and Helm 4 (`helm template`: the chart's schema and its template `fail`s) and the CLI
(`render`, in process): all three accept the same values and refuse the same values, and the CLI's
sentence names the field.

The rules come from the real grammars: Docker's reference grammar (distribution/reference
regexp.go: path components, tags, the 255-character name limit), RFC 3986 hosts and ports (no
userinfo), Kubernetes' DNS-subdomain names and resource.Quantity, and what BinderHub rewrites.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from binderhub_registry import cli

from tests.chart.test_chart import helm
from tests.fixtures_chart import built_chart
from tests.helpers import write_values

GENERIC = {"registry": {"type": "generic", "generic": {"url": "https://registry.example.org", "username": "u", "password": "pw-1"}}}
DOCKERHUB = {"registry": {"type": "dockerhub", "dockerhub": {"username": "alice", "password": "pw-1"}}}
GCR = {"registry": {"type": "gcr", "gcr": {"project": "binder-test"}}}
AR = {"registry": {"type": "artifact-registry", "artifactRegistry": {"project": "binder-test", "location": "us-central1"}}}
GCR_VALIDATE = {"registry": {"type": "gcr", "gcr": {"project": "binder-test"}, "google": {"mode": "validate", "key": "{}"}}}
LONG = "a" * 230  # with "https://registry.example.org/" and "push-check": over 255
EXACTLY_255 = "a" * 223 + "-"  # "registry.example.org/" (21) + 224 + "push-check" (10): Docker's limit, allowed


@dataclass
class Rule:
    field: str  # dotted path of the value the rule is about
    accepted: list[Any]
    rejected: list[Any]
    base: dict[str, Any] = field(default_factory=lambda: GENERIC)
    extra: dict[str, Any] = field(default_factory=dict)  # values set besides the field


RULES = [
    Rule("registry.prefix", ["binder-", "", "binder/", "org/binder-", "a--b-", "binder.", "b1", "x" * 200, EXACTLY_255],
         ["/binder-", "-binder", ".binder", "org//binder-", "Binder-", "my_proj-", "a.-b", "binder--/x", LONG + "-", "a" + EXACTLY_255]),
    Rule("registry.generic.repository", ["", "org", "org/binder", "my--group/x", "a.b/c-d", "a---b"],
         ["/org", "org/", "org//x", "-org", "Org", "my_group", "a..b", "a" * 240]),
    Rule("registry.generic.url",
         ["https://registry.example.org", "http://localhost:5000", "http://127.0.0.1:5000", "https://r.example.org:65535/",
          "http://registry:5000", "https://" + "a" * 63 + ".org"],
         ["https://r.example.org:65536", "https://r.example.org:0", "https://-r.example.org", "https://r-.example.org",
          "https://user:pw@r.example.org", "https://r.example.org/v2/", "ftp://r.example.org", "https://" + "a" * 64 + ".org",
          "registry.example.org", ""]),
    Rule("registry.generic.username", ["alice", "robot$binder", "user@example.org"],
         ["al:ice", "ali\nce", "o'brien:x", "say \"hi\" o'brien:x", "back\\slash:x", "tab\tbed"]),
    Rule("registry.generic.password", ["pw-1"], [""]),
    Rule("registry.generic.password", [""], [], extra={"registry.existingSecret": "registry-credentials"}),
    Rule("registry.generic.tokenUrl", ["", "https://auth.example.org/token?service=x", "http://127.0.0.1:8080/token"],
         ["https://u:p@auth.example.org/token", "https://auth.example.org:70000/token", "auth.example.org/token"]),
    Rule("registry.dockerhub.username", ["alice"], ["alice:pw"], base=DOCKERHUB),
    Rule("registry.dockerhub.password", ["pw-1"], [""], base=DOCKERHUB),
    Rule("registry.dockerhub.authUrl", ["https://auth.docker.io/token", "http://127.0.0.1:9000/token"],
         ["https://user:pw@auth.docker.io/token", "https://auth.docker.io:65536/token"], base=DOCKERHUB),
    Rule("registry.dockerhub.namespace", ["alice", "my-org"], ["a" * 250], base=DOCKERHUB),
    Rule("registry.google.endpoints.iam",
         ["", "https://iam.googleapis.com", "http://127.0.0.1:8080", "http://localhost:9000", "http://[::1]:9000"],
         ["http://iam.example.org", "http://10.0.0.1:80", "https://u:p@iam.googleapis.com", "https://iam.googleapis.com:99999"],
         base=GCR),
    Rule("registry.google.endpoints.artifactRegistry", ["https://artifactregistry.googleapis.com"],
         ["http://artifactregistry.googleapis.com"], base=GCR),
    Rule("registry.google.key", ["{}"], [""], base=GCR_VALIDATE),
    Rule("registry.google.key", [""], [], base=GCR_VALIDATE, extra={"registry.existingSecret": "builder-key"}),
    Rule("registry.existingSecret", ["creds", "my.creds", "a" * 253], ["..", "a..b", "-creds", "Creds", "creds.", "a" * 254],
         extra={"registry.generic.password": ""}),
    Rule("registry.gcr.project", ["binder-test"], ["", "abc", "Binder-test"], base=GCR),
    Rule("registry.artifactRegistry.project", ["binder-test"], ["", "my_project"], base=AR),
    Rule("registry.artifactRegistry.location", ["europe"], [""], base=AR),
    Rule("registry.google.adminKeySecret", ["admin-key", "admin.key"], ["admin..key", "Admin"], base=GCR),
    # <secretName>-helper-token (keyless Google) must stay within Kubernetes' 253 characters
    Rule("output.secretName", ["", "registry", "my-registry", "a" * 240], ["a" * 241, "My-registry", "a.b", "-registry"],
         extra={"binderhub.enabled": False}),
    Rule("image.repository",
         ["quay.io/jupyterhub/binderhub-registry", "localhost:5000/x", "registry.example.org/a__b/c", "ghcr.io/org/my--image",
          "Registry.Example.org/x", "binderhub-registry"],
         ["quay.io/Org/x", "quay.io//x", "quay.io/x/", "-x", "x:tag", "quay.io/x@sha256", "a" * 256, ""]),
    Rule("image.tag", ["", "1.0.0", "v1_2-rc.3", "latest", "_x", "a" * 128], [".hidden", "-x", "a" * 129, "has space", "x/y"]),
    Rule("image.pullSecrets", [[], ["regcred"], ["reg.cred"]], [["Reg_Cred"], [""], ["a..b"]]),
    Rule("hook.resources.requests.cpu", ["500m", "1", 1, 0.5, "1.5", "1e3", "+2", ".5"], ["500 m", "1.5.2", "-1", -1, "lots", "1m2"]),
    Rule("hook.resources.limits.memory", ["256Mi", "1Gi", "0.5Gi", "128974848", "129e6", "123M"], ["128MB", "256mi", "1 Gi"]),
    Rule("cleanup.resources.limits.memory", ["64Mi"], ["64 megabytes"]),
    Rule("hook.backoffLimit", [0, 6, 2147483647], [-1, 2147483648]),
    Rule("rotation.interval", ["720h", "30d", "999999999d"], ["1000000000d", "10x", "30 d"]),
    Rule("rotation.trigger", ["2026-11-29", 20261129, "x"], [[1], {"a": 1}]),
]


def set_value(values: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    node = values
    for key in parents:
        node = node.setdefault(key, {})
    node[last] = value


def cases() -> list[Any]:
    out = []
    for rule in RULES:
        for accepted, examples in ((True, rule.accepted), (False, rule.rejected)):
            for value in examples:
                values = copy.deepcopy(rule.base)
                for dotted, extra in rule.extra.items():
                    set_value(values, dotted, extra)
                set_value(values, rule.field, value)
                shown = repr(value) if len(repr(value)) < 40 else repr(value)[:30] + "..."
                out.append(pytest.param(rule.field, values, accepted, id=f"{rule.field}={shown}-{'ok' if accepted else 'refused'}"))
    return out


def render_in_process(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = cli.main(["render", "--values", str(path)])
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    return code, lines[-1] if lines else ""


def helm_sentence(stderr: str) -> str:
    """The sentence of a template's `fail` (`Error: execution error at (file:line:col): ...`)."""
    match = re.search(r"execution error at \([^)]*\): (.*)", stderr)
    return match[1] if match else ""


SCHEMA_DUMPS = ("does not match pattern", "'allOf' failed", "minLength", "maxLength", "^$|")


@pytest.mark.parametrize(("dotted", "values", "accepted"), cases())
def test_helm_3_helm_4_and_the_cli_accept_and_refuse_the_same_values(helm_binaries, tmp_path, capsys, dotted, values, accepted):
    """Refused values: Helm prints either the CLI's very sentence (the chart's `fail`) or, for the
    rules Helm's schema keeps (types, choices, bounds), its short line naming the value; never a
    regular expression or an `allOf` dump."""
    path = write_values(tmp_path / "values.yaml", values)
    pointer = "/" + dotted.replace(".", "/")
    code, last = render_in_process(path, capsys)
    for version in ("3", "4"):
        result = helm(helm_binaries, version, "template", "binderhub", str(built_chart()), "-f", str(path))
        if accepted:
            assert result.returncode == 0, f"helm {version}: {result.stderr}"
            continue
        assert result.returncode != 0, f"helm {version} accepted {dotted}"
        assert not [dump for dump in SCHEMA_DUMPS if dump in result.stderr], f"helm {version}: {result.stderr}"
        sentence = helm_sentence(result.stderr)
        if sentence:
            assert sentence == last.removeprefix("error: "), f"helm {version}"
        else:
            assert pointer in result.stderr, f"helm {version}: {result.stderr}"
    if accepted:
        assert code == 0, last
    else:
        assert code == 2, last
        assert dotted.rsplit(".", 1)[0] in last, last  # the sentence names the field (lists: the list)
        assert "Unexpected error" not in last
        if dotted.endswith(("password", "key")):
            assert "pw-1" not in last
        assert "user:pw" not in last and "u:p@" not in last


def with_set(base: dict[str, Any], **dotted: Any) -> dict[str, Any]:
    values = copy.deepcopy(base)
    for name, value in dotted.items():
        set_value(values, name.replace("__", "."), value)
    return values


# What a newcomer typed (issue #21), and the words the one sentence of Helm 3, Helm 4 and the CLI
# must hold: the value's name and what to fix.
NEWCOMER_MISTAKES = {
    "url without a scheme": (with_set(GENERIC, registry__generic__url="registry.example.org"),
                             ["registry.generic.url must be scheme://host[:port]", "(got 'registry.example.org')"]),
    "empty password": (with_set(GENERIC, registry__generic__password=""),
                       ["registry.generic.password is empty", "registry.existingSecret"]),
    "google without a project (gcr)": (with_set(GCR, registry__gcr__project=""), ["registry.gcr.project is empty", "GCP project id"]),
    "google without a project (artifact-registry)": (with_set(AR, registry__artifactRegistry__project=""),
                                                     ["registry.artifactRegistry.project is empty"]),
    "short google project id": (with_set(GCR, registry__gcr__project="abc"), ["registry.gcr.project must be a GCP project id"]),
    "empty image repository ($HOOK_IMAGE unset)": (with_set(GENERIC, image__repository=""),
                                                   ["image.repository is empty", "$HOOK_IMAGE"]),
    "password in the url": (with_set(GENERIC, registry__generic__url="https://robot:s3cret-pw@registry.example.org"),
                            ["registry.generic.url must be", "without user:password@", "(got 'https://***@registry.example.org')"]),
}


@pytest.mark.parametrize("mistake", NEWCOMER_MISTAKES)
def test_a_newcomers_mistake_is_one_sentence_naming_the_value_in_helm_3_helm_4_and_the_cli(
        helm_binaries, tmp_path, capsys, mistake):
    values, words = NEWCOMER_MISTAKES[mistake]
    path = write_values(tmp_path / "values.yaml", values)
    code, last = render_in_process(path, capsys)
    assert code == 2
    for version in ("3", "4"):
        result = helm(helm_binaries, version, "template", "binderhub", str(built_chart()), "-f", str(path))
        assert result.returncode != 0
        assert helm_sentence(result.stderr) == last.removeprefix("error: "), f"helm {version}: {result.stderr}"
        assert [line for line in result.stderr.splitlines() if line.startswith("Error:")] == [result.stderr.splitlines()[0]]
    for word in words:
        assert word in last
    assert last.endswith(".") and "s3cret-pw" not in last and "\n" not in last


def test_a_misspelt_key_is_one_refusal_naming_it_alone(helm_binaries, tmp_path, capsys):
    """Helm's schema keeps `additionalProperties: false`: a misspelt key is refused by name, and no
    rule on the value it was meant to be (an empty password) adds a second, unrelated error."""
    values = with_set(GENERIC, registry__generic__password="")
    values["registry"]["generic"]["pasword"] = "pw-1"
    path = write_values(tmp_path / "values.yaml", values)
    code, last = render_in_process(path, capsys)
    assert code == 2
    assert last == "error: Unknown value registry.generic.pasword; remove it or check its spelling against the chart's values.yaml."
    for version in ("3", "4"):
        result = helm(helm_binaries, version, "template", "binderhub", str(built_chart()), "-f", str(path))
        assert result.returncode != 0
        refusals = [line for line in result.stderr.splitlines() if line.startswith("- ")]
        assert refusals == ["- at '/registry/generic': additional properties 'pasword' not allowed"], result.stderr


@pytest.mark.parametrize("values", [
    with_set(GCR, registry__gcr__project="", registry__google__adminKeySecret="admin-key"),
    with_set(GCR_VALIDATE, registry__gcr__project=""),
    with_set(AR, registry__artifactRegistry__project="", registry__google__adminKeySecret="admin-key"),
], ids=["gcr-admin-key", "gcr-validate", "artifact-registry-admin-key"])
def test_helm_leaves_the_project_out_when_a_key_given_to_the_chart_names_it(helm_binaries, tmp_path, values):
    """The hook takes the project from the admin key or the key to validate (`render`, offline,
    has no key to read it from, so only Helm is asked here)."""
    path = write_values(tmp_path / "values.yaml", values)
    for version in ("3", "4"):
        result = helm(helm_binaries, version, "template", "binderhub", str(built_chart()), "-f", str(path))
        assert result.returncode == 0, f"helm {version}: {result.stderr}"
