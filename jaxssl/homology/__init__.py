"""Homology between genomes: UCSC chains and liftOver of intervals through them."""
