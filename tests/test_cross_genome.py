"""benchmarks/cross_genome.py end to end on tiny synthetic genomes: a reference and two
relatives (any number of targets), tiny steps."""

from __future__ import annotations

import gzip
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import REPO_ROOT

PROMOTER = "TTGACA" + "A" * 17 + "TATAAT"  # -35 box, spacer, -10 box


def _load_benchmark():
    spec = importlib.util.spec_from_file_location(
        "cross_genome_benchmark", REPO_ROOT / "benchmarks" / "cross_genome.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _revcomp(s: str) -> str:
    return s[::-1].translate(str.maketrans("ACGT", "TGCA"))


def _genomes(root: Path, *, length: int = 24000, every: int = 600) -> list[Path]:
    """A reference with a promoter planted before every site (both strands) and two
    relatives: the same genome with 3 % and 6 % substitutions, their sites at the same places."""
    rng = np.random.default_rng(0)
    seq = list(rng.choice(list("ACGT"), length, p=[0.35, 0.15, 0.15, 0.35]))
    rows = []
    for i, tss in enumerate(range(every, length - every, every)):
        strand = "+-"[i % 2]
        if strand == "+":
            seq[tss - 40 : tss - 40 + len(PROMOTER)] = PROMOTER
        else:
            seq[tss + 41 - len(PROMOTER) : tss + 41] = _revcomp(PROMOTER)
        rows.append((tss, strand))
    genomes = [("ref", "r1", "".join(seq))]
    for name, chrom, rate in (("rel_a", "a1", 0.03), ("rel_b", "b1", 0.06)):
        rel = np.array(seq)
        flip = rng.random(length) < rate
        rel[flip] = rng.choice(list("ACGT"), int(flip.sum()))
        genomes.append((name, chrom, "".join(rel)))
    dirs = []
    for name, chrom, s in genomes:
        d = root / name
        d.mkdir()
        with gzip.open(d / "genome.fa.gz", "wt") as f:
            f.write(f">{chrom}\n{s}\n")
        (d / "tss.bed").write_text("".join(f"{chrom}\t{p}\t{p + 1}\t.\t0\t{t}\n" for p, t in rows))
        dirs.append(d)
    return dirs


@pytest.mark.slow
def test_cross_genome_benchmark_end_to_end(tmp_path, monkeypatch):
    pytest.importorskip("mappy")
    ref, rel_a, rel_b = _genomes(tmp_path)
    bench = _load_benchmark()
    work = tmp_path / "work"
    argv = [
        "--reference", str(ref), "--targets", str(rel_a), str(rel_b), "--workdir", str(work),
        "--budgets", "10,all", "--seeds", "0", "--quick", "--seq-len", "64",
        "--unlabeled", "60", "--steps", "2", "--eval-every", "1", "--batch-size", "8",
        "--config-override", "eval.batch_size=32",
    ]  # fmt: skip
    assert bench.main(argv) == 0
    summary = json.loads((work / "cross_genome.json").read_text())
    results = summary["results"]["10"]
    assert set(results) == set(bench.METHODS)
    for row in (r["0"] for r in results.values()):
        for key in ("reference_test", "rel_a:all", "rel_a:clean", "rel_b:all", "rel_b:clean"):
            assert 0.0 <= row[key] <= 1.0
    for name in ("rel_a", "rel_b"):  # every target: carried labels and its own evaluation set
        carried = summary["carried"]["10"][name]
        assert carried["carried"] > 0 and carried["identity_mean"] > 0.85
        manifest = json.loads((work / "sets" / f"{name}_eval" / "manifest.json").read_text())
        assert set(manifest["splits"]) <= {"test", "test_clean"}
    assert (
        summary["carried"]["10"]["rel_a"]["identity_mean"]
        > summary["carried"]["10"]["rel_b"]["identity_mean"]
    )
    assert "Budget 10" in (work / "cross_genome.md").read_text()
