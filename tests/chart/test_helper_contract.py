"""The registry helper's port, token mount and token Secret suffix: the chart's defines render
what `binderhub-registry` (helper_contract) uses, so the CLI's defaults, the hook's helper URL and
the chart never disagree; and the metrics' scrape annotations are off unless asked for."""

from __future__ import annotations

from binderhub_registry.helper_contract import HELPER_PORT, HELPER_TOKEN_DIR, HELPER_TOKEN_FILE, HELPER_TOKEN_SECRET_SUFFIX
from binderhub_registry.providers.google.workload_identity import RegistryHelper

from tests.chart.test_chart import by_kind, template
from tests.chart.test_keyless_chart import KEYLESS


def test_the_chart_renders_the_helpers_constants(helm_binaries):
    docs = template(helm_binaries, "4", KEYLESS)
    deployment, = by_kind(docs, "Deployment")
    service, = by_kind(docs, "Service")
    container, = deployment["spec"]["template"]["spec"]["containers"]
    args = container["args"]
    assert args[args.index("--listen") + 1] == f"0.0.0.0:{HELPER_PORT}"
    assert args[args.index("--auth-token-file") + 1] == HELPER_TOKEN_FILE
    assert container["ports"] == [{"name": "http", "containerPort": HELPER_PORT}]
    assert service["spec"]["ports"][0]["port"] == HELPER_PORT
    mount = next(m for m in container["volumeMounts"] if m["name"] == "helper-token")
    assert mount["mountPath"] == HELPER_TOKEN_DIR
    volume = next(v for v in deployment["spec"]["template"]["spec"]["volumes"] if v["name"] == "helper-token")
    assert volume["secret"]["secretName"].endswith(HELPER_TOKEN_SECRET_SUFFIX)
    assert any(d["metadata"]["name"] == volume["secret"]["secretName"] for d in by_kind(docs, "Secret"))
    assert RegistryHelper("binderhub-registry-helper", "binder").url == f"http://binderhub-registry-helper.binder.svc:{HELPER_PORT}"
    assert "prometheus.io/scrape" not in deployment["spec"]["template"]["metadata"]["annotations"]


def test_scrape_annotations_when_asked(helm_binaries):
    docs = template(helm_binaries, "4", KEYLESS, "registryHelper.metrics.scrapeAnnotations=true")
    deployment, = by_kind(docs, "Deployment")
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true" and annotations["prometheus.io/path"] == "/metrics"
    assert annotations["prometheus.io/port"] == str(HELPER_PORT)



def test_the_cli_defaults_are_the_constants():
    from binderhub_registry.cli import build_parser

    serve = build_parser().parse_args(["serve", "--values", "v.yaml"])
    check = build_parser().parse_args(["check", "--values", "v.yaml"])
    assert (serve.listen, serve.auth_token_file) == (f"0.0.0.0:{HELPER_PORT}", HELPER_TOKEN_FILE)
    assert check.registry_helper_token_file == HELPER_TOKEN_FILE
