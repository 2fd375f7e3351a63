"""`corpus`: a pre-training corpus from shard sets and FASTA files that shares no stretch of a
held-out sequence.

Every --from sequence (a shard set's split, labels dropped and N padding stripped, or a FASTA
record) is tiled into --seq-len windows every --stride bases (default: --seq-len), plus a last
window ending at the sequence end; a shorter sequence is one centred, N-padded window. Dropped
and counted per source: windows with more than --max-n-frac N in their content, windows that
share K bases with a held-out (--exclude) sequence, and exact repeats (either strand) of an
earlier window.

Held-out test, exact on both strands: a window is dropped when it and a held-out sequence (N
padding stripped) have a common substring of at least K called bases, on either strand (N never
matches). K = --min-shared, by default half the shorter of the two lengths (rounded down), and
never more than the shorter length: a window holding a held-out sequence, or inside one, is
always dropped; a 101 bp test sequence split 41 + 60 over two windows drops the window with 60.

  # GUE train sequences + a genome's windows, without the GUE set's valid and test sequences
  python -m data_prep corpus corpus/ --seq-len 101 --from shards/gue_tf0,genome.fa.gz \\
      --exclude shards/gue_tf0 --exclude shards/gue_tf1:test --stride 50
  # a FASTA of held-out sequences of any lengths
  python -m data_prep corpus corpus/ --seq-len 200 --from other.fa --exclude held_out.fa

The work is ``jaxssl.prep.corpus.build_corpus``; this verb parses flags and prints a summary.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "corpus",
        help="unlabeled pre-training windows from shard sets/FASTA, minus held-out sequences",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("out_dir", type=Path, help="shard-set directory to create")
    p.add_argument("--seq-len", type=int, required=True, help="window length W")
    p.add_argument(
        "--from",
        dest="sources",
        action="append",
        required=True,
        metavar="SRC",
        help="a shard set (its train split; SET:SPLIT for another) or a FASTA file (gzip ok); "
        "comma-separated, repeatable",
    )
    p.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="HELD",
        help="held-out sequences: SET (every split but train), SET:test, SET:valid+test, or a "
        "FASTA file (all records); comma-separated, repeatable",
    )
    p.add_argument("--stride", type=int, help="window step (default: --seq-len, no overlap)")
    p.add_argument(
        "--max-n-frac",
        type=float,
        default=0.1,
        help="drop windows whose content is more than this fraction N (default 0.1)",
    )
    p.add_argument(
        "--min-shared",
        type=int,
        metavar="K",
        help="drop a window sharing a run of >= K bases with a held-out sequence, either strand "
        "(default: half the shorter of the two lengths, rounded down)",
    )
    p.add_argument("--overwrite", action="store_true", help="replace out_dir on success")
    p.set_defaults(func=run)


def check_sources(specs: list[str]) -> None:
    """Refuses a --from split whose role is held out (valid/test, whatever its name): a corpus
    pre-trains models, and a test split in it is a test split trained on."""
    from jaxssl.data.manifest import check_source_split
    from jaxssl.prep.corpus import parse_spec

    for spec in (s.strip() for entry in specs for s in str(entry).split(",") if s.strip()):
        kind, path, splits = parse_spec(spec, "--from")
        for split in (splits or ["train"]) if kind == "set" else []:
            check_source_split(path, split, f"--from {spec}", "enter a pre-training corpus")


def run(args: argparse.Namespace) -> int:
    from jaxssl.prep.corpus import build_corpus

    check_sources(args.sources)
    m = build_corpus(
        args.out_dir,
        seq_len=args.seq_len,
        sources=args.sources,
        exclude=args.exclude,
        stride=args.stride,
        max_n_frac=args.max_n_frac,
        min_shared=args.min_shared,
        overwrite=args.overwrite,
        command=args.command_line,
        progress=sys.stderr.isatty(),
    )
    meta = m.metadata
    columns = ["considered", "dropped_n_frac", "dropped_held_out", "dropped_duplicate", "written"]
    rows = [[s["source"], *(f"{s[c]:,}" for c in columns)] for s in meta["sources"]]
    rows.append(["total", *(f"{meta['counts'][c]:,}" for c in columns)])
    header = ["source", "considered", "n_frac", "held_out", "duplicate", "written"]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for r in [header, *rows]:
        print(
            "  ".join(
                r[0].ljust(widths[0]) if i == 0 else v.rjust(widths[i]) for i, v in enumerate(r)
            )
        )
    for h in meta["held_out"]:
        lengths = h["lengths"]
        shown = ", ".join(map(str, lengths[:8])) + (", ..." if len(lengths) > 8 else "")
        print(f"held out: {h['source']}: {h['sequences']:,} sequences, lengths {shown}")
    print(f"check: {meta['check']}; wrote {args.out_dir}")
    return 0
