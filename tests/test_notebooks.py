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
