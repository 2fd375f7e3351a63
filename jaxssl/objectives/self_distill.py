"""Self-distillation pre-training (FinDNA; Neural Networks 2025, 106978; arXiv 2405.08538).

A student reads a masked, noised, possibly reverse-complemented view and predicts the masked
nucleotides; an EMA teacher (no gradient) reads another view of the same windows (shift,
small indels, on the student's strand); a DINO-style loss ties the student's pooled output,
standardised over the batch, to the teacher's centred, sharpened one through a projection
head. Labels and weights of the batch
are ignored, so any shard set (genome windows, or labeled sets with their labels unused) is
pre-training data. Every mask and augmentation is drawn inside the compiled step from
``fold_in(state.rng, state.step)``: fresh each step, identical after a resume.

Settings live in ``config.self_distill`` (see ``default_settings``); fine-tuning loads the
teacher's or the student's backbone (``config.self_distill.finetune_from``).

Selection ("best"): the masked-nucleotide loss of the network fine-tuning gets (the EMA
teacher's backbone and masked-nucleotide head by default, the student's with
``finetune_from=student``) on the validation split, with the masks and noise of one fixed key
(the trainer's "eval" key). It depends on those parameters only, so scores at different steps
compare; the training loss does not (its target, the teacher's output, and the centre move).
report.json names it ``masked_nucleotide_loss_teacher`` (or ``_student``).

``SelfDistill.VERSION`` (stored in each stage's record; a stage of another version is stale):
1 the first objective (6b77fcc); 2 pooled features standardised over the batch and both views
on one strand (9a46dc7: what it optimises); 3 best/ chosen by the fixed-mask validation
masked-nucleotide loss (9051d27: which checkpoint it keeps). A record without a version
counts as 1, so pre-training made before these fixes is retrained, not reused.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import nnx
from ml_collections import ConfigDict

from jaxssl.objectives import dino, views
from jaxssl.objectives.base import Batch
from jaxssl.optim import frozen_prefixes, learning_rate_schedule
from jaxssl.train_state import TrainState, merge_model, model_statistics, with_statistics

FINETUNE_FROM = ("teacher", "student")


def default_settings() -> ConfigDict:
    """Every ``config.self_distill.*`` key, with defaults sized for 100-200 bp windows."""
    s = ConfigDict()
    # Student view.
    s.mask_rate = 0.15  # share of real bases hidden (and scored)
    s.mask_token_fraction = 0.8  # of hidden bases: -> mask token
    s.random_token_fraction = 0.1  # of hidden bases: -> random base (the rest are kept)
    s.student_substitution_rate = 0.02
    s.student_reverse_complement = True
    # Teacher view.
    s.teacher_max_shift = 10
    s.teacher_indel_rate = 0.5  # share of windows with one insertion or deletion
    s.teacher_max_indel = 3
    s.teacher_reverse_complement = True  # its own strand; used when views_share_strand=False
    # Both views on one strand (the pair flipped together, when student_reverse_complement):
    # from independent strands a pooled summary must first become strand-invariant before a
    # window's two views can agree, and the contrastive term taught nothing in 200 steps.
    s.views_share_strand = True
    # Teacher and contrastive loss.
    s.teacher_momentum = 0.996  # EMA momentum at step 0, cosine to 1 at the last step
    s.center_momentum = 0.9
    s.student_temperature = 0.1
    s.teacher_temperature = 0.04
    # Standardise the pooled features over the batch before the projector (DINO's BatchNorm
    # head, use_bn_in_head, reduced to its input): see ``standardize_over_batch``.
    s.standardize_pooled = True
    s.projector_hidden = 256
    s.projector_bottleneck = 64
    s.num_prototypes = 512
    s.mlm_weight = 1.0
    s.contrastive_weight = 1.0
    # Which backbone fine-tuning (and the stage's best/ checkpoint) gets.
    s.finetune_from = "teacher"
    return s


def resolve_settings(config: ConfigDict) -> ConfigDict:
    """Defaults overridden by ``config.self_distill``; unknown keys and bad values refused."""
    settings = default_settings()
    given = config.get("self_distill") or {}
    for key, value in dict(given).items():
        if key not in settings:
            raise ValueError(
                f"config.self_distill.{key} is not a setting; known: {', '.join(sorted(settings))}"
            )
        settings[key] = value
    where = "config.self_distill"
    if not 0.0 < settings.mask_rate < 1.0:
        raise ValueError(f"{where}.mask_rate={settings.mask_rate} must be in (0, 1)")
    fractions = settings.mask_token_fraction + settings.random_token_fraction
    if min(settings.mask_token_fraction, settings.random_token_fraction) < 0 or fractions > 1:
        raise ValueError(
            f"{where}.mask_token_fraction + random_token_fraction = {fractions}: each must be "
            ">= 0 and their sum <= 1 (the rest of the hidden bases are kept)"
        )
    for key in ("teacher_momentum", "center_momentum"):
        if not 0.0 <= settings[key] <= 1.0:
            raise ValueError(f"{where}.{key}={settings[key]} must be in [0, 1]")
    for key in ("student_temperature", "teacher_temperature"):
        if settings[key] <= 0:
            raise ValueError(f"{where}.{key}={settings[key]} must be positive")
    if settings.mlm_weight < 0 or settings.contrastive_weight < 0:
        raise ValueError(f"{where}: mlm_weight and contrastive_weight must be >= 0")
    if settings.finetune_from not in FINETUNE_FROM:
        raise ValueError(
            f"{where}.finetune_from={settings.finetune_from!r}; expected one of {FINETUNE_FROM}"
        )
    return settings


def standardize_over_batch(
    x_BD: jax.Array, real_B: jax.Array | None = None, eps: float = 1e-5
) -> jax.Array:
    """Each feature minus its batch mean, over its batch standard deviation (real rows only).

    Pooled features of genome windows share a large common part (max and mean over ~200
    positions of similar sequence): at initialisation its norm is ~6x the spread between
    windows. Through the projector every window then lands near one point, centring removes
    that point, and the teacher's target is ~uniform (loss ln K) before the student has
    anything to match. Standardising keeps only what tells windows apart. Statistics are of
    the global batch (a mean over the sharded axis under jit) and carry a gradient, as in
    BatchNorm.
    """
    x_BD = x_BD.astype(jnp.float32)
    w_B1 = jnp.ones((x_BD.shape[0], 1)) if real_B is None else real_B[:, None].astype(jnp.float32)
    n = jnp.maximum(jnp.sum(w_B1), 1.0)
    mean_D = jnp.sum(w_B1 * x_BD, axis=0) / n
    var_D = jnp.sum(w_B1 * jnp.square(x_BD - mean_D[None, :]), axis=0) / n
    return (x_BD - mean_D[None, :]) * jax.lax.rsqrt(var_D + eps)[None, :]


def step_keys(rng: jax.Array, step: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(view key, dropout key) of one step: new every step, the same after a resume."""
    view_key, dropout_key = jax.random.split(jax.random.fold_in(rng, step))
    return view_key, dropout_key


@cache
def _head_graphdefs(
    seq_dim: int, pooled_dim: int, hidden: int, bottleneck: int, prototypes: int
) -> tuple[nnx.GraphDef, nnx.GraphDef]:
    """Graph definitions of the two heads, from their sizes alone (no parameters built)."""

    def build():
        rngs = nnx.Rngs(0)
        mlm = nnx.Linear(seq_dim, 4, rngs=rngs)
        projector = dino.ProjectionHead(
            pooled_dim,
            hidden=hidden,
            bottleneck=bottleneck,
            num_prototypes=prototypes,
            rngs=rngs,
        )
        return mlm, projector

    mlm, projector = nnx.eval_shape(build)
    return nnx.split(mlm)[0], nnx.split(projector)[0]


class SelfDistill:
    """Masked-nucleotide + DINO self-distillation; params = {model, mlm_head, projector}."""

    name = "self_distill"
    VERSION = 3  # see the module docstring: bump when the loss or the selection changes
    uses_labels = False
    eval_loss_name = "masked_nucleotide_loss_teacher"  # set per stage in __init__

    def __init__(
        self,
        config: ConfigDict,
        graphdef: nnx.GraphDef,
        rest: nnx.State,
        tx: optax.GradientTransformation,
    ):
        self.s = resolve_settings(config)
        self.graphdef, self.rest, self.tx = graphdef, rest, tx
        self.total_steps = int(config.train.steps)
        self.schedule = learning_rate_schedule(config.train)
        self.frozen = frozen_prefixes(config.train)  # frozen layers keep their statistics too
        self.eval_loss_name = f"masked_nucleotide_loss_{self.s.finetune_from}"

    # ---- parameters and state -------------------------------------------------------------

    def init_params(self, model_params: dict[str, Any], key: jax.Array) -> dict[str, Any]:
        model = merge_model(self.graphdef, model_params, self.rest)
        rngs = nnx.Rngs(key)
        mlm = nnx.Linear(model.seq_feature_dim, 4, rngs=rngs)
        projector = dino.ProjectionHead(
            model.feature_dim,
            hidden=int(self.s.projector_hidden),
            bottleneck=int(self.s.projector_bottleneck),
            num_prototypes=int(self.s.num_prototypes),
            rngs=rngs,
        )
        return {
            "model": model_params,
            "mlm_head": nnx.to_pure_dict(nnx.state(mlm)),
            "projector": nnx.to_pure_dict(nnx.state(projector)),
        }

    def init_extra(self, params: dict[str, Any]) -> dict[str, Any]:
        # Real copies: the state is donated, and two leaves sharing one buffer cannot be.
        return {
            "teacher": jax.tree.map(jnp.copy, params),
            "center": jnp.zeros((int(self.s.num_prototypes),), jnp.float32),
        }

    def eval_params(self, state: TrainState) -> dict[str, Any]:
        if self.s.finetune_from == "teacher":
            return state.extra["teacher"]["model"]
        return state.params["model"]

    # ---- forward pieces --------------------------------------------------------------------

    def _heads(self, params: dict[str, Any]) -> tuple[nnx.Module, nnx.Module]:
        seq_dim = params["mlm_head"]["kernel"].shape[0]
        pooled_dim = params["projector"]["fc1"]["kernel"].shape[0]
        mlm_def, projector_def = _head_graphdefs(
            int(seq_dim),
            int(pooled_dim),
            int(self.s.projector_hidden),
            int(self.s.projector_bottleneck),
            int(self.s.num_prototypes),
        )
        mlm = nnx.merge(mlm_def, nnx.State(params["mlm_head"]))
        projector = nnx.merge(projector_def, nnx.State(params["projector"]))
        return mlm, projector

    def make_views(
        self, key: jax.Array, tokens_BL: jax.Array
    ) -> tuple[views.StudentView, jax.Array]:
        """(student view, teacher view tokens) of the batch, drawn from ``key``."""
        s = self.s
        student_key, teacher_key, strand_key = jax.random.split(key, 3)
        flip_B = None
        if s.views_share_strand and s.student_reverse_complement:
            flip_B = views.strand_flips(strand_key, tokens_BL.shape[0])
        student = views.student_view(
            student_key,
            tokens_BL,
            mask_rate=float(s.mask_rate),
            mask_fraction=float(s.mask_token_fraction),
            random_fraction=float(s.random_token_fraction),
            substitution_rate=float(s.student_substitution_rate),
            reverse_complement=bool(s.student_reverse_complement),
            flip_B=flip_B,
        )
        teacher_BL = views.teacher_view(
            teacher_key,
            tokens_BL,
            max_shift=int(s.teacher_max_shift),
            indel_rate=float(s.teacher_indel_rate),
            max_indel=int(s.teacher_max_indel),
            reverse_complement=bool(s.teacher_reverse_complement) and not s.views_share_strand,
            flip_B=flip_B,
        )
        return student, teacher_BL

    def projector_input(self, pooled_BD: jax.Array, real_B: jax.Array | None) -> jax.Array:
        if self.s.standardize_pooled:
            return standardize_over_batch(pooled_BD, real_B)
        return pooled_BD

    def teacher_logits(
        self, teacher: dict[str, Any], tokens_BL: jax.Array, real_B: jax.Array | None = None
    ) -> jax.Array:
        """Projection logits [B, K] of the EMA teacher (dropout off, no gradient)."""
        model = merge_model(self.graphdef, teacher["model"], self.rest)
        _, pooled_BD = model.features(tokens_BL, deterministic=True)
        _, projector = self._heads(teacher)
        return jax.lax.stop_gradient(projector(self.projector_input(pooled_BD, real_B)))

    def losses(
        self,
        params: dict[str, Any],
        student: views.StudentView,
        teacher_logits_BK: jax.Array,
        center_K: jax.Array,
        *,
        deterministic: bool,
        dropout_key: jax.Array | None,
        real_B: jax.Array | None = None,
    ) -> dict[str, jax.Array]:
        """The student's losses against fixed teacher outputs (per row and batch means)."""
        model = merge_model(self.graphdef, params["model"], self.rest)
        rngs = None if deterministic else nnx.Rngs(dropout=dropout_key)
        seq_BLD, pooled_BD = model.features(
            student.inputs_BL, deterministic=deterministic, rngs=rngs
        )
        mlm, projector = self._heads(params)
        logits_BL4 = mlm(seq_BLD.astype(jnp.float32))
        mlm_loss, n_masked, mlm_sum_B = views.masked_nucleotide_loss(
            logits_BL4, student.targets_BL, student.masked_BL
        )
        student_logits_BK = projector(self.projector_input(pooled_BD, real_B))
        contrastive_B = dino.distillation_cross_entropy(
            student_logits_BK,
            teacher_logits_BK,
            center_K,
            student_temperature=float(self.s.student_temperature),
            teacher_temperature=float(self.s.teacher_temperature),
        )
        w_mlm, w_con = float(self.s.mlm_weight), float(self.s.contrastive_weight)
        correct_BL = jnp.argmax(logits_BL4, axis=-1) == student.targets_BL
        n_masked_B = jnp.sum(student.masked_BL, axis=-1)
        return {
            "loss": w_mlm * mlm_loss + w_con * jnp.mean(contrastive_B),
            "mlm_loss": mlm_loss,
            "contrastive_loss": jnp.mean(contrastive_B),
            "mlm_accuracy": jnp.sum(correct_BL & student.masked_BL) / jnp.maximum(n_masked, 1),
            "masked_fraction": n_masked / student.masked_BL.size,
            # Beside teacher_entropy: a sharpened teacher sits below the student it teaches.
            "student_entropy": dino.entropy(
                student_logits_BK,
                jnp.zeros(student_logits_BK.shape[-1:]),
                float(self.s.student_temperature),
            ),
            # Validation uses per-row losses: each row's mean over its own masked bases.
            "loss_B": w_mlm * mlm_sum_B / jnp.maximum(n_masked_B, 1) + w_con * contrastive_B,
            # BatchNorm statistics after this forward pass (updated by the student's batch
            # in training; empty without BatchNorm).
            "statistics": model_statistics(model),
        }

    # ---- the objective contract ------------------------------------------------------------

    def train_step(self, state: TrainState, batch: Batch) -> tuple[TrainState, dict]:
        view_key, dropout_key = step_keys(state.rng, state.step)
        student, teacher_BL = self.make_views(view_key, batch["tokens"])
        teacher = state.extra["teacher"]
        center_K = state.extra["center"]
        teacher_logits_BK = self.teacher_logits(teacher, teacher_BL)

        def loss_fn(params):
            out = self.losses(
                params,
                student,
                teacher_logits_BK,
                center_K,
                deterministic=False,
                dropout_key=dropout_key,
            )
            return out["loss"], out

        (loss, out), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
        updates, opt_state = self.tx.update(grads, state.opt_state, state.params)
        # The student's BatchNorm statistics are what its view measured (the optimizer leaves
        # them alone); the EMA teacher's follow them by the same average as its weights.
        params = with_statistics(
            optax.apply_updates(state.params, updates), {"model": out["statistics"]}, self.frozen
        )
        momentum = dino.cosine_momentum(
            state.step, self.total_steps, float(self.s.teacher_momentum)
        )
        extra = {
            "teacher": dino.ema_update(teacher, params, momentum),
            "center": dino.update_center(
                center_K, teacher_logits_BK, float(self.s.center_momentum)
            ),
        }
        metrics = {
            "training_loss": loss,
            "mlm_loss": out["mlm_loss"],
            "contrastive_loss": out["contrastive_loss"],
            "mlm_accuracy": out["mlm_accuracy"],
            "masked_fraction": out["masked_fraction"],
            "student_entropy": out["student_entropy"],
            "teacher_entropy": dino.entropy(
                teacher_logits_BK, center_K, float(self.s.teacher_temperature)
            ),
            "momentum": momentum,
            "l2_grads": optax.tree.norm(grads),
            "l2_params": optax.tree.norm(params),
            "learning_rate": self.schedule(state.step),
        }
        new_state = state.replace(step=state.step + 1, params=params, opt_state=opt_state)
        return new_state.replace(extra=extra), metrics

    def eval_loss(self, state: TrainState, batch: Batch, key: jax.Array) -> tuple[jax.Array, ...]:
        """(sum over real rows of each row's masked-nucleotide loss, number of real rows).

        The selection score (module docstring): the network fine-tuning gets (teacher or
        student, ``finetune_from``) predicts the bases the fixed-key student view hides,
        dropout off; no teacher target and no centre enter, so the value depends only on those
        parameters and the key (the same at every evaluation): comparable across steps.
        """
        student, _ = self.make_views(key, batch["tokens"])
        real_B = batch["mask"] if "mask" in batch else jnp.ones(batch["tokens"].shape[:1], bool)
        params = state.extra["teacher"] if self.s.finetune_from == "teacher" else state.params
        model = merge_model(self.graphdef, params["model"], self.rest)
        seq_BLD, _ = model.features(student.inputs_BL, deterministic=True)
        mlm, _ = self._heads(params)
        logits_BL4 = mlm(seq_BLD.astype(jnp.float32))
        _, _, mlm_sum_B = views.masked_nucleotide_loss(
            logits_BL4, student.targets_BL, student.masked_BL
        )
        per_row_B = mlm_sum_B / jnp.maximum(jnp.sum(student.masked_BL, axis=-1), 1)
        return jnp.sum(jnp.where(real_B, per_row_B, 0.0)), jnp.sum(real_B)
