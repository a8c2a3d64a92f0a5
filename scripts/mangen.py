#!/usr/bin/env python3
"""Turn the manual's Markdown sources (docs/man/*.md, format: docs/man/README.md) into roff man pages.

    scripts/mangen.py OUTDIR PAGE.md...      write OUTDIR/NAME.SECTION for each page (make man: build/man)

Python 3 standard library only. A construct outside the format (a table, a nested list, a heading out of
order, an unclosed `code` span) is an error naming the file and line: the page is not written and the
exit status is 1. The date of a page is the last commit that changed its source (git), else
$SOURCE_DATE_EPOCH, else the file's modification time; the version is include/edgecore.h's.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Sections of the format, in the order they must appear when present. Other sections (the library's page:
# OBJECTS, THREADS, ...) may stand anywhere between DESCRIPTION and SEE ALSO.
ORDERED = ["NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "OUTPUT", "EXIT STATUS", "ENVIRONMENT", "FILES",
           "EXAMPLES", "SEE ALSO"]
TITLE = re.compile(r"^# ([A-Za-z0-9_.+-]+)\(([1-8])\) -- (\S.*)$")


class FormatError(Exception):
    pass


def version() -> str:
    text = (ROOT / "include" / "edgecore.h").read_text()
    match = re.search(r'^#define EDGECORE_VERSION_STRING "([^"]+)"', text, re.M)
    return match.group(1) if match else "unknown"


def page_date(path: Path) -> str:
    try:
        out = subprocess.run(["git", "log", "-1", "--format=%cs", "--", path.name], cwd=path.parent,
                             capture_output=True, text=True, timeout=20)
        if out.returncode == 0 and re.fullmatch(r"\d{4}-\d\d-\d\d", out.stdout.strip()):
            return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    seconds = int(os.environ.get("SOURCE_DATE_EPOCH", path.stat().st_mtime))
    return time.strftime("%Y-%m-%d", time.gmtime(seconds))


def escape(text: str) -> str:
    """Plain text for roff: backslashes, and hyphens that start options or are doubled, made literal."""
    text = text.replace("\\", "\\e")
    text = re.sub(r"(?<![\w-])-(?=[\w-])", r"\\-", text)   # -x, --long at a word's start
    text = text.replace("--", "\\-\\-").replace("\\-\\-\\-", "\\-\\-\\-")
    return text


def literal(text: str) -> str:
    """Text shown as typed (code spans, examples): every hyphen a minus, so that it can be copied."""
    return text.replace("\\", "\\e").replace("-", "\\-")


def inline(text: str, where: str) -> str:
    """`code` -> bold, *emphasis* -> italic, NAME(N) -> bold name; the rest escaped."""
    out, i = [], 0
    while i < len(text):
        c = text[i]
        if c == "`":
            end = text.find("`", i + 1)
            if end < 0:
                raise FormatError(f"{where}: unclosed `code` span")
            out.append("\\fB" + literal(text[i + 1:end]) + "\\fR")
            i = end + 1
        elif (c == "*" and i + 1 < len(text) and text[i + 1] not in " *)"
              and (i == 0 or not text[i - 1].isalnum()) and text.find("*", i + 1) > 0):
            # *emphasis*: opens before a word, not after one (ttyUSB* and a lone * stay as they are)
            end = text.find("*", i + 1)
            out.append("\\fI" + escape(text[i + 1:end]) + "\\fR")
            i = end + 1
        else:
            j = i
            while j < len(text) and text[j] not in "`*":
                j += 1
            if j == i:   # a '*' that opens nothing (e.g. "x * y", "ttyUSB*")
                j = i + 1
            chunk = escape(text[i:j])
            chunk = re.sub(r"(?<![\w\\])([a-z][\w.+-]*)\(([1-8])\)", r"\\fB\1\\fR(\2)", chunk)
            out.append(chunk)
            i = j
    return "".join(out)


def roff_line(text: str) -> str:
    """A text line that roff must not take for a request."""
    return "\\&" + text if text[:1] in (".", "'") else text


def filled(texts: list[str], where: str) -> list[str]:
    """Lines of running text, converted and re-wrapped to at most 80 bytes where spaces allow."""
    joined = " ".join(inline(t, where) for t in texts)
    return [roff_line(t) for t in textwrap.wrap(joined, 79, break_long_words=False, break_on_hyphens=False)]


def paragraph_macro(out: list[str], macro: str = ".PP") -> None:
    """A paragraph break, unless a section heading just made one."""
    if not out[-1].startswith((".SH", ".SS")):
        out.append(macro)


def convert(path: Path) -> tuple[str, str]:
    """(file name, roff text) of one page."""
    lines = path.read_text(encoding="utf-8").split("\n")
    match = TITLE.match(lines[0])
    if not match:
        raise FormatError(f"{path}:1: the first line must be '# NAME(SECTION) -- description'")
    name, section, description = match.groups()
    expected = f"{name}.{section}.md"
    if path.name != expected:
        raise FormatError(f"{path}:1: page {name}({section}) must be in a file named {expected}")
    out = [f'.TH "{name.upper()}" "{section}" "{page_date(path)}" "EdgeCore {version()}" '
           f'"{"EdgeCore Manual" if section == "1" else "EdgeCore Library Functions"}"',
           ".nh", ".SH NAME", f"{literal(name)} \\- {escape(description)}"]
    seen: list[str] = ["NAME"]
    i, n = 1, len(lines)
    paragraph: list[str] = []

    def where() -> str:
        return f"{path}:{i + 1}"

    def flush() -> None:
        if paragraph:
            paragraph_macro(out)
            out.extend(filled(paragraph, where()))
            paragraph.clear()

    while i < n:
        line = lines[i].rstrip()
        if not line:
            flush()
            i += 1
            continue
        if line.startswith("## "):
            flush()
            title = line[3:].strip()
            if title != title.upper() or not re.fullmatch(r"[A-Z][A-Z0-9 ._-]*", title):
                raise FormatError(f"{where()}: section '{title}' must be in capitals")
            if title in seen:
                raise FormatError(f"{where()}: section {title} appears twice")
            if title in ORDERED:
                last = max(ORDERED.index(s) for s in seen if s in ORDERED)
                if ORDERED.index(title) < last:
                    raise FormatError(f"{where()}: section {title} must come before {ORDERED[last]}")
            elif "SEE ALSO" in seen:
                raise FormatError(f"{where()}: section {title} must come before SEE ALSO")
            seen.append(title)
            out.append(f'.SH "{title}"')
            i += 1
            continue
        if line.startswith("### "):
            flush()
            out.append(f'.SS "{escape(line[4:].strip())}"')
            i += 1
            continue
        if line.startswith("#"):
            raise FormatError(f"{where()}: only '## SECTION' and '### Subsection' headings are allowed here")
        if len(seen) == 1:
            raise FormatError(f"{where()}: text before the first '## SECTION'")
        if line.startswith("    "):
            flush()
            block = []
            while i < n and (lines[i].startswith("    ") or (not lines[i].strip() and i + 1 < n
                                                              and lines[i + 1].startswith("    "))):
                block.append(lines[i][4:].rstrip())
                i += 1
            paragraph_macro(out)
            out.extend([".RS 4", ".nf"])
            out.extend(roff_line(literal(b)) for b in block)
            out.extend([".fi", ".RE"])
            continue
        if line.startswith("* ") or line.startswith("- "):
            flush()
            head = line[2:].strip()
            body: list[str] = []
            i += 1
            while i < n and lines[i].startswith("  ") and lines[i].strip():
                body.append(lines[i].strip())
                i += 1
            if head.endswith(":") and body:
                out.append(".TP")
                out.append(roff_line(inline(head[:-1], where())))
            else:
                out.append(".IP \\(bu 2")
                out.append(roff_line(inline(head, where())))
            out.extend(filled(body, where()))
            continue
        if line.startswith("  "):
            raise FormatError(f"{where()}: an indented line that continues no list item (a blank line before it?)")
        if line.startswith("|") or re.match(r"^\d+\. ", line) or line.startswith(">"):
            raise FormatError(f"{where()}: tables, numbered lists and quotes are not part of the format")
        paragraph.append(line)
        i += 1
    flush()
    for required in ("DESCRIPTION",):
        if required not in seen:
            raise FormatError(f"{path}: no {required} section")
    return f"{name}.{section}", "\n".join(out) + "\n"


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] in ("-h", "--help"):
        print(__doc__.strip().split("\n\n")[1] if len(argv) >= 2 else __doc__, file=sys.stderr)
        return 2
    outdir = Path(argv[1])
    outdir.mkdir(parents=True, exist_ok=True)
    status = 0
    for source in argv[2:]:
        path = Path(source)
        if path.name == "README.md":
            continue
        try:
            filename, text = convert(path)
        except FormatError as error:
            print(f"mangen: {error}", file=sys.stderr)
            status = 1
            continue
        (outdir / filename).write_text(text, encoding="utf-8")
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv))
