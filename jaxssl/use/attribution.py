"""`attribute`: which bases of a window drive each prediction.

Two views, both strand-averaged like the predictions themselves:

- **In-silico saturation mutagenesis (ISM)**: every single substitution of a window (3·L
  mutants; 4 at an N position) scored in fixed batches through the same jitted predictor as
  `predict`: ``ism[n, i, b, t] = p_t(window with base b at i) - p_t(window)`` (0 at the
  window's own base). Exact, model-agnostic, and what a variant effect would be.
- **Gradient x input**: the gradient of each output's logit with respect to the one-hot
  input, times the input (the one-hot row of the window's base), per position. One backward
  pass per task instead of 3·L forward passes; a local, linear view.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from jaxssl.augment import one_hot, rc_average
from jaxssl.tokens import NUM_BASES, decode
from jaxssl.train_state import merge_model
from jaxssl.use.model import Predictor
from jaxssl.use.output import atomic_path


def substitutions(tokens_L: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mutants uint8[M, L], position int[M], base int[M]): every base b != tokens_L[i]."""
    length = len(tokens_L)
    pos_L4, base_L4 = np.meshgrid(np.arange(length), np.arange(NUM_BASES), indexing="ij")
    keep = base_L4 != tokens_L[:, None]
    pos, base = pos_L4[keep], base_L4[keep]
    mutants = np.repeat(tokens_L[None], len(pos), axis=0)
    mutants[np.arange(len(pos)), pos] = base
    return mutants, pos, base


def ism(predictor: Predictor, tokens_NL: np.ndarray, *, progress: bool = True) -> np.ndarray:
    """float32 [N, L, 4, T]: p(mutant) - p(window) for every single substitution."""
    n, length = tokens_NL.shape
    out = np.zeros((n, length, NUM_BASES, predictor.model.num_outputs), np.float32)
    reference = predictor(tokens_NL, desc="reference")
    for w in tqdm(range(n), desc="ISM", unit="window", disable=not progress or n < 2):
        mutants, pos, base = substitutions(tokens_NL[w])
        probs = predictor(mutants, desc=f"ISM window {w}")
        out[w, pos, base] = probs - reference[w]
    return out


def make_onehot_logits_fn(predictor: Predictor):
    """(params, x_BL4 float32) -> logits [B, T], mean of the strand and its reverse complement.

    The strand average is ``augment.rc_average`` on one-hot input (reversed positions and
    channels: ``tokens.reverse_complement_one_hot``). Uses the model's `_features` on one-hot
    input, the hook `SequenceModel` subclasses implement behind token input.
    """
    model_def = predictor.model

    def logits(params: dict[str, Any], x_BL4: jax.Array) -> jax.Array:
        model = merge_model(model_def.graphdef, params, model_def.rest)

        def forward(x: jax.Array) -> jax.Array:
            _, pooled_BD = model._features(x.astype(model.dtype), deterministic=True, rngs=None)
            return model.head(pooled_BD).astype(jnp.float32)

        if not predictor.rc_average:
            return forward(x_BL4)
        return rc_average(forward, x_BL4, one_hot=True)

    return logits


def gradient_x_input(
    predictor: Predictor, tokens_NL: np.ndarray, *, batch_size: int = 64
) -> tuple[np.ndarray, np.ndarray]:
    """(gradients float32[N, L, 4, T], gradient x input float32[N, L, T]) of the logits,
    averaged over the ensemble's members."""
    logits = make_onehot_logits_fn(predictor)

    @jax.jit
    def grads(params: dict[str, Any], tokens_BL: jax.Array) -> jax.Array:
        x_BL4 = one_hot(tokens_BL, jnp.float32)
        jac_TBL4 = jax.jacrev(lambda x: logits(params, x).sum(axis=0))(x_BL4)
        return jnp.moveaxis(jac_TBL4, 0, -1)  # [B, L, 4, T]

    n = len(tokens_NL)
    out = np.zeros((n, tokens_NL.shape[1], NUM_BASES, predictor.model.num_outputs), np.float32)
    for params in predictor.model.params:
        for lo in range(0, n, batch_size):
            chunk = tokens_NL[lo : lo + batch_size]
            real = len(chunk)
            if real < batch_size:
                pad = np.full((batch_size - real, chunk.shape[1]), NUM_BASES, np.uint8)
                chunk = np.concatenate([chunk, pad])
            out[lo : lo + real] += np.asarray(grads(params, chunk))[:real]
    out /= len(predictor.model.params)
    x_NL4 = np.eye(NUM_BASES + 1, NUM_BASES, dtype=np.float32)[tokens_NL]
    return out, np.einsum("nlbt,nlb->nlt", out, x_NL4)


@dataclass
class Attributions:
    names: list[str]
    tokens_NL: np.ndarray
    ism_NL4T: np.ndarray
    grad_NL4T: np.ndarray
    grad_x_input_NLT: np.ndarray
    output_names: list[str]


def attribute(predictor: Predictor, tokens_NL: np.ndarray, *, names: list[str]) -> Attributions:
    ism_values = ism(predictor, tokens_NL, progress=predictor.progress)
    grad, gxi = gradient_x_input(predictor, tokens_NL)
    return Attributions(
        list(names), tokens_NL, ism_values, grad, gxi, list(predictor.model.output_names)
    )


def ism_importance(ism_L4: np.ndarray, tokens_L: np.ndarray) -> np.ndarray:
    """[L]: minus the mean effect of the substitutions of each base (3; 4 at an N): high =
    the base matters for the prediction, the usual one-number summary of an ISM map."""
    called_L = tokens_L < NUM_BASES
    return -ism_L4.sum(axis=1) / np.where(called_L, 3, 4)


def save(result: Attributions, out_dir: str | Path, *, logos: int = 10) -> list[Path]:
    """attributions.npz (names, tokens, ism, gradients, grad_x_input, outputs) and PNG logos."""
    from jaxssl.use.logos import draw_logo

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / "attributions.npz"
    with atomic_path(target, suffix=".npz") as tmp:
        np.savez_compressed(
            tmp,
            names=np.asarray(result.names),
            tokens=result.tokens_NL,
            ism=result.ism_NL4T,
            gradients=result.grad_NL4T,
            grad_x_input=result.grad_x_input_NLT,
            outputs=np.asarray(result.output_names),
        )
    written = [target]
    for w in range(min(logos, len(result.names))):
        tokens = result.tokens_NL[w]
        for t, output in enumerate(result.output_names):
            path = out_dir / f"logo_{w:04d}_{_safe(result.names[w])}_{_safe(output)}.png"
            draw_logo(
                path,
                decode(tokens),
                ism_importance(result.ism_NL4T[w, :, :, t], tokens),
                result.grad_x_input_NLT[w, :, t],
                title=f"{result.names[w]}: {output}",
            )
            written.append(path)
    return written


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:60]
