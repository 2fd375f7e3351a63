"""Genome readers other tools reuse: FASTA as tokens (`fasta`), BED/narrowPeak intervals
(`intervals`) and background/negative window sampling (`background`)."""
