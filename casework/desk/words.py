"""What a case's history says, in sentences a case manager reads (the terminal's is
casework.cli.views.history_line: one line of codes)."""

from __future__ import annotations

import re

from casework.models.labels import label
from casework.models.schemas import HistoryEntry

SYSTEM = {"system", "casework"}


def happened(h: HistoryEntry) -> str:
    """One entry: who did what, and where it took the case; a refusal, and why."""
    stage = label(h.from_stage).lower()
    when = f"{h.at:%-d %b %Y %H:%M}"
    if h.outcome == "rejected":
        return f"{when}: the {stage} form from {h.actor} was refused: {h.error}"
    if h.trigger == "send":
        return f"{when}: {h.actor} sent the referrals; the case waited for the partners' answers."
    if h.trigger in ("accepted", "rejected"):
        answer = "accepted them" if h.trigger == "accepted" else "did not take every one"
        onward = f"moved to {label(h.to_stage).lower()}" if h.to_stage else "closed"
        return f"{when}: the partner agencies {answer}; the case {onward}."
    who = "Casework" if h.actor in SYSTEM else h.actor
    done = "recorded the intake" if h.from_stage == "intake" else f"recorded the {stage}"
    if h.trigger == "reassess":
        done = f"sent the case back from {stage}"
    onward = f"moved to {label(h.to_stage).lower()}" if h.to_stage else "closed"
    return f"{when}: {who} {done}; the case {onward}."


_COMMAND = re.compile(r"\s*\(`casework [^`]*`\)|,? or `casework [^`]*`")


def plain(text: str) -> str:
    """A text written for the terminal ("contact the client (`casework note CASE-1 …`)"),
    without the command: the desk's page is where it is done."""
    return _COMMAND.sub("", text)
