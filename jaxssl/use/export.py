"""`export`: a trained model's predict function as one portable StableHLO file (`jax.export`).

Users who deploy a model should not need jaxssl's model classes, Flax or an Orbax checkpoint
at the other end, so the parameters are closed over (constants in the serialized module) and
the function takes only uint8 tokens [B, seq_len] with a symbolic batch dimension ``B``. It is
the same function `predict` jits (`jaxssl.predict.make_predict_fn`: strand-averaged unless
told otherwise; a seed ensemble's mean), so its numbers are the CLI's. The loader lives in
`jaxssl.use.exported` and needs only jax and numpy.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import jax
import jax.numpy as jnp

from jaxssl.optional import require
from jaxssl.predict import make_predict_fn
from jaxssl.use.exported import FORMAT, sidecar_path
from jaxssl.use.model import LoadedModel
from jaxssl.use.output import atomic_path, atomic_text

PLATFORMS = ("cpu", "cuda", "tpu")


def export_model(
    model: LoadedModel,
    *,
    rc_average: bool = True,
    platforms: Sequence[str] | None = None,
) -> jax.export.Exported:
    """The `jax.export.Exported` of tokens [B, L] -> probabilities [B, T] with params baked in.

    ``platforms`` (default: the current backend) are the backends the file may run on; more
    than one lowers the function once per platform into the same file.
    """
    for p in platforms or ():
        if p not in PLATFORMS:
            raise ValueError(f"unknown export platform {p!r}; choose from {', '.join(PLATFORMS)}")
    predict = make_predict_fn(
        model.graphdef, model.rest, loss_type=model.loss, rc_average=rc_average
    )
    members = [jax.tree.map(jnp.asarray, p) for p in model.params]

    def probabilities(tokens_BL: jax.Array) -> jax.Array:
        total = predict(members[0], tokens_BL)
        for params in members[1:]:
            total = total + predict(params, tokens_BL)
        return total / len(members)

    (batch,) = jax.export.symbolic_shape("B", constraints=("B >= 1",))
    spec = jax.ShapeDtypeStruct((batch, model.seq_len), jnp.uint8)
    return jax.export.export(jax.jit(probabilities), platforms=platforms)(spec)


def metadata(model: LoadedModel, exported: jax.export.Exported, *, rc_average: bool) -> dict:
    """The sidecar: what the output columns mean and how the file was made."""
    return {
        "format": FORMAT,
        "task_names": model.output_names,
        "seq_len": model.seq_len,
        "loss": model.loss,
        "rc_average": rc_average,
        "alphabet": "ACGTN",
        "input": "uint8 tokens [B, seq_len], A=0 C=1 G=2 T=3 N=4; B symbolic (any batch size)",
        "output": "float32 probabilities [B, len(task_names)]",
        "ensemble_members": len(model.params),
        "model": model.spec["name"],
        "stage_dirs": [str(d) for d in model.stage_dirs],
        "platforms": list(exported.platforms),
        "jax_version": jax.__version__,
        "calling_convention_version": exported.calling_convention_version,
    }


def write_export(
    model: LoadedModel,
    out: str | Path,
    *,
    rc_average: bool = True,
    platforms: Sequence[str] | None = None,
) -> tuple[Path, Path]:
    """Writes ``out`` (serialized StableHLO) and ``out.json`` (sidecar), each atomically."""
    out = Path(out)
    require("flatbuffers", "jaxssl export (jax.export serialization)", extra="use")
    exported = export_model(model, rc_average=rc_average, platforms=platforms)
    blob = exported.serialize()
    with atomic_path(out) as tmp:
        tmp.write_bytes(bytes(blob))
    meta_path = sidecar_path(out)
    with atomic_text(meta_path) as f:
        json.dump(metadata(model, exported, rc_average=rc_average), f, indent=2)
        f.write("\n")
    return out, meta_path
