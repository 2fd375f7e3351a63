"""benchmarks/cross_genome.py end to end on tiny synthetic genomes: a reference and two
relatives (any number of targets), tiny steps; its transductive-exposure screen on tiny sets."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from jaxssl.data.reader import load_split
from jaxssl.tokens import decode
from tests.benchmark_module import load_benchmark

PROMOTER = "TTGACA" + "A" * 17 + "TATAAT"  # -35 box, spacer, -10 box


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
    bench = load_benchmark("cross_genome")
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


def _set(path: Path, split: str, rows: list[str], *, clean: list[float] | None = None) -> Path:
    from jaxssl.data.writer import ShardSetWriter
    from jaxssl.tokens import encode

    extra = ["clean"] if clean is not None else []
    with ShardSetWriter(
        path, seq_len=64, task_names=["tss"], command="test", extra_fields=extra
    ) as w:
        for i, r in enumerate(rows):
            w.add_batch(split, encode(r)[None], np.ones((1, 1), np.float32), chrom="c", start=i,
                        **({"clean": [clean[i]]} if clean is not None else {}))  # fmt: skip
    return path


def test_transductive_exposure_is_excluded_and_a_target_without_labels_skipped(tmp_path):
    """Target windows that share K = 32 of 64 bases with the target's own test windows leave
    the unlabeled (vs every test window) and carried (vs test_clean) sets; a target whose
    carried set is empty is reported and left out, not a crash; --transductive keeps all."""
    bench = load_benchmark("cross_genome")
    rng = np.random.default_rng(5)
    r = ["".join(rng.choice(list("ACGT"), 64)) for _ in range(8)]
    clean, dirty = r[0], r[1]  # test windows: r[0] clean, r[1] not
    sets = {
        "targets": {"t": _set(tmp_path / "eval", "test", [clean, dirty], clean=[1.0, 0.0])},
        "unlabeled": {"t": _set(tmp_path / "unl", "train", [
            _revcomp(dirty), clean[30:] + r[2][:30], clean[33:] + r[2][:33], r[3]])},
        "pseudo": {"10": {
            "t": _set(tmp_path / "car", "train", [clean[:40] + r[4][:24], dirty, r[5]]),
            "far": _set(tmp_path / "far", "test", [r[6]]),  # no train split: nothing carried
        }},
    }  # fmt: skip
    raw = {k: dict(v) for k, v in sets.items() if k != "pseudo"} | {
        "pseudo": {"10": dict(sets["pseudo"]["10"])}
    }
    args = SimpleNamespace(transductive=False, workdir=tmp_path / "w", budget_list=["10"])
    exposure = bench.exclude_transductive(args, sets)
    assert exposure["dropped"] == {
        "t unlabeled": {"windows": 4, "dropped": 2},  # the copy (other strand) and 34 shared
        "t carried, budget 10": {"windows": 3, "dropped": 1},  # 40 bases of the clean window
    }
    assert exposure["skipped"] == {"10": ["far"]} and list(sets["pseudo"]["10"]) == ["t"]
    kept = load_split(sets["unlabeled"]["t"], "train")["tokens"]
    assert [decode(x) for x in kept] == [clean[33:] + r[2][:33], r[3]]  # 31 shared: kept
    text = "\n".join(bench.exposure_lines(exposure))
    assert "excluded" in text and "no carried labels reached far" in text
    # Reused when nothing changed; --transductive: the raw sets, said so.
    assert bench.exclude_transductive(args, {k: dict(v) for k, v in raw.items()} | {
        "pseudo": {"10": dict(raw["pseudo"]["10"])}})["dropped"] == exposure["dropped"]  # fmt: skip
    args.transductive = True
    again = {k: dict(v) for k, v in raw.items()} | {"pseudo": {"10": dict(raw["pseudo"]["10"])}}
    exposure = bench.exclude_transductive(args, again)
    assert again["unlabeled"]["t"] == tmp_path / "unl" and exposure["dropped"] == {}
    assert "ALLOWED" in "\n".join(bench.exposure_lines(exposure))
