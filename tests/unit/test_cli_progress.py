"""`simulate`'s progress: a bar redrawn in place on a terminal, plain lines elsewhere."""

from __future__ import annotations

import io

import pytest

from harness.cli import _progress_bar, _progress_kind, _progress_printer


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class Broken(io.StringIO):
    def isatty(self) -> bool:
        raise ValueError("I/O operation on closed file")


def test_the_choice_follows_the_stream() -> None:
    assert _progress_kind(Terminal()) == "bar"
    assert _progress_kind(io.StringIO()) == "lines"  # a pipe, a file, a CI log
    assert _progress_kind(Broken()) == "lines"
    assert _progress_kind(object()) == "lines"  # no isatty at all


def test_not_a_terminal_gives_plain_lines_every_tenth() -> None:
    stream = io.StringIO()
    show = _progress_printer(200, stream)
    assert show is not None
    for done in range(1, 201):
        show(done, 200)
    lines = stream.getvalue().splitlines()
    assert lines[0] == "simulate: 20 of 200 trials"
    assert lines[-1] == "simulate: 200 of 200 trials"
    assert len(lines) == 10
    assert "\r" not in stream.getvalue()


def test_not_a_terminal_and_a_short_campaign_prints_nothing() -> None:
    assert _progress_printer(99, io.StringIO()) is None


@pytest.mark.parametrize("trials", [3, 1000])
def test_a_terminal_gets_a_bar_redrawn_in_place(trials: int) -> None:
    stream = Terminal()
    show = _progress_printer(trials, stream)
    assert show is not None
    for done in range(1, trials + 1):
        show(done, trials)
    text = stream.getvalue()
    frames = text.split("\r")[1:]
    assert len(frames) <= 101  # one per whole percent, whatever the number of trials
    assert text.endswith(f"] {trials}/{trials} trials 100%\n")
    assert text.count("\n") == 1


def test_the_bar_fills_with_the_trials() -> None:
    stream = Terminal()
    show = _progress_bar(stream, width=10)
    show(5, 10)
    assert stream.getvalue() == "\rsimulate: [#####.....]  5/10 trials  50%"
