"""`python -m jaxssl <verb>` (also the `jaxssl` console script): use a trained model.

Verbs: ``predict`` (probabilities for FASTA / BED / CSV / shard-set sequences),
``score-variants`` (VCF or paired FASTA: p_ref, p_alt, difference, log odds ratio) and
``attribute`` (in-silico saturation mutagenesis and gradient x input, .npz + PNG logos) and
``export`` (the predict function as a jax.export StableHLO file; `jaxssl.use.exported` loads it)
and ``motifs`` (first-layer filters as MEME PWMs, matched to JASPAR).
Training is ``python -m jaxssl.main``. This module only parses flags and calls `jaxssl.use`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from jaxssl.errors import ConfigError


def _model_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("model")
    g.add_argument(
        "--model",
        type=Path,
        required=True,
        help="stage directory, or run directory (its final stage; all seeds averaged)",
    )
    g.add_argument("--stage", help="stage of a run directory (default: the run's final stage)")
    g.add_argument("--seed", type=int, help="one seed of a multi-seed run (default: mean of all)")
    g.add_argument(
        "--no-rc-average",
        dest="rc_average",
        action="store_false",
        help="forward strand only (default: mean of both strands; twice the cost)",
    )
    g.add_argument("--batch-size", type=int, default=256, help="sequences per device batch")
    g.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")


def _input_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("sequences (one of)")
    src = g.add_mutually_exclusive_group(required=True)
    src.add_argument("--fasta", type=Path, help="FASTA (gzip ok); names from the headers")
    src.add_argument("--bed", type=Path, help="BED/narrowPeak regions (needs --genome)")
    src.add_argument("--csv", type=Path, help="CSV/TSV with a 'sequence' column")
    src.add_argument("--shards", type=Path, help="a jaxssl shard set")
    g.add_argument("--genome", type=Path, help="genome FASTA for --bed")
    g.add_argument("--split", action="append", help="--shards: split(s) to score (default: all)")
    g.add_argument("--sequence-column", help="--csv: sequence column (default: sequence/seq)")
    g.add_argument(
        "--fix-chrom-names", action="store_true", help="translate 'chr1' <-> '1' to the genome's"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m jaxssl", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)

    p = verbs.add_parser(
        "predict",
        help="per-sequence probabilities",
        description="Per-sequence, per-task probabilities. Sequences of another length than the "
        "model's are centre-cropped or N-padded (counted), or tiled with --tile STRIDE (one row "
        "per tile). BED regions are read as model-length windows centred on the summit/centre "
        "(the whole region when tiling). IUPAC codes read as N.",
    )
    _model_args(p)
    _input_args(p)
    p.add_argument("--tile", type=int, metavar="STRIDE", help="score every tile at this stride")
    p.add_argument("--out", type=Path, required=True, help="OUT.tsv or OUT.parquet")
    p.set_defaults(func=run_predict)

    p = verbs.add_parser(
        "score-variants",
        help="variant effects (VCF + genome, or paired FASTA)",
        description="Per variant and task: p_ref, p_alt, diff (alt - ref) and log odds ratio. "
        "Each allele sits at the centre of its own model-length window of the genome (shared "
        "leading/trailing bases of REF and ALT trimmed first); multi-allelic records are split.",
    )
    _model_args(p)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--vcf", type=Path, help="VCF (plain or .gz); needs --genome")
    src.add_argument("--ref-fasta", type=Path, help="paired mode: reference-allele sequences")
    p.add_argument("--alt-fasta", type=Path, help="paired mode: alternative-allele sequences")
    p.add_argument("--genome", type=Path, help="genome FASTA for --vcf")
    p.add_argument(
        "--ref-mismatch",
        choices=["skip", "error", "genome"],
        default="skip",
        help="REF differs from the genome: skip the variant (default, counted), stop, or score "
        "the genome's bases as the reference",
    )
    p.add_argument(
        "--fix-chrom-names", action="store_true", help="translate 'chr1' <-> '1' to the genome's"
    )
    p.add_argument(
        "--out",
        type=Path,
        required=True,
        help="OUT.tsv, OUT.parquet, or OUT.vcf[.gz] (the input VCF with JAXSSL_* INFO fields)",
    )
    p.set_defaults(func=run_score_variants)

    p = verbs.add_parser(
        "attribute",
        help="in-silico mutagenesis and gradient x input",
        description="For each window: every single substitution scored (ISM: p(mutant) - "
        "p(sequence), [L, 4, T]) and gradient x input of the logits, both strand-averaged; "
        "written to attributions.npz with PNG sequence logos of the first --logos windows.",
    )
    _model_args(p)
    _input_args(p)
    p.add_argument("--max-sequences", type=int, default=100, help="windows to attribute")
    p.add_argument("--logos", type=int, default=10, help="windows to draw as PNG logos")
    p.add_argument("--out", type=Path, required=True, help="output directory")
    p.set_defaults(func=run_attribute)

    p = verbs.add_parser(
        "export",
        help="the predict function as a portable jax.export (StableHLO) file",
        description="Serializes the strand-averaged predict function (a seed ensemble's mean) "
        "with jax.export: uint8 tokens [B, seq_len] (A=0 C=1 G=2 T=3 N=4, any batch size B) -> "
        "probabilities [B, tasks], parameters baked in. Writes OUT and OUT.json (task names, "
        "seq_len, loss). Load with jaxssl.use.exported.load(OUT): jax and numpy only.",
    )
    _model_args(p)
    p.add_argument(
        "--platforms",
        help="comma-separated backends the file runs on, of cpu,cuda,tpu (default: this one)",
    )
    p.add_argument("--out", type=Path, required=True, help="model.jaxexport")
    p.set_defaults(func=run_export)

    p = verbs.add_parser(
        "motifs",
        help="first-layer filters as PWMs (MEME) matched to JASPAR motifs",
        description="Each first-layer filter becomes a PWM: the base counts of the windows (both "
        "strands) that activate it above --threshold x its maximum. Written as MEME (--out) with "
        "a table (--table, default OUT.tsv) of each filter's best --top database matches by a "
        "Tomtom-like score: Pearson r of the aligned, centred PPM columns over offsets and both "
        "strands, times overlap / the shorter width, with p-, E- and q-values against column-"
        "permuted filters (see jaxssl.use.motifs).",
    )
    _model_args(p)
    _input_args(p)
    p.add_argument("--max-sequences", type=int, default=5000, help="sequences to scan")
    p.add_argument("--threshold", type=float, default=0.5, help="site cut-off, x max activation")
    p.add_argument("--max-sites", type=int, default=1000, help="best windows per filter, at most")
    p.add_argument(
        "--database",
        type=Path,
        help="MEME file of known motifs (default: the JASPAR 2024 motifs shipped with jaxssl)",
    )
    p.add_argument("--top", type=int, default=3, help="matches per filter in the table")
    p.add_argument("--min-overlap", type=int, default=5, help="columns an alignment must share")
    p.add_argument(
        "--null-size",
        type=int,
        default=20000,
        help="null scores per filter for p/E/q-values: column permutations of the filter x "
        "database motifs (default 20000: p >= 5e-5; 0 = no p-values, faster)",
    )
    p.add_argument("--out", type=Path, required=True, help="motifs.meme")
    p.add_argument("--table", type=Path, help="matches table (.tsv/.parquet; default OUT.tsv)")
    p.set_defaults(func=run_motifs)
    return parser


def _load(args: argparse.Namespace):
    from jaxssl.use.model import Predictor, load_model

    model = load_model(args.model, stage=args.stage, seed=args.seed)
    print(f"jaxssl: {model.describe()}", file=sys.stderr)
    return Predictor(
        model, rc_average=args.rc_average, batch_size=args.batch_size, progress=args.progress
    )


def _read_inputs(args: argparse.Namespace, seq_len: int, *, whole_regions: bool = False):
    from jaxssl.use import inputs

    if args.fasta:  # refused as data_prep refuses them: protein/RNA, 0 bp records
        return inputs.check_dna(inputs.read_fasta(args.fasta))
    if args.csv:
        return inputs.check_dna(inputs.read_csv(args.csv, sequence_column=args.sequence_column))
    if args.shards:
        return inputs.read_shards(args.shards, args.split)
    if not args.genome:
        raise ConfigError("--bed needs --genome FASTA to read the regions from")
    window = None if whole_regions else seq_len
    return inputs.read_bed(
        args.bed, args.genome, window=window, fix_chrom_names=args.fix_chrom_names
    )


def run_predict(args: argparse.Namespace) -> int:
    from jaxssl.use.output import write_table
    from jaxssl.use.score import score_sequences

    predictor = _load(args)
    seqs = _read_inputs(args, predictor.model.seq_len, whole_regions=bool(args.tile))
    scored = score_sequences(predictor, seqs, tile=args.tile)
    write_table(args.out, scored.columns)
    rows = len(scored.columns["name"])
    print(f"{len(seqs)} sequences, {rows} rows; {scored.summary(predictor.model.seq_len)}")
    print(f"wrote {args.out}")
    return 0


def run_score_variants(args: argparse.Namespace) -> int:
    from jaxssl.use import variants
    from jaxssl.use.output import write_table

    predictor = _load(args)
    if args.vcf:
        if not args.genome:
            raise ConfigError("--vcf needs --genome FASTA (the reference the VCF was called on)")
        pairs = variants.vcf_pairs(
            args.vcf,
            args.genome,
            seq_len=predictor.model.seq_len,
            ref_mismatch=args.ref_mismatch,
            fix_chrom_names=args.fix_chrom_names,
        )
    else:
        if not args.alt_fasta:
            raise ConfigError("--ref-fasta needs --alt-fasta (records paired by name)")
        pairs = variants.fasta_pairs(
            args.ref_fasta, args.alt_fasta, seq_len=predictor.model.seq_len
        )
    result = variants.score_pairs(predictor, pairs)
    if args.out.name.endswith((".vcf", ".vcf.gz")):
        if not args.vcf:
            raise ConfigError("VCF output (--out *.vcf[.gz]) needs --vcf input")
        variants.write_vcf(args.vcf, args.out, result, predictor.model.output_names)
    else:
        write_table(args.out, result.columns)
    print(result.summary())
    print(f"wrote {args.out}")
    return 0


def run_attribute(args: argparse.Namespace) -> int:
    from jaxssl.use import attribution, lengths

    predictor = _load(args)
    seqs = _read_inputs(args, predictor.model.seq_len)
    n = min(len(seqs), args.max_sequences)
    tokens, stats = lengths.fit(seqs.sequences[:n], predictor.model.seq_len)
    result = attribution.attribute(predictor, tokens, names=seqs.names[:n])
    written = attribution.save(result, args.out, logos=args.logos)
    print(
        f"{n} windows attributed ({stats.cropped} cropped, {stats.padded} padded); wrote "
        f"{len(written)} files to {args.out}"
    )
    return 0


def run_export(args: argparse.Namespace) -> int:
    from jaxssl.use.export import write_export
    from jaxssl.use.model import load_model

    model = load_model(args.model, stage=args.stage, seed=args.seed)
    print(f"jaxssl: {model.describe()}", file=sys.stderr)
    platforms = (
        [p.strip() for p in args.platforms.split(",") if p.strip()] if args.platforms else None
    )
    out, meta = write_export(model, args.out, rc_average=args.rc_average, platforms=platforms)
    size = out.stat().st_size / 2**20
    print(f"wrote {out} ({size:.1f} MiB) and {meta}; load with jaxssl.use.exported.load")
    return 0


def run_motifs(args: argparse.Namespace) -> int:
    from jaxssl.toyworld.motifs import SHIPPED_MEME, read_meme
    from jaxssl.use import motifs
    from jaxssl.use.model import load_model
    from jaxssl.use.output import atomic_text, write_table

    model = load_model(args.model, stage=args.stage, seed=args.seed)
    print(f"jaxssl: {model.describe()}", file=sys.stderr)
    database = read_meme(args.database or SHIPPED_MEME)
    seqs = _read_inputs(args, model.seq_len)
    tokens = motifs.fit_for_motifs(seqs.sequences[: args.max_sequences], model.seq_len)
    pwms = []
    for m, params in enumerate(model.params):
        layer, kernel, bias = motifs.first_layer(params)
        prefix = f"seed{m}_" if len(model.params) > 1 else ""
        names = [f"{prefix}filter_{f}" for f in range(kernel.shape[2])]
        pwms += motifs.filter_pwms(
            tokens,
            kernel,
            bias,
            threshold=args.threshold,
            max_sites=args.max_sites,
            both_strands=args.rc_average,
            names=names,
        )
    table = motifs.match_table(
        pwms, database, top=args.top, min_overlap=args.min_overlap, null_size=args.null_size
    )
    with atomic_text(args.out) as f:
        f.write(motifs.meme_text(pwms))
    table_path = args.table or args.out.with_name(args.out.name + ".tsv")
    write_table(table_path, table)
    dead = sum(p.nsites == 0 for p in pwms)
    print(
        f"{len(pwms)} filters of {layer} ({dead} never active) from {len(tokens)} sequences; "
        f"matched against {len(database)} motifs of {args.database or SHIPPED_MEME}"
    )
    for row in range(len(pwms)):
        if table["match1_id"][row]:
            print(
                f"  {table['filter'][row]}: {table['match1_name'][row]} "
                f"({table['match1_id'][row]}, score {table['match1_score'][row]:.2f}, "
                f"E {table['match1_e'][row]:.2g})"
            )
    print(f"wrote {args.out} and {table_path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ValueError, OSError) as err:  # ConfigError is a ValueError
        message = " ".join(str(err).split()) or type(err).__name__
        print(f"jaxssl {args.verb}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
