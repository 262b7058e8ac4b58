"""`binderhub-registry serve`: the registry helper BinderHub's ``ExternalRegistryHelper`` asks,
per launch, whether a repository and an image exist and for short-lived push credentials.

It holds no key: it mints Google access tokens for the builder service account through the
metadata server (Workload Identity on GKE) and IAM Credentials ``generateAccessToken``, caches
them until shortly before they expire, and hands them out only for images under the one
repository path BinderHub pushes to.

Modules: ``config`` (settings from values), ``google_tokens`` (metadata server and IAM
Credentials calls), ``token_cache`` (single-flight cache), ``registry_checks`` (registry v2
lookups), ``app`` (the HTTP application: routes, auth, limits, one JSON log line per request),
``server`` (uvicorn: listening, readiness drain and graceful shutdown on SIGTERM).
Nothing here is imported by the hook's other commands.
"""
