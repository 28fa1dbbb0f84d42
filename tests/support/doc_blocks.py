"""The examples in README.md and docs/*.md: every fenced code block, the commands of the
README's command table, and the shell commands inside them, as a reader would copy them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FENCE = re.compile(r"^(\s*)```\s*([\w+-]*)\s*$")
# A table row whose first cell is one command: `exportd …` or `make …`.
COMMAND_ROW = re.compile(r"^\|\s*`((?:exportd|make) (?:[^`]|\\`)*)`\s*\|")
SHELLS = ("bash", "sh", "shell", "console")


@dataclass(frozen=True)
class Block:
    page: str  # README.md, docs/api.md
    line: int  # of the opening fence (or of the table row)
    lang: str
    text: str

    @property
    def id(self) -> str:
        return f"{self.page}:{self.line}:{self.lang or 'none'}"

    @property
    def module_path(self) -> str | None:
        """``myapp/exports.py`` for a Python block that opens with ``# myapp/exports.py``:
        a module of the reader's, which a live exportd loads; None for a script."""
        first = self.text.split("\n", 1)[0]
        found = re.fullmatch(r"# ([\w/]+\.py)", first.strip())
        return found.group(1) if self.lang == "python" and found else None


def pages() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


@cache
def blocks() -> tuple[Block, ...]:
    """Every fenced block of every page, and each row of a command table as a bash block."""
    found: list[Block] = []
    for path in pages():
        page = str(path.relative_to(ROOT))
        lines = path.read_text().splitlines()
        opened: tuple[int, str, str] | None = None  # line, indent, language
        body: list[str] = []
        for number, line in enumerate(lines, start=1):
            fence = FENCE.match(line)
            if opened is None and fence:
                opened, body = (number, fence.group(1), fence.group(2)), []
            elif opened is not None and fence and not fence.group(2):
                start, indent, lang = opened
                text = "\n".join(b.removeprefix(indent) for b in body) + "\n"
                found.append(Block(page, start, lang, text))
                opened = None
            elif opened is not None:
                body.append(line)
            elif row := COMMAND_ROW.match(line):
                # In a table, `|` inside a code span is written `\|`.
                found.append(Block(page, number, "bash", row.group(1).replace("\\|", "|") + "\n"))
        assert opened is None, f"{page}:{opened[0]}: a code fence is never closed"
    return tuple(found)


def shell_commands(block: Block) -> list[str]:
    """The commands of a shell block, each as written (continuation lines and multi-line
    quotes kept), without comments. A ``console`` block's commands are its ``$ `` lines."""
    text = block.text
    if block.lang == "console":
        text = "\n".join(line[2:] for line in text.splitlines() if line.startswith("$ "))
    commands: list[str] = []
    current: list[str] = []
    quote = ""
    depth = 0  # inside $( … )
    i = 0
    while i < len(text):
        char = text[i]
        if quote:
            if char == "\\" and quote == '"':
                current.append(text[i : i + 2])
                i += 2
                continue
            if char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char == "\\" and text[i + 1 : i + 2] == "\n":
            current.append("\\\n")
            i += 2
            continue
        elif char == "#" and (not current or current[-1][-1:].isspace()):
            while i < len(text) and text[i] != "\n":
                i += 1
            continue
        elif text.startswith("$(", i):
            depth += 1
        elif char == ")" and depth:
            depth -= 1
        elif char == "\n" and not depth:
            if "".join(current).strip():
                commands.append("".join(current).strip())
            current = []
            i += 1
            continue
        current.append(char)
        i += 1
    assert not quote, f"{block.id}: a quote is never closed"
    if "".join(current).strip():
        commands.append("".join(current).strip())
    return commands


def one_line(command: str) -> str:
    """A command with its continuation lines joined and its spaces squeezed, to match."""
    return re.sub(r"\s+", " ", command.replace("\\\n", " ")).strip()
