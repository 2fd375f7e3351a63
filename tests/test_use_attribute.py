"""`python -m jaxssl attribute`: ISM equals brute force; gradients are the model's own."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxssl.__main__ import main
from jaxssl.augment import one_hot
from jaxssl.tokens import N, decode
from jaxssl.use import attribution
from jaxssl.use.model import Predictor, load_model
from tests.use_model import trained_run


@pytest.fixture(scope="module")
def predictor() -> Predictor:
    _, run_dir = trained_run()
    return Predictor(load_model(run_dir), batch_size=64, progress=False)


def test_substitutions_are_every_other_base():
    tokens = np.array([0, 3, N], np.uint8)
    mutants, pos, base = attribution.substitutions(tokens)
    assert len(mutants) == 3 + 3 + 4  # 3 per called base, 4 at an N
    for m, i, b in zip(mutants, pos, base, strict=True):
        assert m[i] == b != tokens[i] and (np.delete(m, i) == np.delete(tokens, i)).all()


def test_ism_equals_brute_force_single_mutations(predictor):
    rng = np.random.default_rng(3)
    tokens = rng.integers(0, 4, (2, 40)).astype(np.uint8)
    tokens[1, 5] = N
    ism = attribution.ism(predictor, tokens, progress=False)
    assert ism.shape == (2, 40, 4, 2)
    for w in range(2):
        base_p = predictor(tokens[w : w + 1])[0]
        for i in (0, 5, 17, 39):
            for b in range(4):
                if b == tokens[w, i]:
                    assert (ism[w, i, b] == 0).all()
                    continue
                mutant = tokens[w].copy()
                mutant[i] = b
                brute = predictor(mutant[None])[0] - base_p
                np.testing.assert_allclose(ism[w, i, b], brute, atol=2e-6)


def test_gradients_are_those_of_the_models_logits(predictor):
    tokens = np.random.default_rng(4).integers(0, 4, (3, 40)).astype(np.uint8)
    grads, gxi = attribution.gradient_x_input(predictor, tokens, batch_size=4)
    logits = attribution.make_onehot_logits_fn(predictor)
    params = predictor.model.params[0]
    x = np.asarray(one_hot(jnp.asarray(tokens), jnp.float32))
    direction = np.random.default_rng(5).normal(size=x.shape).astype(np.float32)
    # Directional derivative by forward mode (exact, unlike finite differences across ReLU
    # and max-pool kinks) against the stored reverse-mode gradients.
    _, jvp = jax.jvp(lambda v: logits(params, v), (jnp.asarray(x),), (jnp.asarray(direction),))
    analytic = np.einsum("blct,blc->bt", grads, direction)
    np.testing.assert_allclose(analytic, np.asarray(jvp), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(gxi, np.einsum("blct,blc->blt", grads, x), atol=1e-6)
    # The one-hot path is the same model: its strand-averaged logits give the probabilities
    # of the token path when one strand is used.
    single = Predictor(predictor.model, rc_average=False, progress=False)
    forward = attribution.make_onehot_logits_fn(single)(params, jnp.asarray(x))
    np.testing.assert_allclose(1 / (1 + np.exp(-np.asarray(forward))), single(tokens), atol=1e-6)


def test_cli_writes_npz_and_logos(tmp_path):
    _, run_dir = trained_run()
    fasta = tmp_path / "x.fa"
    seqs = [decode(np.random.default_rng(i).integers(0, 4, 40)) for i in range(2)]
    fasta.write_text("".join(f">s{i}\n{s}\n" for i, s in enumerate(seqs)))
    out = tmp_path / "attr"
    argv = ["attribute", "--model", str(run_dir), "--fasta", str(fasta), "--no-progress"]
    assert main([*argv, "--logos", "1", "--out", str(out)]) == 0
    saved = np.load(out / "attributions.npz")
    assert saved["ism"].shape == (2, 40, 4, 2) and saved["grad_x_input"].shape == (2, 40, 2)
    assert list(saved["names"]) == ["s0", "s1"]
    logos = sorted(p.name for p in out.glob("*.png"))
    assert logos == ["logo_0000_s0_ap1.png", "logo_0000_s0_ebox.png"]
    assert all((out / name).stat().st_size > 1000 for name in logos)
