"""What keeps README.md and docs/ true to the code: the checks behind tests/test_docs.py.

Three checks, each a function returning one line per problem (empty: nothing wrong), so the
test prints every problem at once and a planted bad input can be fed to each:

- ``broken_links``: every relative link (and image) names a file that exists.
- ``command_problems``: every shell command that runs ``python -m jaxssl.main``,
  ``python -m jaxssl VERB``, ``python -m data_prep VERB``, ``python SCRIPT.py`` or
  ``python -m pytest FILES`` names a verb, script and flags that exist, and every
  ``--config.KEY=VALUE`` parses against the config it loads, through the same ml_collections
  flag the trainer uses (``jaxssl/main.py``), so stage slots (``--config.finetune.train.steps``)
  follow the trainer's own rules.
- ``missing_figures``: every number quoted in README's results table appears verbatim on the
  page that row links to.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]

# A benchmark that hands everything after `--` to `python -m jaxssl.main` with this config.
PASS_THROUGH_CONFIGS = {
    "benchmarks/gue.py": "configs/gue.py",
    "benchmarks/gue_self_distill.py": "configs/gue_self_distill.py",
}
SHELL_LANGS = {"", "bash", "sh", "shell", "console"}
FENCE = re.compile(r"^```([\w-]*)[^\n]*\n(.*?)^```", re.S | re.M)
INLINE_CODE = re.compile(r"`([^`]+)`")
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
# An inline span that is a command: `python ...`, or with environment settings before it.
COMMAND_SPAN = re.compile(r"(\w+=\S* )*python3? ")
# A module named in prose, not run: `python -m jaxssl`, `python -m data_prep VERB`.
MENTION = re.compile(r"python3? -m [\w.]+( (VERB|<\w+>|\.\.\.))?")
# A figure: an optionally signed number, not glued to a word (tf0, chr7, 3x are not figures).
NUMBER = re.compile(r"(?<![\w.])[+−-]?\d[\d,]*(?:\.\d+)?")


def markdown_files(root: Path = REPO_ROOT) -> list[Path]:
    """README.md and every page under docs/."""
    return [root / "README.md", *sorted((root / "docs").rglob("*.md"))]


def _shown(path: Path) -> str:
    """A path as the repository names it, for messages."""
    return str(path.relative_to(REPO_ROOT)) if path.is_relative_to(REPO_ROOT) else str(path)


def _prose(text: str) -> str:
    """The text with fenced blocks and inline code removed (links there are code, not links)."""
    return INLINE_CODE.sub("", FENCE.sub("", text))


# ---------------------------------------------------------------------------------------------
# Links


def broken_links(path: Path, text: str) -> list[str]:
    """Relative links of ``text`` (the page at ``path``) whose file does not exist; anchors are
    not checked, web links are left alone."""
    problems = []
    for target in LINK.findall(_prose(text)):
        if re.match(r"[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            continue
        file = target.split("#", 1)[0]
        if not (path.parent / file).exists():
            problems.append(f"{_shown(path)}: link to {target}: no such file or directory")
    return problems


# ---------------------------------------------------------------------------------------------
# Commands


@dataclass(frozen=True)
class Command:
    where: str  # file:line
    argv: tuple[str, ...]  # what follows `python`


def _logical_lines(block: str, first_line: int) -> Iterable[tuple[int, str]]:
    """A code block's lines with backslash continuations joined, numbered from ``first_line``."""
    pending, start = "", first_line
    for i, line in enumerate(block.split("\n")):
        if not pending:
            start = first_line + i
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        yield start, pending + line
        pending = ""
    if pending:
        yield start, pending


def _python_commands(line: str) -> list[tuple[str, ...]]:
    """The arguments after `python`/`python3` in each command of one shell line."""
    try:
        lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|")
        lexer.whitespace_split = True
        lexer.commenters = "#"
        tokens = list(lexer)
    except ValueError:
        return []
    found, segment = [], []
    for token in [*tokens, ";"]:
        if token and set(token) <= set(";&|"):
            starts = [i for i, t in enumerate(segment) if t in ("python", "python3")]
            if starts:
                found.append(tuple(segment[starts[0] + 1 :]))
            segment = []
        else:
            segment.append(token)
    return found


def find_commands(path: Path, text: str) -> list[Command]:
    """Python commands of the page's shell code blocks and of its inline code spans that start
    with `python` (a span may run over lines)."""
    out = []
    for match in FENCE.finditer(text):
        if match.group(1).lower() not in SHELL_LANGS:
            continue
        first = text.count("\n", 0, match.start(2)) + 1
        for lineno, line in _logical_lines(match.group(2), first):
            out += [Command(f"{_shown(path)}:{lineno}", argv) for argv in _python_commands(line)]
    prose = FENCE.sub(lambda m: "\n" * m.group(0).count("\n"), text)
    for match in INLINE_CODE.finditer(prose):
        span = " ".join(match.group(1).split())
        if COMMAND_SPAN.match(span) and not MENTION.fullmatch(span):
            lineno = text.count("\n", 0, match.start()) + 1
            out += [Command(f"{_shown(path)}:{lineno}", argv) for argv in _python_commands(span)]
    return out


def _clean(argv: Iterable[str]) -> list[str]:
    """Optional parts written as [--flag VALUE] are checked like the rest."""
    return [t.strip("[]") for t in argv if t.strip("[]")]


def _unknown_options(tokens: list[str], known: set[str]) -> list[str]:
    """Option names among ``tokens`` (up to a lone `--`) that are not in ``known``."""
    bad = []
    for token in tokens:
        if token == "--":
            break
        if token.startswith("-") and not NUMBER.fullmatch(token):
            name = token.split("=", 1)[0]
            if name not in known:
                bad.append(name)
    return bad


def _subparser(parser: argparse.ArgumentParser, verb: str) -> argparse.ArgumentParser | None:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action.choices.get(verb)
    return None


@cache
def _verb_parsers(module: str) -> argparse.ArgumentParser:
    if module == "data_prep":
        from data_prep.__main__ import build_parser
    else:
        from jaxssl.__main__ import build_parser
    return build_parser()


def _verb_problems(module: str, argv: list[str]) -> list[str]:
    if not argv:
        return [f"python -m {module} without a verb"]
    sub = _subparser(_verb_parsers(module), argv[0])
    if sub is None:
        return [f"python -m {module}: no verb {argv[0]!r}"]
    known = set(sub._option_string_actions)
    return [
        f"python -m {module} {argv[0]}: no option {name}"
        for name in _unknown_options(argv[1:], known)
    ]


@cache
def _main_flag_names() -> frozenset[str]:
    """The flags `python -m jaxssl.main` defines (config, workdir, distributed)."""
    from absl import flags

    import jaxssl.main

    return frozenset(f.name for f in flags.FLAGS.get_flags_for_module(jaxssl.main.__name__))


def config_problems(config_spec: str, overrides: list[str]) -> list[str]:
    """Loads ``configs/X.py[:ARG]`` and applies ``--config.KEY=VALUE`` overrides exactly as the
    trainer's command line does (a fresh ml_collections config flag); [] when all parse."""
    from absl import flags
    from ml_collections import config_flags

    from jaxssl.main import _one_line as one_line

    path, _, arg = config_spec.partition(":")
    if not (REPO_ROOT / path).is_file():
        return [f"--config={config_spec}: no such config file"]
    spec = str(REPO_ROOT / path) + (f":{arg}" if arg else "")
    argv = ["jaxssl.main", f"--config={spec}", *overrides]
    values = flags.FlagValues()
    # sys_argv: config_flags defines the override flags it finds there, as it does for main.
    config_flags.DEFINE_config_file("config", None, "", flag_values=values, sys_argv=argv)
    try:
        values(argv)
    except Exception as err:  # noqa: BLE001 - every way a config or key fails is the finding
        text = one_line(err)  # as the trainer's command line words it
        return [f"--config={config_spec} {' '.join(overrides)}: {type(err).__name__}: {text}"]
    return []


def _main_problems(argv: list[str]) -> list[str]:
    problems, spec, overrides = [], None, []
    tokens = iter(argv)
    for token in tokens:
        name, eq, value = token.partition("=")
        if name == "--config":
            spec = value if eq else next(tokens, "")
        elif name.startswith("--config."):
            overrides.append(token)
        elif name.startswith("--") and name[2:] not in _main_flag_names():
            problems.append(f"python -m jaxssl.main: no flag {name}")
    if spec is None:
        return [*problems, "python -m jaxssl.main without --config"]
    return problems + config_problems(spec, overrides)


def script_options(script: str) -> set[str] | None:
    """Option strings a script's `--help` lists (None: it has no argparse, so no options)."""
    return _script_options(script)


@cache
def _script_options(script: str) -> frozenset[str] | None:
    source = (REPO_ROOT / script).read_text()
    if "argparse" not in source:
        return None
    result = subprocess.run(
        [sys.executable, script, "--help"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "JAX_PLATFORMS": "cpu"},
    )
    if result.returncode != 0:
        raise RuntimeError(f"{script} --help failed: {result.stderr.strip()[-500:]}")
    return frozenset(re.findall(r"(?<![\w-])(--?[A-Za-z][\w-]*)", result.stdout))


def _script_problems(script: str, argv: list[str]) -> list[str]:
    if not (REPO_ROOT / script).is_file():
        return [f"python {script}: no such script"]
    known = script_options(script)
    problems = []
    if known is None:
        problems += [f"python {script} takes no options, given {t}" for t in argv if t[:1] == "-"]
    else:
        problems += [f"python {script}: no option {n}" for n in _unknown_options(argv, known)]
    if "--" in argv and script in PASS_THROUGH_CONFIGS:
        rest = argv[argv.index("--") + 1 :]
        overrides = [t for t in rest if t.startswith("--config.")]
        problems += config_problems(PASS_THROUGH_CONFIGS[script], overrides)
    return problems


def command_problems(commands: Iterable[Command]) -> list[str]:
    """One line per command whose module, verb, script, flag or config key does not exist."""
    commands = list(commands)
    scripts = {c.argv[0] for c in commands if c.argv and c.argv[0].endswith(".py")}
    existing = [s for s in scripts if (REPO_ROOT / s).is_file()]
    with ThreadPoolExecutor(max_workers=2) as pool:  # each --help imports what its script does
        list(pool.map(script_options, existing))
    problems = []
    for command in commands:
        argv = _clean(command.argv)
        if argv[:2] == ["-m", "jaxssl.main"]:
            found = _main_problems(argv[2:])
        elif argv[:2] in (["-m", "jaxssl"], ["-m", "data_prep"]):
            found = _verb_problems(argv[1], argv[2:])
        elif argv[:2] == ["-m", "pytest"]:
            files = [t.split("::")[0] for t in argv[2:] if t.split("::")[0].endswith(".py")]
            found = [f"pytest: no test file {f}" for f in files if not (REPO_ROOT / f).is_file()]
        elif argv and argv[0].endswith(".py"):
            found = _script_problems(argv[0], argv[1:])
        else:
            found = []  # python -c, -m venv, -m pip ...: not ours to check
        problems += [f"{command.where}: {p}" for p in found]
    return problems


# ---------------------------------------------------------------------------------------------
# Headline figures


@dataclass(frozen=True)
class ResultRow:
    where: str
    figures: tuple[str, ...]
    page: Path | None


def results_rows(path: Path, text: str, heading: str = "## Results") -> list[ResultRow]:
    """Rows of the first table after ``heading``: the numbers outside code spans and links, and
    the page the row's link names."""
    lines = text.split("\n")
    if heading not in lines:
        return []
    i = lines.index(heading) + 1
    while i < len(lines) and not lines[i].startswith("|"):
        i += 1
    rows = []
    for lineno in range(i + 2, len(lines)):  # past the header and its |---| line
        line = lines[lineno]
        if not line.startswith("|"):
            break
        links = LINK.findall(INLINE_CODE.sub("", line))
        page = (path.parent / links[-1].split("#")[0]) if links else None
        prose = LINK.sub("", INLINE_CODE.sub("", line))
        figures = tuple(n.rstrip(",") for n in NUMBER.findall(prose))
        rows.append(ResultRow(f"{_shown(path)}:{lineno + 1}", figures, page))
    return rows


def missing_figures(rows: Iterable[ResultRow]) -> list[str]:
    """Figures of a results row that its linked page does not quote verbatim."""
    problems = []
    for row in rows:
        if row.page is None or not row.page.is_file():
            problems.append(f"{row.where}: the row links to no existing page ({row.page})")
            continue
        page = row.page.read_text()
        missing = [f for f in row.figures if f not in page]
        if missing:
            problems.append(f"{row.where}: not on {row.page.name}: {', '.join(missing)}")
    return problems
