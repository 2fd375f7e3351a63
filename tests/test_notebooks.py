"""The notebooks run top to bottom (short settings appended to their parameters cell), and their
"Open in Colab" links point at their own path in the repository.

They use the default toy world in ``$JAXSSL_CACHE`` (built once, as for a user) and write only
under a temporary directory.
"""

from __future__ import annotations

import re

import pytest

from tests.conftest import REPO_ROOT

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

NOTEBOOKS = REPO_ROOT / "notebooks"
COLAB = re.compile(
    r"https://colab\.research\.google\.com/github/([\w.-]+/[\w.-]+)/blob/[\w.-]+/(\S+?)\)"
)


def execute(name: str, settings: dict[str, object]) -> nbformat.NotebookNode:
    """Runs a notebook from notebooks/ (as Jupyter would) with ``settings`` appended to its
    cell tagged ``parameters``; returns the executed notebook."""
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1, f"{name}: expected one cell tagged 'parameters'"
    lines = [f"{key} = {value!r}" for key, value in settings.items()]
    params[0].source += "\n# tests/test_notebooks.py\n" + "\n".join(lines)
    client = nbclient.NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}
    )
    client.execute()
    return nb


def outputs_text(nb: nbformat.NotebookNode) -> str:
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            parts.append(out.get("text", ""))
            parts.append(out.get("data", {}).get("text/plain", ""))
    return "\n".join(parts)


def has_image(nb: nbformat.NotebookNode) -> bool:
    return any(
        "image/png" in out.get("data", {}) for cell in nb.cells for out in cell.get("outputs", [])
    )


@pytest.mark.parametrize("name", ["quickstart.ipynb", "your_own_data.ipynb"])
def test_colab_link_points_at_the_notebook(name):
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    links = COLAB.findall(nb.cells[0].source)
    assert links, f"{name}: no 'Open in Colab' link in the first cell"
    (repo, path), *_ = links
    assert path == f"notebooks/{name}"
    setup = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert f'REPO_URL = "https://github.com/{repo}"' in setup  # Colab clones the same repo


@pytest.mark.slow
def test_quickstart_runs(tmp_path):
    nb = execute(
        "quickstart.ipynb",
        {
            "WORKDIR": str(tmp_path / "quickstart"),
            "STEPS": 8,
            "STUDENT_STEPS": 8,
            "STAGES": "pretrain,pseudo_label",
        },
    )
    assert (tmp_path / "quickstart" / "pseudo_label" / "metrics.jsonl").is_file()
    assert "pseudo_label" in outputs_text(nb) and has_image(nb)


@pytest.mark.slow
def test_your_own_data_runs(tmp_path):
    data = tmp_path / "my_peaks"
    nb = execute(
        "your_own_data.ipynb",
        {"DATA_DIR": str(data), "WORKDIR": str(tmp_path / "run"), "STEPS": 8},
    )
    assert (data / "manifest.json").is_file() and (tmp_path / "my_peaks.parquet").is_file()
    assert (tmp_path / "run" / "supervised" / "test_roc_pr.png").is_file()
    text = outputs_text(nb)
    assert "label:CTCF" in text and "auprc" in text and has_image(nb)


def _colab_links():
    import importlib.util

    spec = importlib.util.spec_from_file_location("colab_links", NOTEBOOKS / "colab_links.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    "remote",
    [
        "https://github.com/someone/jaxssl-fork.git",
        "git@github.com:someone/jaxssl-fork.git",
        "https://github.com/someone/jaxssl-fork",
    ],
)
def test_colab_links_read_the_github_remote(remote):
    assert _colab_links().repo_from_remote(remote + "\n") == "someone/jaxssl-fork"


def test_colab_links_refuse_a_remote_colab_cannot_open():
    with pytest.raises(ValueError, match="not a GitHub repository"):
        _colab_links().repo_from_remote("https://gitlab.com/someone/jaxssl.git")


@pytest.mark.parametrize("name", ["quickstart.ipynb", "your_own_data.ipynb"])
def test_colab_links_point_badge_and_clone_at_one_repository(name):
    links = _colab_links()
    text = (NOTEBOOKS / name).read_text()
    pointed = links.point(text, "someone/fork", "dev")
    nb = nbformat.reads(pointed, as_version=4)
    nbformat.validate(nb)
    assert COLAB.findall(nb.cells[0].source) == [("someone/fork", f"notebooks/{name}")]
    assert "/blob/dev/notebooks/" in nb.cells[0].source
    setup = next(c.source for c in nb.cells if c.cell_type == "code")
    assert 'REPO_URL = "https://github.com/someone/fork"' in setup
    assert 'REPO_BRANCH = "dev"' in setup
    compile(setup, name, "exec")
    # Only the two strings changed, and pointing again is a no-op.
    assert len(pointed.splitlines()) == len(text.splitlines())
    assert links.point(pointed, "someone/fork", "dev") == pointed
    assert links.targets(text) == {("OWNER/jaxssl", "main")}
