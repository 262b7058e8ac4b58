"""A hook run turns automatic garbage collection off (its imports are what it allocates, and
collecting them over and over costs start-up time) and collects while it waits instead; the
process that called it gets its collection back."""

from __future__ import annotations

import gc
import weakref

from binderhub_registry import retry
from binderhub_registry.cli import main

from tests.helpers import generic_values, write_values


class Cycle:
    def __init__(self) -> None:
        self.me = self


def test_a_wait_collects_what_a_retry_left_in_cycles(monkeypatch):
    monkeypatch.setattr(retry.time, "sleep", lambda seconds: None)
    gc.disable()
    try:
        garbage = Cycle()
        left = weakref.ref(garbage)
        del garbage
        assert left() is not None  # a cycle outlives its last reference without collection

        retry.pause(0.0)

        assert left() is None
    finally:
        gc.enable()


def test_a_run_collects_only_while_it_waits_and_gives_the_caller_its_collection_back(tmp_path, capsys, monkeypatch):
    values = write_values(tmp_path / "values.yaml", generic_values("https://registry.example.org", "robot", "pw-0123456789abcdef"))
    from binderhub_registry.commands import render as render_command

    during = []
    real_run = render_command.run
    monkeypatch.setattr(render_command, "run", lambda args, progress: during.append(gc.isenabled()) or real_run(args, progress))

    assert gc.isenabled()
    assert main(["render", "--values", str(values)]) == 0
    assert during == [False]
    assert gc.isenabled()

    gc.disable()
    try:
        assert main(["render", "--values", str(values)]) == 0
        assert not gc.isenabled()  # a caller that had it off keeps it off
    finally:
        gc.enable()
    capsys.readouterr()
