"""Builds a toy world end to end and writes it in the layout every config reads.

```
world.json                      params, species, tree, TFs, motifs, counts, chromosome sizes
genomes/<species>.fa (+ .fai)   reference first ("ref"), then sp1..spK; repeats soft-masked
peaks/<TF>.narrowPeak           reference only: the noisy labels users train on
chains/ref_to_<species>.chain   true alignment, target = reference, query = species
truth/<species>/<TF>.bed        noise-free bound sites of every genome, evaluation only
```
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from jaxssl.tokens import NUM_BASES

from . import binding
from .chains import build_chains, write_chains
from .composition import make_reference
from .evolve import Genome, evolve, reference_genome, seqs_of
from .motifs import SHIPPED_MEME, load_motifs
from .params import GENERATOR_VERSION, ToyWorldParams
from .peaks import narrowpeak_lines, observe_peaks

REFERENCE = "ref"
FASTA_WIDTH = 60
_BASE_BYTES = np.frombuffer(b"ACGTNacgtn", dtype=np.uint8)


def tree_edges(species: int) -> list[tuple[str, str]]:
    """(child, parent) edges of a ladder rooted at the reference, parents before children.

    sp1 diverges first (closest), the last two are sisters (farthest), so one world offers a
    range of divergences.
    """
    if species == 1:
        return [("sp1", REFERENCE)]
    edges = [("anc1", REFERENCE)]
    for i in range(1, species):
        edges.append((f"sp{i}", f"anc{i}"))
        edges.append((f"anc{i + 1}", f"anc{i}") if i < species - 1 else (f"sp{species}", f"anc{i}"))
    return edges


def relative_distances(species: int, divergence: tuple[float, float]) -> list[float]:
    """Expected substitutions per neutral site from the reference to sp1..spK: geometric
    spacing from the closest to the farthest, so close relatives are as well sampled as far."""
    lo, hi = (float(x) for x in divergence)
    return [lo * (hi / lo) ** (i / (species - 1)) for i in range(species)]


def comb_edges(species: int, divergence: tuple[float, float]) -> list[tuple[str, str, float]]:
    """(child, parent, branch length) of a comb whose leaf sp<i> lies at the i-th distance of
    `relative_distances` from the reference, parents before children.

    The spine node anc<i> sits halfway to sp<i>, so relatives share the part of their history
    that their divergence times share (sp<i> and sp<j>, i < j, share the path to anc<i>), as
    a genome family sampled at increasing distance from one species does.
    """
    d = relative_distances(species, divergence)
    spine = [x / 2 for x in d[:-1]]  # anc1..anc<K-1>
    edges = [("anc1", REFERENCE, spine[0])]
    for i in range(1, species):
        if i > 1:
            edges.append((f"anc{i}", f"anc{i - 1}", spine[i - 1] - spine[i - 2]))
        edges.append((f"sp{i}", f"anc{i}", d[i - 1] - spine[i - 1]))
    edges.append((f"sp{species}", f"anc{species - 1}", d[-1] - spine[-1]))
    return edges


def world_edges(params: ToyWorldParams) -> list[tuple[str, str, float]]:
    """(child, parent, branch length) of the world's tree: the ladder of equal branches by
    default, the comb over `params.divergence` when it is set."""
    if params.divergence is None:
        return [(c, p, params.branch_length) for c, p in tree_edges(params.species)]
    return comb_edges(params.species, params.divergence)


def newick(edges: list[tuple[str, str, float]]) -> str:
    children: dict[str, list[tuple[str, float]]] = {}
    for child, parent, length in edges:
        children.setdefault(parent, []).append((child, length))

    def render(node: str) -> str:
        inner = ",".join(f"{render(c)}:{length:g}" for c, length in children.get(node, []))
        return f"({inner}){node}" if inner else node

    top = ",".join(f"{render(c)}:{length:g}" for c, length in children[REFERENCE])
    return f"({REFERENCE}:0,{top});"


def _branch_params(params: ToyWorldParams, length: float) -> ToyWorldParams:
    """The evolution settings of one branch: rearrangements scale with its length (the
    default world's branches all have `branch_length`, so it evolves with `params` as is)."""
    if length == params.branch_length:
        return params
    scale = length / params.branch_length
    return dataclasses.replace(
        params,
        branch_length=length,
        inversions=params.inversions * scale,
        translocations=params.translocations * scale,
    )


def write_fasta(path: Path, genome: Genome) -> None:
    """FASTA with 60-column lines (soft-masked repeats lowercase) and its samtools .fai."""
    fai = []
    offset = 0
    with open(path, "wb") as f:
        for chrom in genome:
            header = f">{chrom.name}\n".encode()
            letters = _BASE_BYTES[chrom.seq + 5 * chrom.masked.astype(np.uint8)]
            n_lines = -(-len(letters) // FASTA_WIDTH)
            padded = np.full(n_lines * FASTA_WIDTH, 0, np.uint8)
            padded[: len(letters)] = letters
            rows = np.concatenate(
                [padded.reshape(n_lines, FASTA_WIDTH), np.full((n_lines, 1), ord("\n"), np.uint8)],
                axis=1,
            ).ravel()
            tail = n_lines * FASTA_WIDTH - len(letters)
            body = np.concatenate([rows[: len(rows) - 1 - tail], [ord("\n")]]).astype(np.uint8)
            f.write(header)
            f.write(body.tobytes())
            offset += len(header)
            fai.append(
                f"{chrom.name}\t{len(letters)}\t{offset}\t{FASTA_WIDTH}\t{FASTA_WIDTH + 1}\n"
            )
            offset += len(body)
    Path(f"{path}.fai").write_text("".join(fai))


def write_truth(path: Path, sites: binding.Sites, names: list[str], tf: str) -> None:
    """BED6: motif window, name = TF, score = 1000 x occupancy, strand of the motif."""
    occ = np.round(sites.occupancy * 1000).astype(np.int64).tolist()
    path.write_text(
        "".join(
            f"{names[c]}\t{s}\t{e}\t{tf}\t{o}\t{'-' if m else '+'}\n"
            for c, s, e, o, m in zip(
                sites.chrom.tolist(),
                sites.start.tolist(),
                sites.end.tolist(),
                occ,
                sites.minus.tolist(),
                strict=True,
            )  # fmt: skip
        )
    )


def _identity(genome: Genome, ref: Genome) -> tuple[float, float]:
    """(fraction of this genome aligned to the reference, identity of the aligned bases)."""
    aligned = same = total = 0
    for chrom in genome:
        on = chrom.src_pos >= 0
        ref_base = np.empty(int(on.sum()), np.uint8)
        src_c, src_p = chrom.src_chrom[on], chrom.src_pos[on]
        for i, r in enumerate(ref):
            sel = src_c == i
            ref_base[sel] = r.seq[src_p[sel]]
        ref_base = np.where(chrom.src_minus[on] & (ref_base < NUM_BASES), 3 - ref_base, ref_base)
        aligned += int(on.sum())
        same += int((ref_base == chrom.seq[on]).sum())
        total += len(chrom.seq)
    return aligned / total, same / max(aligned, 1)


def _build(out: Path, params: ToyWorldParams) -> dict:
    rng = np.random.default_rng(params.seed)
    ref = make_reference(params, rng)
    motifs = load_motifs(params.tfs + params.cofactors, params.motif_file)
    models = [
        binding.calibrate(tf, motifs[tf], motifs[cof], ref.seqs, ref.masked)
        for tf, cof in zip(params.tfs, params.cofactors, strict=True)
    ]
    planted = [
        params.rare_sites if tf == params.rare_tf else params.sites_per_tf for tf in params.tfs
    ]
    binding.plant_binding(ref.seqs, models, planted, params.cofactor_fraction, rng)

    genomes: dict[str, Genome] = {REFERENCE: reference_genome(ref)}
    sites = {REFERENCE: [binding.call_sites(ref.seqs, m) for m in models]}
    edges = world_edges(params)
    for child, parent, length in edges:
        seqs = seqs_of(genomes[parent])
        protect = binding.constrained_mask(seqs, sites[parent], models)
        genomes[child] = evolve(
            genomes[parent],
            sites[parent],
            list(protect.values()),
            models,
            _branch_params(params, length),
            rng,
        )
        sites[child] = [binding.call_sites(seqs_of(genomes[child]), m) for m in models]
    species = [REFERENCE] + [f"sp{i}" for i in range(1, params.species + 1)]
    ref_names = [c.name for c in genomes[REFERENCE]]
    sizes = {sp: {c.name: len(c.seq) for c in genomes[sp]} for sp in species}

    for folder in ("genomes", "peaks", "chains", "truth"):
        (out / folder).mkdir()
    counts: dict = {"planted": dict(zip(params.tfs, planted, strict=True)), "true_sites": {},
                    "peaks": {}, "false_peaks": {}, "missed_sites": {}, "chains": {},
                    "aligned_fraction": {}, "identity": {}}  # fmt: skip
    for tf, model, tf_sites in zip(params.tfs, models, sites[REFERENCE], strict=True):
        del model
        peaks = observe_peaks(
            tf_sites, ref.seqs, params.peak_false_fraction, params.peak_miss_rate, rng
        )
        (out / "peaks" / f"{tf}.narrowPeak").write_text(narrowpeak_lines(peaks, ref_names, tf))
        counts["peaks"][tf] = len(peaks.start)
        counts["false_peaks"][tf] = int(peaks.is_false.sum())
        counts["missed_sites"][tf] = peaks.n_missed
    for sp in species:
        write_fasta(out / "genomes" / f"{sp}.fa", genomes[sp])
        (out / "truth" / sp).mkdir()
        names = [c.name for c in genomes[sp]]
        counts["true_sites"][sp] = {}
        for tf, tf_sites in zip(params.tfs, sites[sp], strict=True):
            write_truth(out / "truth" / sp / f"{tf}.bed", tf_sites, names, tf)
            counts["true_sites"][sp][tf] = len(tf_sites)
        if sp != REFERENCE:
            chains = build_chains(genomes[sp], ref_names)
            write_chains(out / "chains" / f"ref_to_{sp}.chain", chains, sizes[REFERENCE], sizes[sp])
            counts["chains"][sp] = len(chains)
            aligned, identity = _identity(genomes[sp], genomes[REFERENCE])
            counts["aligned_fraction"][sp] = round(aligned, 5)
            counts["identity"][sp] = round(identity, 5)

    depth, distance = {REFERENCE: 0}, {REFERENCE: 0.0}
    for child, parent, length in edges:
        depth[child] = depth[parent] + 1
        distance[child] = distance[parent] + length
    extra = {}
    if params.divergence is not None:  # the default world.json stays as it always was
        extra["distance_from_reference"] = {sp: round(distance[sp], 6) for sp in species}
    return {
        "format": 1,
        "generator": f"jaxssl.toyworld v{GENERATOR_VERSION}",
        "key": params.key(),
        "params": params.to_dict(),
        "reference": REFERENCE,
        "species": species,
        "tree": newick(edges),
        "branches_from_reference": {sp: depth[sp] for sp in species},
        **extra,
        "tfs": list(params.tfs),
        "rare_tf": params.rare_tf,
        "motifs": {tf: m.describe() for tf, m in zip(params.tfs, models, strict=True)},
        "motif_file": str(params.motif_file or SHIPPED_MEME.name),
        "counts": counts,
        "chrom_sizes": sizes,
    }


DEFAULT_PARAMS = ToyWorldParams()


def generate_toy_world(out_dir: str | Path, params: ToyWorldParams = DEFAULT_PARAMS) -> Path:
    """Writes a world to out_dir atomically: built in a sibling temp dir, then renamed.

    out_dir must not exist (or be an empty directory), so a half-written world is never seen.
    """
    out = Path(out_dir).expanduser().resolve()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise FileExistsError(f"{out} already exists and is not empty; remove it or pick --out")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        began = time.perf_counter()
        info = _build(tmp, params)
        info["build_seconds"] = round(time.perf_counter() - began, 2)
        (tmp / "world.json").write_text(json.dumps(info, indent=1) + "\n")
        if out.is_dir():
            out.rmdir()  # empty, checked above
        os.rename(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def load_world_info(world_dir: str | Path) -> dict:
    """The parsed world.json of a generated world."""
    path = Path(world_dir) / "world.json"
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} not found: {world_dir} is not a toy world "
            "(make one with `python -m data_prep toy-world --out DIR`)"
        )
    return json.loads(path.read_text())


def binding_models(info: dict) -> dict[str, binding.BindingModel]:
    """The occupancy rule of every TF of a world (from its world.json), to re-derive truth."""
    params = ToyWorldParams.from_dict(info["params"])
    motifs = load_motifs(params.tfs + params.cofactors, params.motif_file)
    return {
        tf: binding.BindingModel(
            tf,
            motifs[tf],
            motifs[cof],
            threshold=info["motifs"][tf]["threshold"],
            cofactor_threshold=info["motifs"][tf]["cofactor_threshold"],
            gc_center=info["motifs"][tf]["gc_center"],
        )
        for tf, cof in zip(params.tfs, params.cofactors, strict=True)
    }
