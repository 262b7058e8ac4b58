"""The names of the release state are kept in clusters across releases: an upgrade reads what
the previous version wrote, so renaming one would orphan keys and restart BinderHub needlessly.
The package spells each name once (state.py); this pins their values."""

from __future__ import annotations

from binderhub_registry import state


def test_the_persisted_names_do_not_change_between_releases():
    names = {name: getattr(state, name) for name in dir(state) if name.isupper() and isinstance(getattr(state, name), str)}
    prefix = "binderhub-registry.jupyter.org/"
    assert names == {
        "PREFIX": prefix,
        "REGISTRY": prefix + "registry",
        "IMAGE_PREFIX": prefix + "image-prefix",
        "FINGERPRINT": prefix + "fingerprint",
        "CREDENTIAL_ID": prefix + "credential-id",
        "CREATED_AT": prefix + "created-at",
        "PREVIOUS_CREDENTIAL_ID": prefix + "previous-credential-id",
        "CREDENTIAL_ORIGIN": prefix + "credential-origin",
        "ROTATION_REVISION": prefix + "rotation-revision",
        "ROTATION_TRIGGER": prefix + "rotation-trigger",
        "DEPLOYMENT_FINGERPRINT": prefix + "credential-fingerprint",
        "INTENT_PREFIX": prefix + "intent-",
        "INTENT_STARTED": prefix + "intent-key-creation-started",
        "INTENT_ACCOUNT": prefix + "intent-key-account",
        "INTENT_KEY": prefix + "intent-key-id",
        "INTENT_HARBOR_ROBOT": prefix + "intent-harbor-robot",
        "INTENT_ECR_PROBE": prefix + "intent-ecr-probe-repository",
        "INTENT_HARBOR_PULL_ROBOT": prefix + "intent-harbor-pull-robot",
        "INTENT_FIELD_MANAGER": "binderhub-registry-intent",
        "CREATED": "created",
        "GIVEN": "given",
    }


def test_the_fingerprint_stays_while_what_binderhub_reads_does_and_changes_with_it():
    config = {"auths": {"https://r.example.org": {"auth": "dTpw"}}}
    binderhub = {"BinderHub": {"image_prefix": "r.example.org/binder-"}, "DockerRegistry": {"url": "https://r.example.org"}}
    current = state.CurrentState(exists=True, annotations={state.FINGERPRINT: "0123456789abcdef"}, docker_config=config,
                                 binderhub_config=binderhub)
    assert state.fingerprint(current, config, binderhub) == "0123456789abcdef"
    changed = {"auths": {"https://r.example.org": {"auth": "dTpx"}}}
    assert state.fingerprint(current, changed, binderhub) not in ("0123456789abcdef", "")
    # The same credential, another prefix (or registry, token URL): BinderHub must restart too.
    other_prefix = {**binderhub, "BinderHub": {"image_prefix": "r.example.org/other-"}}
    assert state.fingerprint(current, config, other_prefix) not in ("0123456789abcdef", "")
    assert state.fingerprint(state.CurrentState(), config, binderhub) != state.fingerprint(state.CurrentState(), config, binderhub)
    # Nothing changed but the Secret carries no fingerprint (written by hand, or its annotation
    # removed): a new one, never an empty one (an empty annotation is dropped and BinderHub never rolls).
    unannotated = state.CurrentState(exists=True, annotations={}, docker_config=config, binderhub_config=binderhub)
    assert len(state.fingerprint(unannotated, config, binderhub)) == 16


def test_the_current_binderhub_configuration_is_read_from_registry_json():
    registry_json = '{"type": "generic", "binderhubConfig": {"BinderHub": {"image_prefix": "p-"}}}'
    assert state.CurrentState.read(None, {}, registry_json).binderhub_config == {"BinderHub": {"image_prefix": "p-"}}
    assert state.CurrentState.read(None, {}, "not json").binderhub_config is None
    assert state.CurrentState.read(None, {}).binderhub_config is None


def test_a_write_ahead_note_is_written_and_read_under_the_persisted_names():
    from datetime import UTC, datetime

    intent = state.Intent(key_creation_started=datetime(2026, 11, 26, 17, 41, tzinfo=UTC), key_account="b@p.iam.gserviceaccount.com",
                          key_id="k1", harbor_robots={"push": "r-a", "pull": "p-b"}, ecr_probe_repository="binder/probe")
    notes = intent.notes()
    assert notes == {
        state.INTENT_STARTED: "2026-11-26T17:41:00Z",
        state.INTENT_ACCOUNT: "b@p.iam.gserviceaccount.com",
        state.INTENT_KEY: "k1",
        state.INTENT_HARBOR_ROBOT: "r-a",
        state.INTENT_HARBOR_PULL_ROBOT: "p-b",
        state.INTENT_ECR_PROBE: "binder/probe",
    }
    assert state.CurrentState(intents=notes).intent == intent
    assert state.Intent().notes() == {}  # the empty note clears them
    assert state.Intent.from_notes({state.INTENT_STARTED: "not a time"}).key_creation_started is None


def test_the_current_state_answers_what_providers_ask():
    annotations = {state.CREDENTIAL_ID: "k2", state.PREVIOUS_CREDENTIAL_ID: "k1", state.CREATED_AT: "2026-11-26T17:41:00Z",
                   state.CREDENTIAL_ORIGIN: state.CREATED}
    current = state.CurrentState(exists=True, annotations=annotations)
    assert (current.credential_id, current.previous_credential_id, current.created_at, current.created_by_tool) == (
        "k2", "k1", "2026-11-26T17:41:00Z", True)
    assert state.CurrentState(exists=True, annotations={**annotations, state.CREDENTIAL_ORIGIN: state.GIVEN}).created_by_tool is False
    assert state.CurrentState().created_by_tool is False
