"""Toy world: layout, determinism, and that the planted truth is what the files say."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pyfaidx
import pytest

from data_prep.__main__ import main as data_prep_main
from jaxssl.config import base_config
from jaxssl.data.manifest import load_manifest
from jaxssl.genome.fasta import Genome
from jaxssl.genome.intervals import read_intervals
from jaxssl.homology.chain import ChainIndex, read_chains
from jaxssl.tokens import encode, reverse_complement
from jaxssl.toy_data import _world_params, toy_homology_shards, toy_unlabeled_all
from jaxssl.toyworld import (
    ToyWorldParams,
    binding_models,
    ensure_toy_world,
    generate_toy_world,
    load_world_info,
)
from jaxssl.toyworld.binding import COFACTOR_BONUS, GC_WEIGHT, Z_SLOPE, call_sites
from jaxssl.toyworld.world import comb_edges, relative_distances

TINY = ToyWorldParams(
    seed=7,
    species=2,
    genome_size=400_000,
    chromosomes=2,
    sites_per_tf=500,
    rare_sites=120,
    inversions=1.5,
    translocations=1.5,
)


@pytest.fixture(scope="session")
def world(tmp_path_factory) -> Path:
    return generate_toy_world(tmp_path_factory.mktemp("toy") / "world", TINY)


@pytest.fixture(scope="session")
def info(world) -> dict:
    return load_world_info(world)


@pytest.fixture(scope="session")
def seqs(world, info) -> dict[str, dict[str, np.ndarray]]:
    """Every genome read back from its FASTA with pyfaidx, as tokens."""
    out = {}
    for sp in info["species"]:
        fa = pyfaidx.Fasta(str(world / "genomes" / f"{sp}.fa"), as_raw=True)
        out[sp] = {name: encode(fa[name][:]) for name in fa.keys()}  # noqa: SIM118
        fa.close()
    return out


def read_bed(path: Path) -> dict[str, np.ndarray]:
    rows = [line.split("\t") for line in path.read_text().splitlines()]
    return {
        "chrom": np.array([r[0] for r in rows], object),
        "start": np.array([int(r[1]) for r in rows], np.int64),
        "end": np.array([int(r[2]) for r in rows], np.int64),
        "score": np.array([int(r[4]) for r in rows], np.int64),
        "strand": np.array([r[5] for r in rows], object),
    }


def test_params_key_is_stable_and_sensitive():
    assert ToyWorldParams().key() == ToyWorldParams().key()
    assert len(ToyWorldParams().key()) == 16
    assert ToyWorldParams(seed=1).key() != ToyWorldParams().key()
    assert ToyWorldParams.from_dict(TINY.to_dict()) == TINY
    with pytest.raises(ValueError, match="rare_tf"):
        ToyWorldParams(rare_tf="GATA1")
    with pytest.raises(ValueError, match="species"):
        ToyWorldParams(species=0)
    with pytest.raises(ValueError, match="unknown toy world parameters"):
        ToyWorldParams.from_dict({"sed": 1})


def test_layout_and_world_json(world, info):
    species = ["ref", "sp1", "sp2"]
    assert info["species"] == species and info["reference"] == "ref"
    assert info["tfs"] == list(TINY.tfs) and info["rare_tf"] == "SPI1"
    assert info["key"] == TINY.key() and info["params"] == TINY.to_dict()
    assert info["tree"].startswith("(ref:0,") and info["tree"].endswith(";")
    assert info["motifs"]["CTCF"]["motif_id"] == "MA0139.2"
    for sp in species:
        assert (world / "genomes" / f"{sp}.fa").is_file()
        assert (world / "genomes" / f"{sp}.fa.fai").is_file()
        for tf in TINY.tfs:
            assert (world / "truth" / sp / f"{tf}.bed").is_file()
    for sp in species[1:]:
        assert (world / "chains" / f"ref_to_{sp}.chain").is_file()
    assert sorted(p.name for p in (world / "peaks").iterdir()) == sorted(
        f"{tf}.narrowPeak" for tf in TINY.tfs
    )
    assert list(info["chrom_sizes"]["ref"]) == ["chr1", "chr2"]
    assert sum(info["chrom_sizes"]["ref"].values()) == TINY.genome_size
    assert not list(world.parent.glob(".world.tmp-*"))  # the temp dir was renamed away


def test_reference_composition(seqs, info):
    ref = np.concatenate(list(seqs["ref"].values()))
    called = ref[ref < 4]
    gc = np.isin(called, [1, 2]).mean()
    assert abs(gc - TINY.gc_mean) < 0.04
    cpg = ((ref[:-1] == 1) & (ref[1:] == 2)).mean()
    assert cpg / ((ref == 1).mean() * (ref == 2).mean()) < 0.5  # CpG depletion
    assert (ref == 4).any()  # an assembly gap


def test_files_parse_with_project_readers_and_pyfaidx(world, info, seqs, tmp_path):
    for sp in info["species"]:
        genome = Genome(world / "genomes" / f"{sp}.fa")
        assert genome.lengths == info["chrom_sizes"][sp]
        name = genome.names[0]
        np.testing.assert_array_equal(genome.chromosome(name), seqs[sp][name])
        genome.close()
        # Our .fai equals the one pyfaidx builds itself.
        copy = tmp_path / f"{sp}.fa"
        shutil.copy(world / "genomes" / f"{sp}.fa", copy)
        pyfaidx.Fasta(str(copy)).close()
        assert (tmp_path / f"{sp}.fa.fai").read_text() == (
            world / "genomes" / f"{sp}.fa.fai"
        ).read_text()
        for tf in TINY.tfs:
            truth = read_intervals(world / "truth" / sp / f"{tf}.bed")
            assert len(truth) == info["counts"]["true_sites"][sp][tf] > 0
    for tf in TINY.tfs:
        peaks = read_intervals(world / "peaks" / f"{tf}.narrowPeak")
        assert peaks.has_summits and len(peaks) == info["counts"]["peaks"][tf]
        lines = (world / "peaks" / f"{tf}.narrowPeak").read_text().splitlines()
        assert all(len(line.split("\t")) == 10 for line in lines)


def test_truth_agrees_with_sequence(world, info, seqs):
    """Re-deriving binding from each genome's FASTA gives exactly its truth/ files."""
    models = binding_models(info)
    for sp in info["species"]:
        names = list(seqs[sp])
        for tf, model in models.items():
            sites = call_sites(seqs[sp], model)
            truth = read_bed(world / "truth" / sp / f"{tf}.bed")
            np.testing.assert_array_equal(np.array(names, object)[sites.chrom], truth["chrom"])
            np.testing.assert_array_equal(sites.start, truth["start"])
            assert (truth["score"] > 500).all()  # occupancy > 1/2 for every bound site


def test_motifs_present_where_truth_says(world, info, seqs):
    models = binding_models(info)
    for sp in info["species"]:
        for tf, model in models.items():
            truth = read_bed(world / "truth" / sp / f"{tf}.bed")
            windows = np.stack(
                [
                    seqs[sp][c][s:e]
                    for c, s, e in zip(truth["chrom"], truth["start"], truth["end"], strict=True)
                ]
            )
            # Oriented by the truth strand, the window scores high on the forward PWM.
            oriented = np.where((truth["strand"] == "-")[:, None], windows[:, ::-1], windows)
            oriented = np.where(
                (truth["strand"] == "-")[:, None] & (oriented < 4), 3 - oriented, oriented
            )
            llr = model.motif.log_odds()
            raw = llr[np.arange(model.motif.width), oriented].sum(axis=1)
            rel = (raw - llr.min(axis=1).sum()) / (llr.max(axis=1).sum() - llr.min(axis=1).sum())
            floor = model.threshold - (COFACTOR_BONUS + GC_WEIGHT) / Z_SLOPE
            assert (rel > floor).all(), (sp, tf)
            assert np.median(rel) > model.threshold


def test_peaks_look_like_chipseq(world, info):
    for tf in TINY.tfs:
        peaks = read_intervals(world / "peaks" / f"{tf}.narrowPeak")
        truth = read_bed(world / "truth" / "ref" / f"{tf}.bed")
        width = peaks.end - peaks.start
        assert width.min() >= 160 and width.max() <= 600 and 250 < np.median(width) < 400
        centers = (truth["start"] + truth["end"]) // 2
        # Distance from each summit to the nearest true site on its chromosome.
        near = np.full(len(peaks), np.inf)
        for chrom in np.unique(peaks.chrom):
            c = np.sort(centers[truth["chrom"] == chrom])
            on = peaks.chrom == chrom
            i = np.clip(np.searchsorted(c, peaks.summit[on]), 1, len(c) - 1)
            near[on] = np.minimum(abs(c[i] - peaks.summit[on]), abs(c[i - 1] - peaks.summit[on]))
        false_frac = info["counts"]["false_peaks"][tf] / len(peaks)
        assert 0 < (near > 60).mean() <= false_frac + 0.03
        assert (near <= 60).mean() > 0.9
        assert 0 < info["counts"]["missed_sites"][tf] < 0.25 * len(centers)
        # Signal rises with occupancy.
        rows = [line.split("\t") for line in (world / "peaks" / f"{tf}.narrowPeak").open()]
        signal = np.array([float(r[6]) for r in rows])
        assert np.corrcoef(signal, near <= 60)[0, 1] > 0.2


def _neutral_identity(index: ChainIndex, seqs, sp: str, width: int) -> float:
    """Fraction of random reference windows whose ortholog is identical (no selection)."""
    rng = np.random.default_rng(0)
    chrom = np.array(["chr1"] * 2000, object)
    start = rng.integers(0, len(seqs["ref"]["chr1"]) - width, 2000)
    lifted = index.lift(chrom, start, start + width, min_match=1.0)
    same = [
        np.array_equal(
            seqs["ref"]["chr1"][s : s + width],
            seqs[sp][c][a:b] if strand == "+" else reverse_complement(seqs[sp][c][a:b]),
        )
        for s, c, a, b, strand, ok in zip(
            start,
            lifted.chrom,
            lifted.start,
            lifted.end,
            lifted.strand,
            lifted.mapped,
            strict=True,
        )
        if ok
    ]
    return float(np.mean(same))


def test_chains_map_planted_sites_to_orthologs(world, info, seqs):
    models = binding_models(info)
    for sp in info["species"][1:]:
        chains = read_chains(world / "chains" / f"ref_to_{sp}.chain")
        assert len(chains) == info["counts"]["chains"][sp]
        # Every block of the true alignment is the same sequence up to substitutions.
        same = total = 0
        for c in chains:
            t = seqs["ref"][c.t_name]
            q = seqs[sp][c.q_name]
            q = reverse_complement(q) if c.q_strand == "-" else q
            for ts, qs, n in zip(c.t_starts, c.q_starts, c.sizes, strict=True):
                same += int((t[ts : ts + n] == q[qs : qs + n]).sum())
                total += int(n)
        assert same / total == pytest.approx(info["counts"]["identity"][sp], abs=1e-4)
        assert 0.8 < same / total < 0.97
        index = ChainIndex(chains)
        neutral = _neutral_identity(index, seqs, sp, width=15)
        for tf in models:
            truth = read_bed(world / "truth" / "ref" / f"{tf}.bed")
            lifted = index.lift(
                truth["chrom"], truth["start"], truth["end"], truth["strand"], min_match=1.0
            )
            ok = lifted.mapped
            assert ok.mean() > 0.9
            ref_win = [
                seqs["ref"][c][s:e]
                for c, s, e in zip(
                    truth["chrom"][ok], truth["start"][ok], truth["end"][ok], strict=True
                )
            ]
            sp_win = [
                seqs[sp][c][s:e]
                for c, s, e in zip(lifted.chrom[ok], lifted.start[ok], lifted.end[ok], strict=True)
            ]
            flip = lifted.strand[ok] != truth["strand"][ok]
            sp_win = [reverse_complement(w) if f else w for w, f in zip(sp_win, flip, strict=True)]
            identical = np.array(
                [np.array_equal(a, b) for a, b in zip(ref_win, sp_win, strict=True)]
            )
            # Purifying selection: bound sites stay intact far more often than neutral windows.
            assert identical.mean() > max(0.5, 1.8 * neutral)
            sp_truth = read_bed(world / "truth" / sp / f"{tf}.bed")
            keys = set(zip(sp_truth["chrom"], sp_truth["start"], strict=True))
            still = np.array(
                [(c, s) in keys for c, s in zip(lifted.chrom[ok], lifted.start[ok], strict=True)]
            )
            assert still.mean() > 0.6  # most orthologs of bound sites are bound


def test_destroyed_motif_is_unbound(world, info, seqs):
    models = binding_models(info)
    destroyed_total = 0
    for sp in info["species"][1:]:
        index = ChainIndex(read_chains(world / "chains" / f"ref_to_{sp}.chain"))
        for tf, model in models.items():
            truth = read_bed(world / "truth" / "ref" / f"{tf}.bed")
            lifted = index.lift(truth["chrom"], truth["start"], truth["end"], min_match=1.0)
            ok = lifted.mapped & (lifted.end - lifted.start == model.motif.width)
            wins = np.stack(
                [
                    seqs[sp][c][s:e]
                    for c, s, e in zip(
                        lifted.chrom[ok], lifted.start[ok], lifted.end[ok], strict=True
                    )
                ]
            )
            score = model.scorer.score_windows(wins)
            # Below this score no context (partner, GC) can make a site bound.
            floor = model.threshold - (COFACTOR_BONUS + GC_WEIGHT) / Z_SLOPE
            destroyed = score < floor
            destroyed_total += int(destroyed.sum())
            sp_truth = read_bed(world / "truth" / sp / f"{tf}.bed")
            bound = set()
            for c, s, e in zip(sp_truth["chrom"], sp_truth["start"], sp_truth["end"], strict=True):
                bound.update((c, p) for p in range(s, e))
            for c, s, e in zip(
                lifted.chrom[ok][destroyed],
                lifted.start[ok][destroyed],
                lifted.end[ok][destroyed],
                strict=True,
            ):
                assert not any((c, p) in bound for p in range(s, e))
    assert destroyed_total > 10  # evolution did destroy sites (turnover, substitutions)


def test_evolved_genomes_are_rearranged(world, info):
    chains = [
        c
        for sp in info["species"][1:]
        for c in read_chains(world / "chains" / f"ref_to_{sp}.chain")
    ]
    assert any(c.q_strand == "-" for c in chains)  # inversions
    assert any(len(c.sizes) > 10 for c in chains)  # indels split blocks
    for sp in info["species"][1:]:
        assert info["chrom_sizes"][sp] != info["chrom_sizes"]["ref"]
        assert 0.95 < info["counts"]["aligned_fraction"][sp] < 1.0


def test_deterministic_for_a_seed(world, tmp_path):
    again = generate_toy_world(tmp_path / "again", TINY)
    for path in sorted(world.rglob("*")):
        if path.is_file() and path.name != "world.json":
            assert path.read_bytes() == (again / path.relative_to(world)).read_bytes(), path
    first, second = load_world_info(world), load_world_info(again)
    first.pop("build_seconds"), second.pop("build_seconds")
    assert first == second
    other = generate_toy_world(tmp_path / "other", ToyWorldParams(**{**TINY.__dict__, "seed": 8}))
    assert (other / "genomes/ref.fa").read_bytes() != (world / "genomes/ref.fa").read_bytes()


def test_generate_refuses_a_nonempty_directory(tmp_path):
    (tmp_path / "w").mkdir()
    (tmp_path / "w" / "x").write_text("mine")
    with pytest.raises(FileExistsError, match="not empty"):
        generate_toy_world(tmp_path / "w", TINY)
    assert (tmp_path / "w" / "x").read_text() == "mine"


def test_load_world_info_names_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match="toy-world"):
        load_world_info(tmp_path)


def test_ensure_toy_world_builds_once(tmp_path, monkeypatch):
    small = ToyWorldParams(
        genome_size=200_000, chromosomes=2, species=1, sites_per_tf=100, rare_sites=30
    )
    monkeypatch.setenv("JAXSSL_CACHE", str(tmp_path / "env"))
    path = ensure_toy_world(small)
    assert path == tmp_path / "env" / "toy_world" / small.key()
    stamp = (path / "world.json").stat().st_mtime_ns
    assert ensure_toy_world(small) == path
    assert (path / "world.json").stat().st_mtime_ns == stamp  # reused, not rebuilt
    explicit = ensure_toy_world(small, cache_dir=tmp_path / "explicit")
    assert explicit.parent.parent == tmp_path / "explicit"


# The default world's cache name and one of its genomes: the README's figures and every cached
# default world depend on them (change them only with GENERATOR_VERSION).
DEFAULT_KEY = "371516c113d6da41"
DEFAULT_SP3_SHA256 = "11407c55d11140fa83d8c0ab904c6147f48a7085901eecd7d89e413ec977ab96"


def test_default_world_has_a_rare_tf(tmp_path):
    """The world every config falls back to: a few hundred rare peaks, thousands for the rest."""
    world = ensure_toy_world(cache_dir=tmp_path)
    info = load_world_info(world)
    peaks = info["counts"]["peaks"]
    assert 150 <= peaks[info["rare_tf"]] <= 600
    assert all(1500 <= n <= 5000 for tf, n in peaks.items() if tf != info["rare_tf"])
    assert len(info["species"]) == 4 and sum(info["chrom_sizes"]["ref"].values()) == 3_000_000
    # Unchanged by the options added later (divergence): same key, tree, params, files.
    assert world.name == info["key"] == DEFAULT_KEY
    assert info["tree"] == "(ref:0,(sp1:0.05,(sp2:0.05,sp3:0.05)anc2:0.05)anc1:0.05);"
    assert "divergence" not in info["params"] and "distance_from_reference" not in info
    digest = hashlib.sha256((world / "genomes" / "sp3.fa").read_bytes()).hexdigest()
    assert digest == DEFAULT_SP3_SHA256


def test_default_config_names_the_default_world():
    config = base_config()
    assert _world_params(config.data.toy_world) == ToyWorldParams()
    assert ToyWorldParams().key() == DEFAULT_KEY
    assert "divergence" not in ToyWorldParams().to_dict()
    spread = _world_params({**config.data.toy_world.to_dict(), "species": 12,
                            "divergence": "0.02,0.5"})  # fmt: skip
    assert spread.divergence == (0.02, 0.5) and spread.key() != DEFAULT_KEY
    with pytest.raises(ValueError, match="divergence"):
        _world_params({"divergence": "0.02"})
    with pytest.raises(ValueError, match="divergence"):
        ToyWorldParams(species=4, divergence=(0.5, 0.1))


# Five relatives from 0.02 to 0.6 substitutions per site, on the smallest genome whose five
# chromosomes fit the toy world's held-out chr4/chr5.
SPREAD = ToyWorldParams(
    seed=3,
    species=5,
    genome_size=500_000,
    chromosomes=5,
    sites_per_tf=250,
    rare_sites=60,
    divergence=(0.02, 0.6),
)


@pytest.fixture(scope="module")
def spread_cache(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("spread_cache")
    ensure_toy_world(SPREAD, cache_dir=root)
    return root


def test_relatives_spread_over_the_divergence_range(spread_cache):
    info = load_world_info(spread_cache / "toy_world" / SPREAD.key())
    relatives = info["species"][1:]
    assert relatives == [f"sp{i}" for i in range(1, 6)]
    distance = [info["distance_from_reference"][sp] for sp in relatives]
    np.testing.assert_allclose(distance, relative_distances(5, (0.02, 0.6)), rtol=1e-5)
    assert distance[0] == pytest.approx(0.02) and distance[-1] == pytest.approx(0.6)
    identity = [info["counts"]["identity"][sp] for sp in relatives]
    assert all(a > b for a, b in zip(identity, identity[1:], strict=False)), identity
    assert identity[0] > 0.97 and identity[-1] < 0.8
    assert [c for c, _, _ in comb_edges(5, (0.02, 0.6))].count("sp5") == 1


def test_pseudo_label_sources_cover_every_relative(spread_cache, monkeypatch):
    monkeypatch.setenv("JAXSSL_CACHE", str(spread_cache))
    toy = {**SPREAD.to_dict(), "window": 100}
    homology = toy_homology_shards(toy)
    targets = [load_manifest(p).metadata["target"] for p in homology]
    assert targets == [f"sp{i}" for i in range(1, 6)]
    unlabeled = toy_unlabeled_all(toy, count=200)
    genomes = [load_manifest(p).metadata.get("genome") for p in unlabeled]
    assert genomes == ["ref", *targets]


def test_cli_writes_a_world_and_reports_errors(tmp_path, capsys):
    out = tmp_path / "cli"
    argv = [
        "toy-world",
        "--out",
        str(out),
        "--genome-size",
        "200000",
        "--chromosomes",
        "2",
        "--species",
        "1",
        "--set",
        "sites_per_tf=100",
        "--set",
        "rare_sites=30",
    ]
    assert data_prep_main(argv) == 0
    info = json.loads((out / "world.json").read_text())
    assert info["params"]["sites_per_tf"] == 100 and info["species"] == ["ref", "sp1"]
    assert "SPI1" in capsys.readouterr().out
    assert data_prep_main(argv) == 2  # exists
    assert "not empty" in capsys.readouterr().err
    assert data_prep_main([*argv, "--force"]) == 0
    assert data_prep_main(["toy-world", "--out", str(tmp_path / "x"), "--set", "nope=1"]) == 2
    assert "nope" in capsys.readouterr().err
    bad = ["toy-world", "--out", str(tmp_path / "y"), "--divergence", "0.1"]
    assert data_prep_main(bad) == 2
    assert "divergence" in capsys.readouterr().err
