"""One leakage guard at every door: a window that is, or maps back into, the reference's held-out
data is dropped and counted, whether it enters through `homology`, `windows` or the toy world's
unlabeled pools (issue 10, item 4); and `windows --count` far beyond the genome is warned about.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from data_prep.__main__ import main as data_prep_main
from jaxssl.data.manifest import load_manifest
from jaxssl.data.pipeline import load_split
from jaxssl.data.writer import ShardSetWriter
from jaxssl.homology.chain import read_chains
from jaxssl.homology.leakage import HeldOut, LeakageGuard, held_out_of_set, parse_regions
from jaxssl.tokens import ALPHABET
from jaxssl.toyworld import ToyWorldParams, load_world_info

L = 100


def revcomp(tokens: np.ndarray) -> np.ndarray:
    rc = tokens[..., ::-1]
    return np.where(rc < 4, 3 - rc, rc).astype(np.uint8)


def write_fasta(path: Path, seqs: dict[str, np.ndarray]) -> Path:
    path.write_text("".join(f">{k}\n{''.join(ALPHABET[t] for t in v)}\n" for k, v in seqs.items()))
    return path


# --- a hand-made reference and relative ---------------------------------------------------
# Reference: chrA (training), chrB (test, held out), and a valid window on chrA [2500, 2600).
# Relative: t1 = chrA[0:1000] + chrB[200:500] (a translocated piece) + chrA[1000:3000];
#           t2 = reverse complement of chrB.


@pytest.fixture(scope="module")
def pair(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("doors")
    rng = np.random.default_rng(5)
    chr_a = rng.integers(0, 4, 3000).astype(np.uint8)
    chr_b = rng.integers(0, 4, 1000).astype(np.uint8)
    t1 = np.concatenate([chr_a[:1000], chr_b[200:500], chr_a[1000:]])
    t2 = revcomp(chr_b)
    ref = write_fasta(root / "ref.fa", {"chrA": chr_a, "chrB": chr_b})
    tgt = write_fasta(root / "tgt.fa", {"t1": t1, "t2": t2})
    chain = root / "ref_to_tgt.chain"
    chain.write_text(
        "chain 3000 chrA 3000 + 0 3000 t1 3300 + 0 3300 1\n1000 0 300\n2000\n\n"
        "chain 300 chrB 1000 + 200 500 t1 3300 + 1000 1300 2\n300\n\n"
        "chain 1000 chrB 1000 + 0 1000 t2 1000 - 0 1000 3\n1000\n"
    )
    labeled = root / "labeled"
    with ShardSetWriter(
        labeled,
        seq_len=L,
        task_names=["tf"],
        command="test",
        sources=[ref],
        metadata={"genome": "ref", "split_chroms": {"valid": [], "test": ["chrB"]}},
    ) as w:
        one = np.ones((1, 1), np.float32)
        w.add_batch("train", chr_a[None, :L], one, genome="ref", chrom="chrA", start=0)
        w.add_batch("valid", chr_a[None, 2500:2600], one, genome="ref", chrom="chrA", start=2500)
        w.add_batch("test", chr_b[None, :L], one, genome="ref", chrom="chrB", start=0)
    return {"root": root, "ref": ref, "tgt": tgt, "chain": chain, "labeled": labeled}


def test_guard_drops_windows_that_map_back_into_held_out_data(pair):
    held_out = held_out_of_set(pair["labeled"])
    assert held_out.chroms == ["chrB"] and held_out.windows == 1  # the valid window on chrA
    guard = LeakageGuard.through_chains(held_out, read_chains(pair["chain"]))
    chroms = np.array(["t1", "t1", "t1", "t1", "t1", "t2", "t2"], object)
    starts = np.array([100, 1050, 1250, 2000, 2800, 0, 500])
    screen = guard.screen(chroms, starts, L)
    # t1:1050 is chrB sequence, t1:1250 half of it, t1:2800 is chrA[2500:2600] (the valid
    # window), and all of t2 is chrB; t1:100 and t1:2000 are training sequence.
    assert screen.keep.tolist() == [True, False, False, True, False, False, False]
    assert screen.counts == {"held_out_region": 0, "held_out_ortholog": 5}
    guard.screen(chroms[:2], starts[:2], L)
    summary = guard.summary()
    assert summary["screened"] == 9 and summary["held_out_ortholog"] == 6
    assert summary["guard"] == "chains" and summary["held_out_chroms"] == ["chrB"]


def test_guard_on_the_reference_itself_and_regions():
    held_out = parse_regions("chrB,chrA:2501-2600")  # 1-based inclusive = [2500, 2600)
    assert held_out.chroms == ["chrB"] and held_out.windows == 1
    own = parse_regions(["chrA:1-50"])
    guard = LeakageGuard.on_reference(held_out, own)
    screen = guard.screen(
        np.array(["chrA", "chrA", "chrA", "chrA", "chrB"], object),
        np.array([0, 60, 2400, 2401, 700]),
        L,
    )
    # [0,100) touches chrA:1-50; [2401, 2501) touches the held-out window; [2400, 2500) does not.
    assert screen.keep.tolist() == [False, True, True, False, False]
    assert screen.counts == {"held_out_region": 3, "held_out_ortholog": 0}
    assert HeldOut.none().empty and not held_out.empty
    with pytest.raises(ValueError, match="1-based"):
        parse_regions("chrA:0-10")


@pytest.mark.parametrize("method", ["chains", "minimap2"])
def test_windows_cli_drops_and_counts_homologs_of_held_out_data(pair, tmp_path, capsys, method):
    if method == "minimap2":
        pytest.importorskip("mappy")
    out = tmp_path / "w"
    argv = ["windows", str(out), "--fasta", str(pair["tgt"]), "--seq-len", str(L),
            "--stride", "50", "--exclude-homologs-of", str(pair["labeled"])]  # fmt: skip
    if method == "chains":
        argv += ["--chains", str(pair["chain"])]
    assert data_prep_main(argv) == 0
    got = load_split(out, "train")
    m = load_manifest(out)
    leak = m.metadata["leakage"]
    assert leak["guard"] == method and leak["held_out_chroms"] == ["chrB"]
    counts = m.metadata["counts"]
    # t1: 65 tiles, t2: 19; every t2 tile is chrB sequence.
    assert counts["considered"] == 84 and "t2" not in set(got["chrom"])
    assert counts["dropped_leakage"] == leak["held_out_ortholog"] == 84 - counts["written"]
    kept = set(got["start"].tolist())
    # Windows wholly inside the chrB piece [1000, 1300) or on the valid window's copy
    # [2800, 2900) are gone; windows far from both are kept.
    assert not kept & {1000, 1050, 1100, 1150, 1200, 2800}
    assert {0, 100, 500, 1500, 2000, 3200} <= kept
    if method == "chains":  # exact: overlap of >= 10 bp with [1000, 1300) or [2800, 2900)
        assert sorted(set(range(0, 3201, 50)) - kept) == [*range(950, 1251, 50), 2750, 2800, 2850]
        assert counts["dropped_leakage"] == 19 + 10
    assert m.metadata["leakage"]["held_out_ortholog"] == counts["dropped_leakage"]
    assert any(Path(s["path"]).name == "manifest.json" for s in m.sources)
    assert data_prep_main(["inspect", str(out), "--examples", "0"]) == 0
    assert "metadata   leakage: {" in capsys.readouterr().out


def test_windows_cli_on_the_reference_never_samples_held_out_data(pair, tmp_path):
    out = tmp_path / "ref"
    argv = ["windows", str(out), "--fasta", str(pair["ref"]), "--seq-len", str(L), "--count",
            "400", "--exclude-homologs-of", str(pair["labeled"]),
            "--exclude-regions", "chrA:1-200"]  # fmt: skip
    assert data_prep_main(argv) == 0
    got = load_split(out, "train")
    leak = load_manifest(out).metadata["leakage"]
    assert set(got["chrom"]) == {"chrA"}  # the held-out chromosome is not sampled at all
    assert leak["guard"] == "reference" and leak["held_out_chroms_not_sampled"] == ["chrB"]
    assert leak["excluded_chroms"] == ["chrB"]
    s = got["start"]
    assert not ((s < 200) | ((s + L > 2500) & (s < 2600))).any()
    assert leak["held_out_region"] > 0
    assert leak["held_out_region"] == load_manifest(out).metadata["counts"]["dropped_leakage"]
    assert len(s) + leak["held_out_region"] == 400  # no N in this genome


def test_windows_cli_exclude_chroms_and_regions_without_a_labeled_set(pair, tmp_path):
    out = tmp_path / "r"
    bed = tmp_path / "ho.bed"
    bed.write_text("chrA\t1000\t1500\n")
    argv = ["windows", str(out), "--fasta", str(pair["ref"]), "--seq-len", str(L), "--stride",
            "100", "--exclude-chroms", "chrB", "--exclude-regions", str(bed)]  # fmt: skip
    assert data_prep_main(argv) == 0
    got = load_split(out, "train")
    meta = load_manifest(out).metadata
    assert set(got["chrom"]) == {"chrA"} and meta["leakage"]["excluded_chroms"] == ["chrB"]
    assert not set(got["start"].tolist()) & set(range(1000, 1500, 100))
    assert meta["leakage"]["held_out_region"] == 5 and meta["leakage"]["guard"] == "regions"


def test_windows_cli_guard_errors(pair, tmp_path, capsys):
    base = ["windows", str(tmp_path / "x"), "--fasta", str(pair["tgt"]), "--seq-len", "50",
            "--count", "10"]  # fmt: skip
    assert data_prep_main([*base, "--chains", str(pair["chain"])]) == 2
    assert "need --exclude-homologs-of" in capsys.readouterr().err
    assert data_prep_main([*base, "--exclude-regions", "chrZ:1-10"]) == 2
    assert "--exclude-regions names chromosomes ['chrZ']" in capsys.readouterr().err
    assert data_prep_main([*base, "--exclude-homologs-of", "chrB"]) == 2
    assert "--chains (reference -> this genome) or --reference-fasta" in capsys.readouterr().err
    swapped = tmp_path / "swapped.chain"
    swapped.write_text("chain 1000 t2 1000 + 0 1000 chrB 1000 - 0 1000 3\n1000\n")
    argv = [*base, "--exclude-homologs-of", str(pair["labeled"]), "--chains", str(swapped)]
    assert data_prep_main(argv) == 2
    assert "the chains run the other way" in capsys.readouterr().err
    argv = [*base, "--fasta", str(pair["ref"]), "--exclude-homologs-of", str(pair["labeled"]),
            "--chains", str(pair["chain"])]  # fmt: skip
    assert data_prep_main(argv) == 2
    assert "is the reference itself" in capsys.readouterr().err


def test_windows_count_far_beyond_the_genome_warns(pair, tmp_path, capsys):
    out = tmp_path / "many"
    argv = ["windows", str(out), "--fasta", str(pair["ref"]), "--seq-len", str(L), "--count",
            "10000"]  # fmt: skip
    assert data_prep_main(argv) == 0
    err = capsys.readouterr().err
    # chrA: 2901 starts, chrB: 901 -> 3,802 distinct positions, 40 non-overlapping windows.
    assert "warning: --count 10,000" in err and "3,802 distinct 100 bp window positions" in err
    assert "40 non-overlapping" in err and "6,198 windows will be exact repeats" in err
    meta = load_manifest(out).metadata
    assert meta["distinct_positions"] == 3802 and "3,802 distinct" in meta["warnings"][0]
    # Fewer than the distinct positions but > 10x coverage still warns; a modest count does not.
    assert data_prep_main([*argv[:-1], "1000", "--overwrite"]) == 0
    assert "each base lies in ~25 windows" in capsys.readouterr().err
    assert data_prep_main([*argv[:-1], "40", "--overwrite"]) == 0
    assert "warning" not in capsys.readouterr().err
    assert "warnings" not in load_manifest(out).metadata


# --- the toy world's unlabeled pools ----------------------------------------------------

SMALL = ToyWorldParams(seed=3, species=2, genome_size=500_000, chromosomes=5, sites_per_tf=300,
                       rare_sites=80, inversions=2.0)  # fmt: skip


def held_out_hits(chains, held_out: set[str], chrom: str, starts: np.ndarray, length: int):
    """Per window: the most bases one held-out chain aligns inside it (independent of the guard:
    straight from the chain blocks, in the relative's forward coordinates)."""
    best = np.zeros(len(starts), np.int64)
    for c in chains:
        if c.t_name not in held_out or c.q_name != chrom:
            continue
        aligned = np.zeros(c.q_size + 1, np.int64)
        for q, size in zip(c.q_starts.tolist(), c.sizes.tolist(), strict=True):
            lo, hi = (q, q + size) if c.q_strand == "+" else (c.q_size - q - size, c.q_size - q)
            aligned[lo + 1 : hi + 1] += 1
        cum = np.cumsum(aligned)
        ends = np.minimum(starts + length, c.q_size)
        best = np.maximum(best, cum[ends] - cum[starts])
    return best


def test_toy_unlabeled_pools_hold_no_held_out_data(tmp_path, monkeypatch):
    monkeypatch.setenv("JAXSSL_CACHE", str(tmp_path / "cache"))
    from jaxssl.toy_data import (
        TEST_CHROMS,
        UNLABELED_VERSION,
        VALID_CHROMS,
        toy_unlabeled_all,
        toy_world_dir,
    )

    toy = {**SMALL.to_dict(), "window": 200}
    paths = toy_unlabeled_all(toy, count=3000)
    world = toy_world_dir(toy)
    info = load_world_info(world)
    held_out = {VALID_CHROMS, TEST_CHROMS}
    assert all(p.name.endswith(f"_v{UNLABELED_VERSION}") for p in paths)  # new cache key
    for species, path in zip(info["species"], paths, strict=True):
        got = load_split(path, "train")
        meta = load_manifest(path).metadata
        leak = meta["leakage"]
        assert leak["held_out_chroms"] == sorted(held_out)
        if species == info["reference"]:
            assert not set(got["chrom"]) & held_out and len(got["chrom"]) > 2900
            assert leak["guard"] == "reference"
            continue
        assert leak["guard"] == "chains"
        # A fifth to a third of a relative maps back into chr4/chr5: dropped and counted.
        assert 0.15 * 3000 < leak["held_out_ortholog"] < 0.35 * 3000
        assert meta["counts"]["dropped_leakage"] == leak["held_out_ortholog"]
        chains = read_chains(world / "chains" / f"ref_to_{species}.chain")
        for chrom in np.unique(got["chrom"]):
            sel = got["chrom"] == chrom
            hits = held_out_hits(chains, held_out, str(chrom), got["start"][sel], 200)
            assert (hits < 20).all(), (species, chrom)  # under leak_min_match 0.1 of 200 bp


def test_toy_relative_tiles_dropped_exactly_when_they_map_into_held_out(tmp_path, monkeypatch):
    """Every tile of a relative: dropped if and only if a held-out chain aligns >= 10 % of it."""
    monkeypatch.setenv("JAXSSL_CACHE", str(tmp_path / "cache"))
    from jaxssl.toy_data import TEST_CHROMS, VALID_CHROMS, toy_labeled_shards, toy_world_dir

    toy = {**SMALL.to_dict(), "window": 200}
    labeled, world = toy_labeled_shards(toy), toy_world_dir(toy)
    out = tmp_path / "sp2"
    chain = world / "chains" / "ref_to_sp2.chain"
    argv = ["windows", str(out), "--fasta", str(world / "genomes" / "sp2.fa"), "--seq-len",
            "200", "--stride", "200", "--max-n-frac", "1", "--exclude-homologs-of",
            str(labeled), "--chains", str(chain)]  # fmt: skip
    assert data_prep_main(argv) == 0
    got = load_split(out, "train")
    sizes = load_world_info(world)["chrom_sizes"]["sp2"]
    chains = read_chains(chain)
    dropped = 0
    for chrom, size in sizes.items():
        tiles = np.arange(0, size - 200 + 1, 200)
        leaks = held_out_hits(chains, {VALID_CHROMS, TEST_CHROMS}, chrom, tiles, 200) >= 20
        kept = set(got["start"][got["chrom"] == chrom].tolist())
        assert kept == set(tiles[~leaks].tolist()), chrom
        dropped += int(leaks.sum())
    assert dropped > 0 and load_manifest(out).metadata["leakage"]["held_out_ortholog"] == dropped
