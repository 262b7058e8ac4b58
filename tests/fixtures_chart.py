"""The chart as `helm dependency build ./chart` leaves it, without a network: a temporary copy of
`chart/` with BinderHub's own chart (packaged with its jupyterhub dependency) in `charts/`.

BinderHub's chart is test data, never part of the repository (`chart/charts/` is ignored): CI
clones the repository with `shared/` beside it, so the archive is found at
`<repo>/../shared/upstream-charts/binderhub-*.tgz`; in a git worktree also beside the main
checkout; `BINDERHUB_REGISTRY_UPSTREAM_CHARTS` names another directory. Without it the tests that
render the chart fail with a sentence saying where it was looked for (they never skip).
"""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCE_CHART = ROOT / "chart"
UPSTREAM_ENV = "BINDERHUB_REGISTRY_UPSTREAM_CHARTS"


def _candidate_dirs() -> list[Path]:
    dirs = [Path(os.environ[UPSTREAM_ENV])] if os.environ.get(UPSTREAM_ENV) else []
    dirs.append(ROOT.parent / "shared" / "upstream-charts")
    common = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--path-format=absolute", "--git-common-dir"],
                            capture_output=True, text=True)
    if common.returncode == 0 and common.stdout.strip():
        dirs.append(Path(common.stdout.strip()).parent.parent / "shared" / "upstream-charts")
    return list(dict.fromkeys(dirs))


@functools.cache
def binderhub_archive() -> Path:
    """BinderHub's packaged chart (test data), or a test failure saying where it was looked for."""
    dirs = _candidate_dirs()
    for directory in dirs:
        found = sorted(directory.glob("binderhub-*.tgz"))
        if found:
            return found[-1]
    pytest.fail(f"BinderHub's packaged chart (binderhub-*.tgz) is not in {' or '.join(map(str, dirs))}: "
                f"clone the repository with shared/ beside it, or set {UPSTREAM_ENV} to the directory holding it.")


@functools.cache
def built_chart() -> Path:
    """A copy of chart/ with BinderHub's chart in charts/, made once per test session."""
    work = Path(tempfile.mkdtemp(prefix="binderhub-registry-chart-"))
    atexit.register(shutil.rmtree, work, True)
    chart = work / "chart"
    shutil.copytree(SOURCE_CHART, chart, ignore=shutil.ignore_patterns("charts", "Chart.lock"))
    (chart / "charts").mkdir()
    shutil.copy2(binderhub_archive(), chart / "charts")
    return chart


@pytest.fixture(scope="session")
def chart_dir() -> Path:
    return built_chart()
