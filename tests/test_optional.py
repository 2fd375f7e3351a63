"""Optional dependencies fail with a message that says what to install (one line in the CLI)."""

from __future__ import annotations

import sys

import pytest

from data_prep.__main__ import main as data_prep
from jaxssl.optional import MissingDependencyError, require
from tests.synthetic import make_motif_shards


def test_require_names_the_need_and_the_install():
    with pytest.raises(MissingDependencyError, match=r"minimap2 needs mappy.*\[homology\]"):
        require("no_such_mappy", "minimap2", extra="homology", package="mappy")
    assert issubclass(MissingDependencyError, ImportError)
    assert issubclass(MissingDependencyError, ValueError)  # one line from the CLIs
    assert require("json", "x", extra="y").dumps([]) == "[]"


def test_require_shows_a_broken_package_as_it_is(tmp_path, monkeypatch):
    (tmp_path / "half_installed.py").write_text("import no_such_dependency_of_it\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModuleNotFoundError, match="no_such_dependency_of_it") as err:
        require("half_installed", "x", extra="y")
    assert not isinstance(err.value, MissingDependencyError)


def test_parquet_without_pyarrow_is_one_line(tmp_path, monkeypatch, capsys):
    shard_dir = make_motif_shards(tmp_path / "motif", n_train=8, n_eval=4)
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # as if not installed
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    assert data_prep(["inspect", str(shard_dir), "--to", str(tmp_path / "x.parquet")]) == 2
    err = capsys.readouterr().err
    assert "Parquet export needs pyarrow" in err and 'pip install -e ".[tables]"' in err
    assert len(err.strip().splitlines()) == 1
