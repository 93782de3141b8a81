"""The documentation's command blocks, as a reader copies them: each fenced `sh` block of a
page, in order."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
FENCED = re.compile(r"^```sh\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def command_blocks(page: Path) -> list[str]:
    return [block.strip("\n") for block in FENCED.findall(page.read_text())]
