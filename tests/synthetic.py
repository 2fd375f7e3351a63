"""A tiny labeled shard set with a planted motif, for trainer tests (seconds, no genome)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from jaxssl.data.writer import ShardSetWriter
from jaxssl.tokens import encode

MOTIFS = ("TGACTCA", "CACGTG")  # AP-1 and E-box: task t is positive when motif t is present


def make_motif_shards(
    out_dir: Path, *, seq_len: int = 40, n_train: int = 512, n_eval: int = 128, seed: int = 0
) -> Path:
    rng = np.random.default_rng(seed)
    with ShardSetWriter(
        out_dir, seq_len=seq_len, task_names=["ap1", "ebox"], command="tests/synthetic.py"
    ) as writer:
        for split, n in (("train", n_train), ("valid", n_eval), ("test", n_eval)):
            tokens_NL = rng.integers(0, 4, (n, seq_len), dtype=np.uint8)
            labels_NT = (rng.random((n, len(MOTIFS))) < 0.4).astype(np.float32)
            for i in range(n):
                for t, motif in enumerate(MOTIFS):
                    if labels_NT[i, t]:
                        pos = rng.integers(0, seq_len - len(motif))
                        tokens_NL[i, pos : pos + len(motif)] = encode(motif)
            writer.add_batch(split, tokens_NL, labels_NT, np.ones(n, np.float32), genome="synth")
    return out_dir
