"""Templates compiled at build time (render.compile_templates, run by the image's build): a run
loads them instead of compiling, never serves an entry older than its template, and never writes."""

from __future__ import annotations

import shutil
from pathlib import Path

import jinja2
import pytest
from binderhub_registry import render

SECRET_NAME = "binderhub-registry"


@pytest.fixture
def templates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the package's templates, with an empty place for compiled ones."""
    copy = tmp_path / "templates"
    shutil.copytree(render.TEMPLATES, copy, ignore=shutil.ignore_patterns("__jinja_cache__"))
    monkeypatch.setattr(render, "TEMPLATES", copy)
    monkeypatch.setattr(render, "TEMPLATE_CACHE", copy / "__jinja_cache__")
    render._environment.cache_clear()
    yield copy
    render._environment.cache_clear()


def refuse_compiling(monkeypatch: pytest.MonkeyPatch) -> None:
    def compile_refused(*args: object, **kwargs: object) -> None:
        raise AssertionError("a template was compiled at run time")

    monkeypatch.setattr(jinja2.Environment, "compile", compile_refused)


def test_a_run_loads_the_compiled_templates_instead_of_compiling(templates, monkeypatch):
    compiled = render.compile_templates()
    assert compiled == sorted(path.name for path in templates.glob("*.j2"))
    entries = list((templates / "__jinja_cache__").iterdir())
    assert len(entries) == len(compiled)
    assert all(entry.stat().st_mode & 0o444 == 0o444 for entry in entries)  # the image's build and its runs are other users

    refuse_compiling(monkeypatch)
    values = render.binderhub_values(SECRET_NAME)
    assert f"imagePullSecrets: [{SECRET_NAME}-pull]" in values


def test_a_template_changed_after_the_build_is_compiled_again_not_served_stale(templates):
    render.compile_templates()
    source = templates / "binderhub-values.yaml.j2"
    source.write_text(source.read_text().replace("[{{ pull_secret_name }}]", "[{{ secret_name }}-changed]"))

    assert f"imagePullSecrets: [{SECRET_NAME}-changed]" in render.binderhub_values(SECRET_NAME)


def test_a_run_never_writes_compiled_templates(templates):
    render.binderhub_values(SECRET_NAME)

    cache = templates / "__jinja_cache__"
    assert not cache.exists() or list(cache.iterdir()) == []
