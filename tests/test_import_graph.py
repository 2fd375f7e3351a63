"""Imports run one way, and each idea has one definition behind one written-down interface.

Small shared pieces (errors, tokens, losses, config) sit at the bottom; the trainer and the
CLIs at the top. A function-local import counts like any other: one that closes a circle is a
circle, so the graph below is read from every import statement, wherever it stands.
"""

from __future__ import annotations

import ast
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jaxssl.config import base_config
from jaxssl.losses import compute_loss, loss_sums
from jaxssl.models import build_model
from jaxssl.objectives import available_objectives, get_objective
from jaxssl.objectives.base import Objective
from jaxssl.optim import make_optimizer
from jaxssl.train_state import TrainState, split_model
from tests.conftest import REPO_ROOT

PACKAGE = REPO_ROOT / "jaxssl"


def _module_name(path) -> str:
    parts = path.relative_to(REPO_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(tree: ast.AST) -> list[tuple[str, list[str]]]:
    """(module, imported names) of every import statement outside `if TYPE_CHECKING:`."""
    found = []

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            if isinstance(child, ast.Import):
                found.extend((alias.name, []) for alias in child.names)
            elif isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
                found.append((child.module, [alias.name for alias in child.names]))
            visit(child)

    visit(tree)
    return found


def _graph() -> dict[str, set[str]]:
    files = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        edges = set()
        for module, names in _imports(ast.parse(path.read_text())):
            if not module.startswith("jaxssl"):
                continue
            targets = [f"{module}.{n}" for n in names if f"{module}.{n}" in files] or [module]
            for target in targets:
                # A module's own package runs first (models/__init__ registering its models
                # imports models.layers): that order is the package pattern, not a circle.
                if target in files and not name.startswith(target + ".") and target != name:
                    edges.add(target)
        graph[name] = edges
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return out


def test_imports_run_one_way():
    assert _cycles(_graph()) == []


def test_the_library_never_imports_its_cli():
    offenders = [
        f"{_module_name(path)} imports {module}"
        for path in PACKAGE.rglob("*.py")
        for module, _ in _imports(ast.parse(path.read_text()))
        if module.split(".")[0] == "data_prep"
    ]
    assert offenders == []


def test_config_loads_no_trainer_teacher_or_data_writer():
    code = (
        "import sys, jaxssl.config; "
        "print(' '.join(m for m in sys.modules if m.startswith('jaxssl')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, check=True
    )
    loaded = set(out.stdout.split())
    assert "jaxssl.config" in loaded
    higher = {
        "jaxssl.train",
        "jaxssl.stage_plan",
        "jaxssl.stage_checks",
        "jaxssl.stages",
        "jaxssl.teacher",
        "jaxssl.datasets",
        "jaxssl.data.writer",
        "jaxssl.evaluate",
        "jaxssl.objectives",
        "jaxssl.toy_data",
    }
    assert loaded & higher == set()


def test_every_objective_implements_the_whole_interface():
    methods = {n for n, v in vars(Objective).items() if callable(v) and not n.startswith("_")}
    assert {"init_params", "init_extra", "train_step", "eval_params", "eval_loss"} <= methods
    for name in available_objectives():
        cls = get_objective(name)
        missing = {m for m in {"name", "uses_labels", *methods} if not hasattr(cls, m)}
        assert not missing, f"objective {name!r} lacks {sorted(missing)}"
        assert cls.name == name and isinstance(cls.uses_labels, bool)


def test_supervised_eval_loss_is_the_clean_batch_loss():
    config = base_config()
    model = build_model("deepbind", num_outputs=2, seq_len=50, rngs=nnx.Rngs(0))
    graphdef, params, rest = split_model(model)
    tx = make_optimizer(config.train)
    objective = get_objective("supervised")(config, graphdef, rest, tx)
    key = jax.random.PRNGKey(0)
    assert objective.init_params(params, key) is params
    state = TrainState.create(params, tx, key, objective.init_extra(params))
    rng = np.random.default_rng(1)
    batch = {
        "tokens": jnp.asarray(rng.integers(0, 4, (8, 50)), jnp.uint8),
        "labels": jnp.asarray(rng.integers(0, 2, (8, 2)), jnp.float32),
        "weights": jnp.ones((8, 2), jnp.float32),
    }
    total, weight = jax.jit(objective.eval_loss)(state, batch, key)
    expected, _ = compute_loss("binary", model(batch["tokens"]), batch["labels"], batch["weights"])
    assert float(weight) == 16.0
    assert np.isclose(float(total) / float(weight), float(expected), rtol=1e-5)


def test_loss_sums_add_up_to_the_batch_loss_and_ignore_padding():
    rng = np.random.default_rng(0)
    logits = jnp.asarray(rng.normal(size=(6, 3)), jnp.float32)
    labels = jnp.asarray(rng.integers(0, 2, (6, 3)), jnp.float32).at[1, 2].set(jnp.nan)
    weights = jnp.asarray(rng.uniform(0.2, 1.0, (6, 3)), jnp.float32)
    whole, _ = compute_loss("binary", logits, labels, weights)
    parts = [
        loss_sums("binary", logits[s], labels[s], weights[s]) for s in (slice(0, 4), slice(4, 6))
    ]
    total = sum(float(t) for t, _ in parts) / sum(float(w) for _, w in parts)
    assert np.isclose(total, float(whole), rtol=1e-6)
    # An evaluation batch's padding (label NaN, weight 0) adds to neither sum.
    padded = loss_sums(
        "binary",
        jnp.concatenate([logits, jnp.zeros((2, 3))]),
        jnp.concatenate([labels, jnp.full((2, 3), jnp.nan)]),
        jnp.concatenate([weights, jnp.zeros((2, 3))]),
    )
    plain = loss_sums("binary", logits, labels, weights)
    assert np.allclose(jax.device_get(padded), jax.device_get(plain))
