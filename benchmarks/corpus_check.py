"""Brute-force check of a pre-training corpus: is any held-out sequence inside it?

    python benchmarks/corpus_check.py runs/gue_sd/corpus \
        --held runs/gue_sd/shards/tf0,runs/gue_sd/shards/prom_core_tata --sample 3000 \
        --against-train

Independent of ``data_prep corpus``'s hashing: decodes every corpus window to text and looks
for a random sample of the held-out (valid and test) sequences, and their reverse complements,
with ``str.find``. ``--against-train`` runs the same search in the pooled raw train splits of
the ``--held`` sets, to show what the corpus removed. Prints the counts; exit 1 if the corpus
holds any.
"""

from __future__ import annotations

import argparse
import random
import sys
import time

from jaxssl.data.reader import load_split
from jaxssl.tokens import decode

COMPLEMENT = str.maketrans("ACGTN", "TGCAN")


def found(sample: list[str], text: str) -> int:
    return sum(s in text or s.translate(COMPLEMENT)[::-1] in text for s in sample)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("corpus", help="the corpus shard set (split train)")
    parser.add_argument("--held", required=True, help="labeled shard sets, a,b,c (valid+test)")
    parser.add_argument("--sample", type=int, default=3000, help="held-out sequences searched")
    parser.add_argument("--against-train", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    sets = [s for s in args.held.split(",") if s]
    held = [
        decode(x).strip("N")
        for path in sets
        for split in ("valid", "test")
        for x in load_split(path, split)["tokens"]
    ]
    sample = random.Random(args.seed).sample(held, min(args.sample, len(held)))
    windows = load_split(args.corpus, "train")["tokens"]
    started = time.perf_counter()
    hits = found(sample, "|".join(decode(w) for w in windows))
    print(
        f"{args.corpus}: {len(windows):,} windows; {hits} of {len(sample):,} sampled held-out "
        f"sequences (of {len(held):,}) found, either strand ({time.perf_counter() - started:.0f} s)"
    )
    if args.against_train:
        raw = "|".join(decode(w) for path in sets for w in load_split(path, "train")["tokens"])
        print(f"pooled raw train splits: {found(sample, raw)} of {len(sample):,} found")
    return 1 if hits else 0


if __name__ == "__main__":
    sys.exit(main())
