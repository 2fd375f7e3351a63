"""Brute-force check of a pre-training corpus: does any window share K bases with a held-out
sequence?

    python benchmarks/corpus_check.py runs/gue_sd/corpus \
        --held runs/gue_sd/shards/tf0,runs/gue_sd/shards/prom_core_tata --sample 3000 \
        --against-train

Independent of ``data_prep corpus``'s k-mer index (``jaxssl.data.overlap``): every corpus window
is decoded to text, and for a random sample of the held-out (valid and test) sequences every
length-K substring of each one and of its reverse complement goes into a Python set of strings;
a window is flagged when one of its own length-K substrings is in that set. K is recomputed
here from the rule the corpus's manifest records (``--min-shared``, default half the shorter
length, rounded down, never more than the shorter length). ``--against-train`` runs the same
search in the pooled raw train splits of the ``--held`` sets, to show what the corpus removed.
Prints the counts; exit 1 if any window shares K bases.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

COMPLEMENT = str.maketrans("ACGTN", "TGCAN")


def rc(s: str) -> str:
    return s.translate(COMPLEMENT)[::-1]


def threshold_rule(min_shared: int | None) -> Callable[[int, int], int]:
    """K for a window of content length m and a held-out sequence of length n."""

    def k(m: int, n: int) -> int:
        short = min(m, n)
        return min(min_shared, short) if min_shared else max(1, short // 2)

    return k


def brute_force_hits(
    windows: list[str], held: list[str], k_of: Callable[[int, int], int]
) -> list[bool]:
    """Per window (N padding stripped): does it share a substring of >= K called bases with a
    held-out sequence, on either strand? Plain string slicing and set look-ups."""
    windows = [w.strip("N") for w in windows]
    held = [h.strip("N") for h in held if h.strip("N")]
    out = [False] * len(windows)
    by_len: dict[int, list[int]] = {}
    for i, w in enumerate(windows):
        by_len.setdefault(len(w), []).append(i)
    for m, rows in by_len.items():
        needles: dict[int, set[str]] = {}
        for h in held:
            k = k_of(m, len(h))
            bag = needles.setdefault(k, set())
            for s in (h, rc(h)):
                bag.update(x for i in range(len(s) - k + 1) if "N" not in (x := s[i : i + k]))
        for i in rows:
            w = windows[i]
            out[i] = any(
                w[j : j + k] in bag for k, bag in needles.items() for j in range(len(w) - k + 1)
            )
    return out


def main() -> int:
    from jaxssl.data.reader import load_split
    from jaxssl.tokens import decode

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("corpus", help="the corpus shard set (split train)")
    parser.add_argument("--held", required=True, help="labeled shard sets, a,b,c (valid+test)")
    parser.add_argument("--sample", type=int, default=3000, help="held-out sequences searched")
    parser.add_argument("--against-train", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    meta = json.loads((Path(args.corpus) / "manifest.json").read_text())["metadata"]
    rule = meta.get("min_shared")
    k_of = threshold_rule(rule if isinstance(rule, int) else None)
    sets = [s for s in args.held.split(",") if s]
    held = [
        decode(x).strip("N")
        for path in sets
        for split in ("valid", "test")
        for x in load_split(path, split)["tokens"]
    ]
    sample = random.Random(args.seed).sample(held, min(args.sample, len(held)))
    windows = [decode(w) for w in load_split(args.corpus, "train")["tokens"]]
    started = time.perf_counter()
    hits = sum(brute_force_hits(windows, sample, k_of))
    print(
        f"{args.corpus}: {len(windows):,} windows; {hits:,} share K bases (K: "
        f"{rule or 'half the shorter length'}) with one of {len(sample):,} sampled held-out "
        f"sequences (of {len(held):,}), either strand ({time.perf_counter() - started:.0f} s)"
    )
    if args.against_train:
        raw = [decode(w) for path in sets for w in load_split(path, "train")["tokens"]]
        found = sum(brute_force_hits(raw, sample, k_of))
        print(f"pooled raw train splits: {found:,} of {len(raw):,} share K bases")
    return 1 if hits else 0


if __name__ == "__main__":
    sys.exit(main())
