"""Which values are secret is declared once (credentials.SECRET_NAMES): every value under that
name in values is registered for redaction before anything is printed, whatever the registry type,
and only those (a username stays readable in sentences)."""

from __future__ import annotations

import base64

from binderhub_registry.values import chart_defaults, merge, secret_values

KEY_FILE = '{"type": "service_account", "private_key": "-----BEGIN PRIVATE KEY-----\\nMIIE...\\n-----END PRIVATE KEY-----\\n"}'


def test_every_secret_written_in_values_is_found_and_nothing_else():
    values = merge(chart_defaults(), {"registry": {
        "generic": {"username": "robot", "password": "generic-pw-0123456789"},
        "dockerhub": {"username": "hubuser", "password": "dckr_pat_0123456789"},
        "google": {"key": KEY_FILE},
    }})
    assert sorted(secret_values(values)) == sorted(["generic-pw-0123456789", "dckr_pat_0123456789", KEY_FILE])



def test_the_secret_keys_of_an_existing_secret_are_redacted_and_its_username_is_not(kube_api, tmp_path, monkeypatch):
    from binderhub_registry.kube import KubeWriter  # noqa: PLC0415
    from binderhub_registry.progress import Progress  # noqa: PLC0415

    data = {"username": "robot-user", "password": "existing-pw-0123456789", "key.json": KEY_FILE}
    kube_api.put({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "given", "namespace": "binder"},
                  "data": {key: base64.b64encode(value.encode()).decode() for key, value in data.items()}})
    monkeypatch.setenv("KUBECONFIG", str(kube_api.write_kubeconfig(tmp_path / "kubeconfig", None, "binder")))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    progress = Progress()
    given = KubeWriter("binder").input_credentials("given", ("key.json", "password"), progress)
    assert given.key_json == KEY_FILE
    shown = progress.redact(f"{data['username']} {data['password']} {KEY_FILE}")
    assert "robot-user" in shown and "existing-pw" not in shown and "MIIE" not in shown
