"""The hook image, built once per session by ./scripts/build-image (which reuses an image whose
inputs have not changed)."""

from __future__ import annotations

import pytest

from tests.image.container import build_image


@pytest.fixture(scope="session")
def hook_image() -> str:
    """The image reference ./scripts/build-image printed last."""
    proc = build_image()
    if proc.returncode != 0:
        pytest.fail(f"./scripts/build-image failed: {proc.stderr.strip()[-2000:]}", pytrace=False)
    return proc.stdout.strip().splitlines()[-1]
