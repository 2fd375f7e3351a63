"""README.md and docs/ stay true to the code: links resolve, every command shown parses, and
every figure of README's results table is quoted on the page its row links to.

Each check also runs on a planted bad input, so none of them can pass by finding nothing.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from tests import docs_check
from tests.docs_check import (
    REPO_ROOT,
    Command,
    broken_links,
    command_problems,
    find_commands,
    markdown_files,
    missing_figures,
    results_rows,
)

# Pages other work writes and the README or docs link to: they must exist, not be skipped.
REQUIRED_PAGES = ("docs/results/gue_recipe.md", "docs/results/corpus.md")
README = REPO_ROOT / "README.md"


def _pages() -> list[tuple[Path, str]]:
    return [(path, path.read_text()) for path in markdown_files()]


def test_readme_is_short():
    lines = README.read_text().count("\n")
    assert lines < 250, f"README.md has {lines} lines; move details to docs/"


def test_required_pages_exist():
    missing = [p for p in REQUIRED_PAGES if not (REPO_ROOT / p).is_file()]
    assert missing == [], f"pages linked from README/docs that nobody wrote yet: {missing}"


def test_every_relative_link_resolves():
    problems = [p for path, text in _pages() for p in broken_links(path, text)]
    assert problems == [], "\n".join(problems)


def test_every_command_shown_parses():
    commands = [c for path, text in _pages() for c in find_commands(path, text)]
    kinds = {" ".join(c.argv[:2]) for c in commands}
    # The check reads what it should: all four kinds of command are found.
    assert {"-m jaxssl.main", "-m data_prep", "-m jaxssl", "-m pytest"} <= kinds
    assert any(c.argv[0].startswith("benchmarks/") for c in commands)
    problems = command_problems(commands)
    assert problems == [], "\n".join(problems)


def test_readme_results_figures_are_on_their_pages():
    rows = results_rows(README, README.read_text())
    assert len(rows) >= 5 and all(row.figures for row in rows)
    problems = missing_figures(rows)
    assert problems == [], "\n".join(problems)


# ---------------------------------------------------------------------------------------------
# Planted bad inputs: each check reports what it must.


def test_a_broken_link_is_reported(tmp_path):
    (tmp_path / "there.md").write_text("x")
    page = tmp_path / "page.md"
    text = (
        "[ok](there.md#anchor) [web](https://example.org/x.md) [gone](missing/page.md)\n"
        "![figure](plot.png)\n`[code](not_a_link.md)`\n"
    )
    problems = broken_links(page, text)
    assert len(problems) == 2
    assert "missing/page.md" in problems[0] and "plot.png" in problems[1]


def test_commands_are_found_in_blocks_and_spans(tmp_path):
    text = textwrap.dedent(
        """\
        Run `python -m data_prep inspect data/x
        --splits valid` or see `python -m jaxssl` (a name, not a command).

        ```bash
        python -m jaxssl.main --config=configs/supervised.py \\
            --workdir=w  # a comment
        cd x && JAX_PLATFORMS=cpu python benchmarks/verdict.py --quick | tee log
        ```

        ```python
        python -m not.shell
        ```
        """
    )
    found = find_commands(tmp_path / "p.md", text)
    assert [c.argv for c in found] == [
        ("-m", "jaxssl.main", "--config=configs/supervised.py", "--workdir=w"),
        ("benchmarks/verdict.py", "--quick"),
        ("-m", "data_prep", "inspect", "data/x", "--splits", "valid"),
    ]
    assert [c.where.rsplit(":", 1)[1] for c in found] == ["5", "7", "1"]


def test_a_dead_verb_flag_or_script_is_reported():
    def cmd(*argv: str) -> Command:
        return Command("planted.md:1", argv)

    problems = command_problems(
        [
            cmd("-m", "data_prep", "inspect", "data/x", "--splits", "valid"),  # fine
            cmd("-m", "data_prep", "inspect", "data/x", "--no-such-flag"),
            cmd("-m", "data_prep", "unpack", "x"),
            cmd("-m", "jaxssl", "predict", "--model", "m", "--fasta", "a.fa", "--outt", "o"),
            cmd("benchmarks/no_such_benchmark.py", "--workdir", "w"),
            cmd("benchmarks/verdict.py", "--quick", "--regimes", "ctcf", "--qiuck"),
            cmd("-m", "jaxssl.main", "--config=configs/supervised.py", "--workdri=w"),
            cmd("-m", "pytest", "-q", "tests/test_no_such_file.py"),
        ]
    )
    assert len(problems) == 7, "\n".join(problems)
    for expected in (
        "no option --no-such-flag",
        "no verb 'unpack'",
        "no option --outt",
        "no such script",
        "no option --qiuck",
        "no flag --workdri",
        "no test file tests/test_no_such_file.py",
    ):
        assert sum(expected in p for p in problems) == 1, (expected, problems)


def test_an_unknown_config_key_is_reported_and_stage_slots_are_not():
    def main(*argv: str) -> Command:
        return Command("planted.md:1", ("-m", "jaxssl.main", "--workdir=w", *argv))

    fine = [
        main("--config=configs/self_distill.py", "--config.finetune.train.steps=5"),
        main("--config=configs/noisy_student.py:generations=3", "--config.seeds=0,1"),
        main("--config=configs/supervised.py:basset", "--config.model.hparams.dropout=0.1"),
    ]
    assert command_problems(fine) == []
    bad = [
        main("--config=configs/supervised.py", "--config.train.stepz=5"),
        main("--config=configs/self_distill.py", "--config.finetune.train.nope=1"),
        main("--config=configs/no_such_config.py"),
        main("--config=configs/supervised.py:basset", "--config.model.hparams.no_such=1"),
        main("--config.train.steps=5"),
        Command("planted.md:1", ("benchmarks/gue.py", "--", "--config.model.hparams.poool=x")),
    ]
    problems = command_problems(bad)
    assert len(problems) == 6, "\n".join(problems)
    assert "stepz" in problems[0] and "nope" in problems[1]
    assert "no such config file" in problems[2] and "no_such" in problems[3]
    assert "without --config" in problems[4] and "poool" in problems[5]


def test_a_results_figure_missing_from_its_page_is_reported(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "study.md").write_text("gain +0.198 [+0.139, +0.258] over 5 seeds")
    readme = tmp_path / "README.md"
    text = textwrap.dedent(
        """\
        ## Results

        | claim | figure | command | details |
        |---|---|---|---|
        | tf0 | +0.198 [+0.139, +0.258] (5 seeds) | `python x.py --seeds 7` | [s](docs/study.md) |
        | tf2 wins | +0.199 [+0.139, −0.258] (5 seeds) | `python x.py` | [s](docs/study.md) |
        | no page | 1.5 | `python x.py` | [s](docs/none.md) |

        Not the table: 9.99
        """
    )
    rows = results_rows(readme, text)
    assert [row.figures for row in rows] == [
        ("+0.198", "+0.139", "+0.258", "5"),
        ("+0.199", "+0.139", "−0.258", "5"),
        ("1.5",),
    ]
    problems = missing_figures(rows)
    assert len(problems) == 2
    assert problems[0].endswith("not on study.md: +0.199, −0.258")
    assert "links to no existing page" in problems[1]


def test_module_constants_name_real_files():
    for script, config in docs_check.PASS_THROUGH_CONFIGS.items():
        assert (REPO_ROOT / script).is_file() and (REPO_ROOT / config).is_file()
