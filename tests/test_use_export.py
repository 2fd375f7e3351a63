"""`python -m jaxssl export`: the file alone, in a fresh process, gives the model's numbers."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from jaxssl.__main__ import main
from jaxssl.use.exported import load, sidecar_path
from jaxssl.use.model import Predictor, load_model
from tests.use_model import trained_run

pytest.importorskip("flatbuffers")  # jax.export serialization

REPO = Path(__file__).resolve().parents[1]

# Runs in a new interpreter: imports jax, numpy and the loader, nothing else of jaxssl.
FRESH = textwrap.dedent(
    """
    import sys
    import numpy as np
    from jaxssl.use.exported import load

    model = load(sys.argv[1])
    tokens = np.load(sys.argv[2])
    for name in ("flax", "orbax", "jaxssl.models", "jaxssl.predict", "jaxssl.use.model"):
        assert name not in sys.modules, f"the loader imported {name}"
    np.save(sys.argv[3], model(tokens))
    np.save(sys.argv[4], model(tokens[:1]))
    print(",".join(model.task_names), model.seq_len, model.loss)
    """
)


@pytest.fixture(scope="module")
def run() -> Path:
    return trained_run()[1]


def _tokens(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 5, (n, 40)).astype(np.uint8)  # N included


def test_export_reloads_in_a_fresh_process_with_the_models_probabilities(run, tmp_path):
    out = tmp_path / "model.jaxexport"
    assert main(["export", "--model", str(run), "--out", str(out)]) == 0
    meta = json.loads(sidecar_path(out).read_text())
    assert meta["task_names"] == ["ap1", "ebox"] and meta["seq_len"] == 40
    assert meta["loss"] == "binary" and meta["rc_average"] is True

    tokens = _tokens(13)
    np.save(tmp_path / "tokens.npy", tokens)
    env = {**os.environ, "PYTHONPATH": str(REPO), "JAX_PLATFORMS": "cpu"}
    paths = [str(tmp_path / f) for f in ("tokens.npy", "p13.npy", "p1.npy")]
    done = subprocess.run(
        [sys.executable, "-c", FRESH, str(out), *paths],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["ap1,ebox", "40", "binary"]

    expected = Predictor(load_model(run), batch_size=16, progress=False)(tokens)
    np.testing.assert_allclose(np.load(tmp_path / "p13.npy"), expected, atol=1e-5)
    np.testing.assert_allclose(np.load(tmp_path / "p1.npy"), expected[:1], atol=1e-5)


def test_forward_only_and_seed_ensemble_exports(run, tmp_path):
    seeds = tmp_path / "seeds"
    for s in (0, 1):
        shutil.copytree(run, seeds / f"seed_{s}", symlinks=True)
    tokens = _tokens(6, seed=1)
    out = tmp_path / "fwd.jaxexport"
    assert main(["export", "--model", str(run), "--no-rc-average", "--out", str(out)]) == 0
    fwd = Predictor(load_model(run), rc_average=False, batch_size=8, progress=False)(tokens)
    np.testing.assert_allclose(load(out)(tokens), fwd, atol=1e-5)

    out = tmp_path / "ens.jaxexport"
    assert main(["export", "--model", str(seeds), "--out", str(out)]) == 0
    assert json.loads(sidecar_path(out).read_text())["ensemble_members"] == 2
    ens = Predictor(load_model(seeds), batch_size=8, progress=False)(tokens)
    model = load(out)
    np.testing.assert_allclose(model(tokens), ens, atol=1e-5)
    assert model(np.zeros((0, 40), np.uint8)).shape == (0, 2)


def test_loader_encodes_and_refuses_wrong_input(run, tmp_path, capsys):
    out = tmp_path / "m.jaxexport"
    assert main(["export", "--model", str(run), "--out", str(out)]) == 0
    model = load(out)
    seq = "ACGTN" * 8
    assert model.encode([seq, seq.lower().replace("n", "r")]).tolist() == [[0, 1, 2, 3, 4] * 8] * 2
    with pytest.raises(ValueError, match="length 39; this model reads 40 bp"):
        model.encode([seq[:-1]])
    with pytest.raises(ValueError, match=r"expected tokens \[B, 40\]"):
        model(np.zeros((2, 41), np.uint8))
    sidecar_path(out).unlink()
    with pytest.raises(FileNotFoundError, match="metadata is missing"):
        load(out)
    bad = ["export", "--model", str(run), "--platforms", "cpu,gpu", "--out", str(out)]
    assert main(bad) == 2
    assert "unknown export platform 'gpu'" in capsys.readouterr().err
