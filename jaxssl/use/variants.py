"""`score-variants`: the effect of each variant on each task, as reference vs. alternative window.

Window placement. REF and ALT are first reduced to their minimal form (shared leading, then
trailing, bases removed, so VCF's padding base of an indel is not part of the allele). Each
allele is then placed at the centre of its own window of the model's length ``L``: with ``m``
allele bases and centre ``c = L // 2``, the window holds the ``c - m // 2`` genome bases before
the variant, the allele, and the genome bases after the replaced span up to ``L``. For an SNV
both windows differ at position ``c`` only; an insertion's inserted bases are centred; a
deletion's junction sits at ``c`` (the deleted bases are centred in the reference window).
Alleles longer than the window are skipped with that reason.

REF is checked against the genome: ``skip`` (default) scores no mismatching variant and says
why (``ref_match`` = false, ``status``), ``error`` stops at the first one naming the VCF line,
``genome`` scores the genome's own bases as the reference allele. Multi-allelic records are
split into one row per ALT. Chromosome names are reconciled as in ``data_prep from-peaks``.
"""

from __future__ import annotations

import gzip
import io
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from jaxssl.genome.fasta import Genome, resolve_chroms
from jaxssl.tokens import N, encode
from jaxssl.use import lengths
from jaxssl.use.bgzf import BgzfWriter
from jaxssl.use.inputs import check_dna, read_fasta
from jaxssl.use.model import Predictor
from jaxssl.use.output import atomic_path

REF_MISMATCH_MODES = ("skip", "error", "genome")
_ACGTN = set("ACGTN")
EPS = 1e-7

Fetch = Callable[[int, int], np.ndarray]  # (start, end) -> tokens, N outside the chromosome


@dataclass
class VcfRecord:
    line: int
    chrom: str
    pos: int  # 1-based, as in the VCF
    id: str
    ref: str
    alts: list[str]


def read_vcf(path: str | Path) -> list[VcfRecord]:
    """The records of a VCF (plain, gzip or bgzip); only CHROM..ALT are read."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such VCF file")
    with open(path, "rb") as f:
        gz = f.read(2) == b"\x1f\x8b"
    records = []
    lineno = 0
    try:
        with gzip.open(path, "rt") if gz else open(path) as f:
            for lineno, raw in enumerate(f, start=1):
                text = raw.rstrip("\r\n")
                if not text or text.startswith("#"):
                    continue
                fields = text.split("\t")
                if len(fields) < 5:
                    raise ValueError(
                        f"{path}: line {lineno}: {len(fields)} tab-separated fields; expected "
                        "VCF columns CHROM POS ID REF ALT ..."
                    )
                try:
                    pos = int(fields[1])
                except ValueError:
                    raise ValueError(
                        f"{path}: line {lineno}: POS {fields[1]!r} is not an integer"
                    ) from None
                if pos < 1:
                    raise ValueError(f"{path}: line {lineno}: POS {pos}; VCF positions are 1-based")
                records.append(
                    VcfRecord(
                        lineno,
                        fields[0],
                        pos,
                        fields[2],
                        fields[3].upper(),
                        fields[4].upper().split(","),
                    )
                )
    except (EOFError, OSError, UnicodeDecodeError) as err:
        if isinstance(err, FileNotFoundError | PermissionError):
            raise
        raise ValueError(
            f"{path}: after line {lineno}: unreadable ({type(err).__name__}: {err}); "
            "re-download or re-compress it (`gzip -t FILE` tests a gzip file)"
        ) from None
    return records


def minimal_alleles(pos0: int, ref: str, alt: str) -> tuple[int, str, str]:
    """(0-based start, ref, alt) without shared leading (VCF's padding base), then trailing,
    bases: the bases that actually change, which is what the window centres. Identical alleles
    (ALT equal to the genome under --ref-mismatch genome) stay as given."""
    if ref == alt:
        return pos0, ref, alt
    while ref and alt and ref[0] == alt[0]:
        ref, alt, pos0 = ref[1:], alt[1:], pos0 + 1
    while ref and alt and ref[-1] == alt[-1]:
        ref, alt = ref[:-1], alt[:-1]
    return pos0, ref, alt


def allele_window(fetch: Fetch, pos0: int, span: int, allele: str, seq_len: int) -> np.ndarray:
    """Tokens [seq_len]: the genome with [pos0, pos0 + span) replaced by ``allele``, placed so
    that the allele's middle is the window centre (see the module docstring)."""
    m = len(allele)
    if m > seq_len:
        raise ValueError(f"allele of {m} bases is longer than the {seq_len} bp window")
    left = seq_len // 2 - m // 2
    right = seq_len - left - m
    return np.concatenate(
        [fetch(pos0 - left, pos0), encode(allele), fetch(pos0 + span, pos0 + span + right)]
    ).astype(np.uint8)


@dataclass
class Pairs:
    """Reference and alternative windows of every row; rows with a ``status`` other than
    ``ok`` carry N windows and are not scored."""

    columns: dict[str, list] = field(default_factory=dict)
    ref_NL: np.ndarray | None = None
    alt_NL: np.ndarray | None = None
    status: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _ref_matches(genome_ref: np.ndarray, ref: str) -> bool:
    given = encode(ref)
    return bool(np.all((given == genome_ref) | (given == N)))


def vcf_pairs(
    vcf: str | Path,
    genome_path: str | Path,
    *,
    seq_len: int,
    ref_mismatch: str = "skip",
    fix_chrom_names: bool = False,
) -> Pairs:
    """One row per (record, ALT) with its two windows; see the module docstring."""
    if ref_mismatch not in REF_MISMATCH_MODES:
        raise ValueError(f"--ref-mismatch must be one of {REF_MISMATCH_MODES}, got {ref_mismatch}")
    records = read_vcf(vcf)
    if not records:
        raise ValueError(f"{vcf}: no variant records (only header lines?)")
    genome = Genome(genome_path)
    mapping = resolve_chroms(
        sorted({r.chrom for r in records}), genome, source=str(vcf), fix_names=fix_chrom_names
    )
    cols: dict[str, list] = {k: [] for k in ("chrom", "pos", "id", "ref", "alt", "ref_match")}
    refs, alts, status = [], [], []
    empty = np.full(seq_len, N, np.uint8)
    for rec in records:
        chrom = mapping[rec.chrom]
        pos0 = rec.pos - 1
        known = chrom is not None and pos0 + len(rec.ref) <= genome.lengths[chrom]
        genome_ref = genome.fetch(chrom, pos0, pos0 + len(rec.ref)) if known else None
        for alt in rec.alts:
            row_status, ref_window, alt_window = "ok", empty, empty
            match = None
            if chrom is None:
                row_status = "chromosome not in genome"
            elif not known:
                row_status = "beyond chromosome end"
            elif not set(rec.ref) <= _ACGTN or not alt or not set(alt) <= _ACGTN:
                row_status = "symbolic or non-ACGTN allele"
            else:
                match = _ref_matches(genome_ref, rec.ref)
                ref_text = rec.ref
                if not match:
                    if ref_mismatch == "error":
                        genome_text = "".join("ACGTN"[t] for t in genome_ref)
                        raise ValueError(
                            f"{vcf}: line {rec.line}: REF {rec.ref} but {genome_path} has "
                            f"{genome_text} at {rec.chrom}:{rec.pos}; check the assembly, or pass "
                            "--ref-mismatch skip (count and skip) or genome (score the genome)"
                        )
                    if ref_mismatch == "skip":
                        row_status = "REF does not match the genome"
                    else:
                        ref_text = "".join("ACGTN"[t] for t in genome_ref)
                if row_status == "ok":
                    p, r, a = minimal_alleles(pos0, ref_text, alt)
                    if max(len(r), len(a)) > seq_len:
                        row_status = f"allele longer than the {seq_len} bp window"
                    else:

                        def fetch(lo: int, hi: int, chrom: str = chrom) -> np.ndarray:
                            return genome.fetch(chrom, lo, hi, count=False)

                        ref_window = allele_window(fetch, p, len(r), r, seq_len)
                        alt_window = allele_window(fetch, p, len(r), a, seq_len)
            cols["chrom"].append(rec.chrom)
            cols["pos"].append(rec.pos)
            cols["id"].append(rec.id)
            cols["ref"].append(rec.ref)
            cols["alt"].append(alt)
            cols["ref_match"].append(match)
            refs.append(ref_window)
            alts.append(alt_window)
            status.append(row_status)
    genome.close()
    notes = []
    if ref_mismatch == "genome":
        changed = sum(1 for m in cols["ref_match"] if m is False)
        notes.append(f"{changed} variants scored with the genome's bases as REF")
    return Pairs(cols, np.stack(refs), np.stack(alts), status, notes)


def fasta_pairs(ref_fasta: str | Path, alt_fasta: str | Path, *, seq_len: int) -> Pairs:
    """Paired mode: records of two FASTA files matched by name (order of the first file),
    each fitted to the model's length (centre-crop / N-pad, counted)."""
    ref, alt = check_dna(read_fasta(ref_fasta)), check_dna(read_fasta(alt_fasta))
    for fasta, seqs in ((ref_fasta, ref), (alt_fasta, alt)):
        dup = [n for n, c in Counter(seqs.names).items() if c > 1]
        if dup:
            raise ValueError(
                f"{fasta}: {len(dup)} record names occur more than once (e.g. {dup[0]!r}); "
                "paired mode matches records by name"
            )
    alt_by_name = dict(zip(alt.names, alt.sequences, strict=True))
    missing = [n for n in ref.names if n not in alt_by_name]
    extra = set(alt.names) - set(ref.names)
    if missing or extra:
        example = missing[0] if missing else sorted(extra)[0]
        raise ValueError(
            f"{ref_fasta} and {alt_fasta} do not hold the same record names ({len(missing)} only "
            f"in the first, {len(extra)} only in the second, e.g. {example!r})"
        )
    ref_NL, ref_stats = lengths.fit(ref.sequences, seq_len)
    alt_NL, _ = lengths.fit([alt_by_name[n] for n in ref.names], seq_len)
    status = ["ok"] * len(ref)
    unequal = sum(
        len(s) != len(alt_by_name[n]) for n, s in zip(ref.names, ref.sequences, strict=True)
    )
    notes = [
        f"length {seq_len}: {ref_stats.exact} exact, {ref_stats.cropped} centre-cropped, "
        f"{ref_stats.padded} N-padded; {unequal} pairs of unequal length"
    ]
    return Pairs({"name": list(ref.names)}, ref_NL, alt_NL, status, notes)


@dataclass
class VariantScores:
    columns: dict[str, list | np.ndarray]
    status: list[str]
    notes: list[str]

    def summary(self) -> str:
        counts = Counter(self.status)
        parts = [f"{counts.pop('ok', 0)} variants scored"]
        parts += [f"{n} skipped: {why}" for why, n in counts.most_common()]
        return "; ".join(parts + self.notes)


def log_odds(p: np.ndarray) -> np.ndarray:
    p = np.clip(p.astype(np.float64), EPS, 1 - EPS)
    return np.log(p) - np.log1p(-p)


def score_pairs(predictor: Predictor, pairs: Pairs) -> VariantScores:
    """p_ref, p_alt, diff = p_alt - p_ref and log odds ratio per output; NaN where skipped."""
    ok = np.asarray([s == "ok" for s in pairs.status])
    n, k = len(pairs.status), predictor.model.num_outputs
    p_ref = np.full((n, k), np.nan, np.float32)
    p_alt = np.full((n, k), np.nan, np.float32)
    if ok.any():
        both = predictor(np.concatenate([pairs.ref_NL[ok], pairs.alt_NL[ok]]), desc="variants")
        p_ref[ok], p_alt[ok] = both[: ok.sum()], both[ok.sum() :]
    columns: dict[str, list | np.ndarray] = dict(pairs.columns)
    columns["status"] = list(pairs.status)
    for j, name in enumerate(predictor.model.output_names):
        columns[f"p_ref_{name}"] = p_ref[:, j]
        columns[f"p_alt_{name}"] = p_alt[:, j]
        columns[f"diff_{name}"] = p_alt[:, j] - p_ref[:, j]
        columns[f"log_odds_ratio_{name}"] = (log_odds(p_alt[:, j]) - log_odds(p_ref[:, j])).astype(
            np.float32
        )
    return VariantScores(columns, list(pairs.status), list(pairs.notes))


def _info_key(text: str) -> str:
    key = "".join(c if c.isalnum() or c in "_." else "_" for c in text)
    return key if key[:1].isalpha() or key[:1] == "_" else f"_{key}"


def _info_value(value: float) -> str:
    return "." if np.isnan(value) else f"{value:.6g}"


def write_vcf(vcf: str | Path, out: str | Path, scores: VariantScores, output_names: list[str]):
    """The input VCF with per-ALT INFO fields (Number=A) for each output: JAXSSL_P_REF_<t>,
    JAXSSL_P_ALT_<t>, JAXSSL_DIFF_<t>, JAXSSL_LOR_<t>, and JAXSSL_STATUS (why a row was not
    scored). Written BGZF-compressed when ``out`` ends in .gz (as bgzip writes it, so
    ``tabix -p vcf`` / ``bcftools index`` index it directly), atomically."""
    fields = [("P_REF", "p_ref", "probability of the reference window")]
    fields += [("P_ALT", "p_alt", "probability of the alternative window")]
    fields += [("DIFF", "diff", "p_alt - p_ref")]
    fields += [("LOR", "log_odds_ratio", "log odds ratio alt vs ref")]
    headers = [
        f'##INFO=<ID=JAXSSL_{tag}_{_info_key(name)},Number=A,Type=Float,Description="jaxssl '
        f'{what} for {name}">'
        for name in output_names
        for tag, _, what in fields
    ]
    headers.append(
        '##INFO=<ID=JAXSSL_STATUS,Number=A,Type=String,Description="jaxssl: ok or why not scored">'
    )
    path = Path(vcf)
    with open(path, "rb") as f:
        gz_in = f.read(2) == b"\x1f\x8b"
    row = 0
    with atomic_path(out) as tmp, open(tmp, "wb") as raw:
        sink = BgzfWriter(raw) if str(out).endswith(".gz") else raw
        with (
            gzip.open(path, "rt") if gz_in else open(path) as src,
            io.TextIOWrapper(sink, encoding="utf-8", newline="\n") as dst,
        ):
            for line in src:
                text = line.rstrip("\r\n")
                if text.startswith("#CHROM"):
                    dst.write("\n".join(headers) + "\n")
                if not text or text.startswith("#"):
                    dst.write(text + "\n")
                    continue
                cols = text.split("\t")
                rows = range(row, row + len(cols[4].split(",")))
                row = rows.stop
                info = []
                for name in output_names:
                    for tag, col, _ in fields:
                        values = scores.columns[f"{col}_{name}"]
                        info.append(
                            f"JAXSSL_{tag}_{_info_key(name)}="
                            + ",".join(_info_value(float(values[r])) for r in rows)
                        )
                status = ",".join(_info_key(scores.status[r]) for r in rows)
                info.append(f"JAXSSL_STATUS={status}")
                while len(cols) < 8:
                    cols.append(".")
                cols[7] = ";".join(([] if cols[7] in ("", ".") else [cols[7]]) + info)
                dst.write("\t".join(cols) + "\n")
    return Path(out)
