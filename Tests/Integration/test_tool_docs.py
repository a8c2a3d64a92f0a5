"""The manual and the bash completion of the tool `edgecore` (issue 13, items 3 and 4).

- Every page of docs/man renders (scripts/mangen.py) without a groff warning (`groff -man -ww`) and without
  a mandoc -Tlint warning or error; mangen refuses what is outside the format of docs/man/README.md.
- Every subcommand that `edgecore --help` lists has its page once it is built (a placeholder answers "not
  built yet"), and every long option its `--help` names appears on that page; edgecore(1) lists every
  subcommand and every exit code of tools/tool.h.
- The completion (tools/edgecore.bash, or the installed one when $EDGECORE_TOOL is an installed tool) is
  driven through bash: subcommands and options from the tool's --help, the a|b|c choices of an option,
  site files, profile names, GPIO sub-actions.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tool_harness import INSTALLED, ROOT, TOOL, run

MAN = ROOT / "docs" / "man"
MANGEN = ROOT / "scripts" / "mangen.py"
INSTALLED_COMPLETION = Path("/usr/share/bash-completion/completions/edgecore")
COMPLETION = (INSTALLED_COMPLETION if INSTALLED and INSTALLED_COMPLETION.exists()
              else ROOT / "tools" / "edgecore.bash")
SOURCES = sorted(p for p in MAN.glob("*.md") if p.name != "README.md")


def subcommands() -> list[str]:
    out = run("--help").stdout
    block = out.split("Subcommands:", 1)[1]
    return re.findall(r"^  ([a-z][a-z0-9-]*) ", block, re.M)


def long_options(text: str) -> set[str]:
    return set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", text))


def render(source: Path, outdir: Path) -> Path:
    done = subprocess.run(["python3", str(MANGEN), str(outdir), str(source)], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    name = source.name[:-3]
    page = outdir / name
    assert page.exists(), f"mangen wrote no {page}"
    return page


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.name)
def test_page_renders_without_warnings(source, tmp_path):
    page = render(source, tmp_path)
    groff = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z", str(page)], capture_output=True, text=True,
                           timeout=60, env={"LC_ALL": "C.UTF-8", "PATH": "/usr/bin:/bin"})
    assert groff.returncode == 0 and groff.stderr == "", groff.stderr
    if shutil.which("mandoc"):
        lint = subprocess.run(["mandoc", "-Tlint", str(page)], capture_output=True, text=True, timeout=60)
        problems = [line for line in (lint.stdout + lint.stderr).splitlines() if "STYLE:" not in line]
        assert problems == [], problems
    text = subprocess.run(["man", "-l", "-P", "cat", str(page)], capture_output=True, text=True, timeout=60,
                          env={"LC_ALL": "C.UTF-8", "PATH": "/usr/bin:/bin", "MANWIDTH": "100"}).stdout
    assert "NAME" in text and "DESCRIPTION" in text, text[:500]


def test_mangen_refuses_what_is_outside_the_format(tmp_path):
    page = tmp_path / "edgecore-x.1.md"
    page.write_text("# edgecore-x(1) -- a test page\n\n## DESCRIPTION\n\nText.\n\n| a | b |\n")
    done = subprocess.run(["python3", str(MANGEN), str(tmp_path / "out"), str(page)], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 1 and f"{page}:7:" in done.stderr and "tables" in done.stderr, done.stderr
    assert not (tmp_path / "out" / "edgecore-x.1").exists()
    page.write_text("# edgecore-x(1) -- a test page\n\n## EXAMPLES\n\n    x\n\n## DESCRIPTION\n\nText.\n")
    done = subprocess.run(["python3", str(MANGEN), str(tmp_path / "out"), str(page)], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 1 and "DESCRIPTION must come before EXAMPLES" in done.stderr, done.stderr
    wrong = tmp_path / "edgecore-y.1.md"
    wrong.write_text("# edgecore-x(1) -- named wrong\n\n## DESCRIPTION\n\nText.\n")
    done = subprocess.run(["python3", str(MANGEN), str(tmp_path / "out"), str(wrong)], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 1 and "edgecore-x.1.md" in done.stderr, done.stderr


def test_mangen_output(tmp_path):
    """Options become bold with real minus signs, tagged paragraphs .TP, examples verbatim."""
    roff = render(MAN / "edgecore-read.1.md", tmp_path).read_text()
    assert roff.startswith('.TH "EDGECORE-READ" "1" ')
    assert "\n.TP\n\\fB\\-\\-rtu\\fR \\fIDEVICE\\fR\n" in roff
    assert ".nf\nedgecore read \\-\\-rtu /dev/ttyUSB0 \\-\\-baud 19200" in roff


@pytest.mark.parametrize("sub", ["check", "read", "write", "watch", "scan", "gpio", "journal", "sniff"])
def test_subcommand_page_names_every_option_of_its_help(sub):
    assert sub in subcommands()
    helped = run(sub, "--help")
    if helped.returncode != 0 and "not built yet" in helped.stderr:
        pytest.skip(f"edgecore {sub} is a placeholder")
    assert helped.returncode == 0, helped.stderr
    page = MAN / f"edgecore-{sub}.1.md"
    assert page.exists(), f"edgecore {sub} is built but {page} is missing"
    options = long_options(helped.stdout)
    assert "--help" in options or sub == "check" or options, helped.stdout
    missing = sorted(options - long_options(page.read_text()))
    assert missing == [], f"{page.name} does not describe {missing}"


def test_main_page_lists_subcommands_and_exit_codes():
    text = (MAN / "edgecore.1.md").read_text()
    for sub in subcommands():
        assert f"* `{sub}`" in text and f"edgecore-{sub}(1)" in text, sub
    assert long_options(run("--help").stdout) <= long_options(text)
    codes = re.findall(r"^#define EXIT_[A-Z]+ (\d+)", (ROOT / "tools" / "tool.h").read_text(), re.M)
    status = text.split("## EXIT STATUS", 1)[1].split("\n## ", 1)[0]
    assert len(codes) == 6
    for code in codes:
        assert f"* `{code}`:" in status, code


@pytest.mark.skipif(not INSTALLED, reason="installed pages: only with $EDGECORE_TOOL (the Debian package test)")
def test_installed_pages_are_found_by_man():
    for source in SOURCES:
        name, section = source.name[:-3].rsplit(".", 1)
        found = subprocess.run(["man", "-w", section, name], capture_output=True, text=True, timeout=30)
        assert found.returncode == 0 and found.stdout.strip().startswith("/usr/share/man/"), (name, found.stderr)


# ------------------------------------------------------------------------------------------------------
# Bash completion
# ------------------------------------------------------------------------------------------------------

DRIVER = r'''
source "$1" || exit 9
tool=$2; shift 2
complete -p edgecore >&2
COMP_WORDS=("$tool" "$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); COMPREPLY=()
_edgecore
printf '%s\n' "${COMPREPLY[@]}"
'''


def complete(*words: str, cwd: Path | None = None, env: dict | None = None) -> list[str]:
    done = subprocess.run(["bash", "--norc", "-c", DRIVER, "driver", str(COMPLETION), str(TOOL), *words],
                          capture_output=True, text=True, timeout=30, cwd=cwd, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == "complete -F _edgecore edgecore", done.stderr
    return [line for line in done.stdout.splitlines() if line]


def test_completion_subcommands_and_options():
    assert complete("") == subcommands()
    assert complete("ch") == ["check"]
    assert complete("--ver") == ["--version"]
    read_options = complete("read", "--")
    assert set(read_options) == long_options(run("read", "--help").stdout)
    assert {"--rtu", "--parity", "--meter-address", "--repeat"} <= set(read_options)
    assert complete("read", "--par") == ["--parity"]


def test_completion_values_of_options():
    assert complete("read", "--parity", "") == ["N", "E", "O"]
    assert complete("read", "--format", "j") == ["json"]
    assert complete("read", "--rtu", "/dev/x", "--function", "") == ["holding", "input", "coils", "discrete"]
    assert complete("write", "--order", "CD") == ["CDAB"]
    for device in complete("read", "--rtu", "/dev/"):
        assert Path(device).exists() and (device.startswith("/dev/tty") or device.startswith("/dev/serial/")
                                          or device.startswith("/dev/pts/")), device


def test_completion_site_files_and_profiles(tmp_path):
    (tmp_path / "site.yaml").write_text("buses: []\n")
    (tmp_path / "notes.txt").write_text("x\n")
    (tmp_path / "sites").mkdir()
    assert sorted(complete("check", "s", cwd=tmp_path)) == ["site.yaml", "sites"]
    assert complete("check", "n", cwd=tmp_path) == []
    assert sorted(complete("read", "--repeat", "1000", "si", cwd=tmp_path)) == ["site.yaml", "sites"]
    profiles = tmp_path / "more-profiles"
    profiles.mkdir()
    (profiles / "acme-meter.yaml").write_text("protocol: modbus\n")
    env = dict(os.environ, EDGECORE_PROFILES=str(profiles))
    assert complete("read", "--profile", "acme", env=env, cwd=tmp_path) == ["acme-meter"]
    env["EDGECORE_PROFILES"] = str(ROOT / "profiles")
    assert complete("read", "--profile", "eastron", env=env, cwd=tmp_path) == ["eastron-sdm120", "eastron-sdm630"]


def test_completion_gpio_and_journal_actions(tmp_path):
    assert complete("gpio", "") == ["list", "get", "set", "monitor", "count"]
    assert complete("journal", "t") == ["tail"]
    (tmp_path / "journal").mkdir()
    assert complete("journal", "stats", "jo", cwd=tmp_path) == ["journal"]
