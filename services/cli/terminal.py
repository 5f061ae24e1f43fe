"""Asking a human on the controlling terminal, even when stdin carries the input."""

from __future__ import annotations

from shared.errors import AutopilotError


def ask(text: str, *questions: str) -> list[str]:
    """Show `text` on /dev/tty, ask each question in turn, return the answers."""
    try:
        tty = open("/dev/tty", "r+")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise AutopilotError(
            "a human gate is waiting and there is no terminal; pass --yes", field="--yes"
        ) from exc
    answers = []
    with tty:
        tty.write(text if text.endswith("\n") else text + "\n")
        for question in questions:
            tty.write(question)
            tty.flush()
            answers.append(tty.readline().strip())
    return answers
