"""Points the notebooks' "Open in Colab" badges and clone cells at a GitHub repository.

A clone of jaxssl does not know where it will be published, so the notebooks ship with the
placeholder ``OWNER/jaxssl``. Once your clone is on GitHub, run from the repository root::

    python notebooks/colab_links.py                 # the repository of `git remote origin`
    python notebooks/colab_links.py --repo me/jaxssl --branch dev
    python notebooks/colab_links.py --check         # exit 1 if a notebook is not pointed yet

Each notebook's badge then opens that notebook from that repository and branch, and its first
code cell clones the same repository on Colab. Only those two strings change; the notebooks'
cells, outputs and metadata are otherwise left byte for byte as they were.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

NOTEBOOKS = Path(__file__).resolve().parent
PLACEHOLDER = "OWNER/jaxssl"
BADGE = re.compile(
    r"(https://colab\.research\.google\.com/github/)([\w.-]+/[\w.-]+)/blob/([\w./-]+?)/"
    r"(notebooks/[\w.-]+\.ipynb)"
)
REPO_URL = re.compile(r'(REPO_URL = \\"https://github\.com/)([\w.-]+/[\w.-]+)(\\")')
CLONE_BRANCH = re.compile(r'(REPO_BRANCH = \\")([\w./-]+)(\\")')
GITHUB_REMOTE = re.compile(r"github\.com[:/]([\w.-]+)/([\w.-]+?)(?:\.git)?/?$")


def repo_from_remote(remote: str) -> str:
    """'owner/name' of a GitHub remote URL (https or ssh form)."""
    match = GITHUB_REMOTE.search(remote.strip())
    if not match:
        raise ValueError(
            f"remote {remote.strip()!r} is not a GitHub repository; Colab opens notebooks from "
            "GitHub only: pass --repo OWNER/NAME"
        )
    return f"{match.group(1)}/{match.group(2)}"


def origin_repo(root: Path) -> str:
    """The GitHub repository of the clone's `origin` remote."""
    result = subprocess.run(
        ["git", "-C", str(root), "remote", "get-url", "origin"],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise ValueError(
            "this clone has no 'origin' remote: push it to GitHub first, or pass --repo OWNER/NAME"
        )
    return repo_from_remote(result.stdout)


def point(text: str, repo: str, branch: str) -> str:
    """The notebook's JSON text with its badge and clone cell pointed at ``repo``/``branch``."""
    text = BADGE.sub(lambda m: f"{m.group(1)}{repo}/blob/{branch}/{m.group(4)}", text)
    text = REPO_URL.sub(lambda m: f"{m.group(1)}{repo}{m.group(3)}", text)
    return CLONE_BRANCH.sub(lambda m: f"{m.group(1)}{branch}{m.group(3)}", text)


def targets(text: str) -> set[tuple[str, str]]:
    """The (repo, branch) pairs the notebook's badges point at."""
    return {(m.group(2), m.group(3)) for m in BADGE.finditer(text)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repo", help="OWNER/NAME on GitHub (default: the origin remote's)")
    parser.add_argument("--branch", default="main", help="branch Colab opens (default: main)")
    parser.add_argument(
        "--check", action="store_true", help="only report; exit 1 if any notebook is unpointed"
    )
    args = parser.parse_args(argv)
    notebooks = sorted(NOTEBOOKS.glob("*.ipynb"))
    if args.check:
        unpointed = [
            nb.name for nb in notebooks if any(r == PLACEHOLDER for r, _ in targets(nb.read_text()))
        ]
        for nb in notebooks:
            print(f"{nb.name}: {', '.join(f'{r}@{b}' for r, b in sorted(targets(nb.read_text())))}")
        if unpointed:
            print(f"still the placeholder {PLACEHOLDER}: {', '.join(unpointed)}", file=sys.stderr)
        return 1 if unpointed else 0
    try:
        repo = args.repo or origin_repo(NOTEBOOKS.parent)
        if args.repo and not re.fullmatch(r"[\w.-]+/[\w.-]+", args.repo):
            raise ValueError(f"--repo {args.repo!r}: expected OWNER/NAME, e.g. deepmind/jaxssl")
    except ValueError as err:
        print(f"colab_links: {err}", file=sys.stderr)
        return 2
    for nb in notebooks:
        text = nb.read_text()
        new = point(text, repo, args.branch)
        if new != text:
            tmp = nb.with_suffix(".ipynb.tmp")
            tmp.write_text(new)
            tmp.replace(nb)
        print(f"{nb.name}: Open in Colab -> github/{repo}/blob/{args.branch}/notebooks/{nb.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
