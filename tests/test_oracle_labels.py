"""toy:homology_oracle and toy:homology_random: the carried windows of toy:homology with their
true binding (the ceiling of positive control A) or random labels at the carried base rate (its
floor); same rows, same leakage guard, same label budget."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from jaxssl.config import base_config, resolve_stage, with_stage_slots
from jaxssl.data.manifest import load_manifest
from jaxssl.data.pipeline import load_split
from jaxssl.datasets import parse_sources
from jaxssl.homology.chain import read_chains
from jaxssl.homology.leakage import LeakageGuard, held_out_of_set
from jaxssl.toyworld import load_world_info
from tests.test_homology import SMALL

SEED = 5
PROVENANCE = ("tokens", "genome", "chrom", "start", "strand", "weights", "source_index", "mapq")


def _data(**data):
    config = base_config()
    config.stages = "main"
    config.data.path = ""
    for key, value in SMALL.to_dict().items():
        config.data.toy_world[key] = list(value) if isinstance(value, tuple) else value
    config.data.label_seed = SEED
    for key, value in data.items():
        config.data[key] = value
    return resolve_stage(with_stage_slots(config), "main").data


def _sets(data) -> dict[str, list[Path]]:
    return {
        kind: [Path(s.path) for s in parse_sources(f"toy:{kind}", data)]
        for kind in ("homology", "homology_oracle", "homology_random")
    }


@pytest.fixture(scope="module")
def toy(tmp_path_factory) -> dict:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("JAXSSL_CACHE", str(tmp_path_factory.mktemp("cache")))
        data = _data()
        sets = _sets(data)
        budget = _sets(_data(max_positives=15))
        other_seed = _sets(_data(label_seed=SEED + 1))["homology_random"]
        meta = load_manifest(sets["homology"][0]).metadata
        labeled = Path(meta["labeled"])
        world = labeled.parents[1]
        yield {"sets": sets, "budget": budget, "other_seed": other_seed, "labeled": labeled,
               "world": world, "info": load_world_info(world)}  # fmt: skip


def _truth(world: Path, genome: str, tfs: list[str], cols: dict, seq_len: int) -> np.ndarray:
    """Independent of the library: a site's centre lies in [start, start + L) (brute force)."""
    out = np.zeros((len(cols["start"]), len(tfs)), np.float32)
    for t, tf in enumerate(tfs):
        rows = [line.split("\t") for line in (world / "truth" / genome / f"{tf}.bed").read_text()
                .splitlines()]  # fmt: skip
        for chrom in set(cols["chrom"]):
            centres = np.array([(int(r[1]) + int(r[2])) // 2 for r in rows if r[0] == chrom])
            on = cols["chrom"] == chrom
            if len(centres):
                start = cols["start"][on][:, None]
                out[on, t] = ((centres >= start) & (centres < start + seq_len)).any(axis=1)
    return out


def test_three_sets_hold_the_same_rows(toy):
    sets = toy["sets"]
    assert [p.name for p in sets["homology_oracle"]] == [p.name for p in sets["homology"]]
    for carried, oracle, random in zip(*sets.values(), strict=True):
        a, b, c = (load_split(p, "train") for p in (carried, oracle, random))
        assert len(a["tokens"]) > 500
        for key in PROVENANCE:
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)
            np.testing.assert_array_equal(a[key], c[key], err_msg=key)
        for p, mode in ((oracle, "oracle"), (random, "random")):
            meta = load_manifest(p).metadata
            assert meta["kind"] == "homology" and meta["labels"] == mode
            assert meta["leakage"] == load_manifest(carried).metadata["leakage"]


def test_oracle_labels_are_the_truth(toy):
    tfs = toy["info"]["tfs"]
    for carried, oracle in zip(
        toy["sets"]["homology"], toy["sets"]["homology_oracle"], strict=True
    ):
        cols = load_split(oracle, "train")
        truth = _truth(toy["world"], oracle.name, tfs, cols, load_manifest(oracle).seq_len)
        np.testing.assert_array_equal(cols["labels"], truth)
        given = load_split(carried, "train")["labels"]
        # Truth is not the carried labels, but close for a close relative.
        assert 0.8 < np.mean(given == truth) < 1.0
        assert (truth > 0.5).sum() > 0.5 * (given > 0.5).sum()


def test_no_window_of_a_held_out_chromosome_or_its_ortholog(toy):
    labeled = toy["labeled"]
    source_chroms = load_split(labeled, "train")["chrom"]
    held_out = held_out_of_set(labeled)
    assert held_out.chroms == ["chr4", "chr5"]
    for kind in ("homology_oracle", "homology_random"):
        for path in toy["sets"][kind] + toy["budget"][kind]:
            cols = load_split(path, "train")
            rows = cols["source_index"].astype(np.int64)
            assert not set(source_chroms[rows]) & {"chr4", "chr5"}
            genome = load_manifest(path).metadata["target"]
            chains = read_chains(toy["world"] / "chains" / f"ref_to_{genome}.chain")
            guard = LeakageGuard.through_chains(held_out, chains)
            assert guard.screen(cols["chrom"], cols["start"], 200).keep.all(), path


def test_random_labels_have_the_carried_base_rate_and_no_truth(toy):
    sets = toy["sets"]
    for carried, oracle, random, other in zip(*sets.values(), toy["other_seed"], strict=True):
        given = load_split(carried, "train")["labels"]
        truth = load_split(oracle, "train")["labels"]
        drawn = load_split(random, "train")["labels"]
        np.testing.assert_array_equal(np.isnan(drawn), np.isnan(given))
        np.testing.assert_allclose(np.nanmean(drawn, 0), np.nanmean(given, 0), atol=0.02)
        assert not np.array_equal(drawn, load_split(other, "train")["labels"])  # seeded
        for t in range(given.shape[1]):
            rate = truth[:, t].mean()
            chance = rate * drawn[:, t].mean() + (1 - rate) * (1 - drawn[:, t].mean())
            agree = np.mean(drawn[:, t] == truth[:, t])
            assert agree == pytest.approx(chance, abs=0.05)
            # A random positive is truly bound at the base rate; a carried one far more often.
            bound = truth[:, t] > 0.5
            random_precision = bound[drawn[:, t] > 0.5].mean()
            assert random_precision < rate + 0.1
            assert bound[given[:, t] > 0.5].mean() > random_precision + 0.3


def test_label_budget_keeps_the_same_windows(toy):
    budget = toy["budget"]
    tfs = toy["info"]["tfs"]
    assert all(p.parent.name == "label_budget" for ps in budget.values() for p in ps)
    for carried, oracle, random, full in zip(*budget.values(), toy["sets"]["homology"],
                                             strict=True):  # fmt: skip
        a, b, c = (load_split(p, "train") for p in (carried, oracle, random))
        assert 0 < len(a["tokens"]) < len(load_split(full, "train")["tokens"])
        for key in PROVENANCE:
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)
            np.testing.assert_array_equal(a[key], c[key], err_msg=key)
        # The oracle keeps the truth on every kept window, even where the budget masked the
        # carried positive (a ceiling: these windows, labeled perfectly).
        genome = load_manifest(oracle).metadata["target"]
        truth = _truth(toy["world"], genome, tfs, b, 200)
        np.testing.assert_array_equal(b["labels"], truth)
        masked = np.isnan(a["labels"])
        assert masked.any()
        # Random labels: the budgeted carried set's missing labels and base rate.
        np.testing.assert_array_equal(np.isnan(c["labels"]), masked)
        np.testing.assert_allclose(np.nanmean(c["labels"], 0), np.nanmean(a["labels"], 0),
                                   atol=0.04)  # fmt: skip
        assert not np.array_equal(c["labels"], a["labels"], equal_nan=True)
