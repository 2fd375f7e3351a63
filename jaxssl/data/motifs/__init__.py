"""Motif files shipped with jaxssl (see jaxssl.toyworld.motif_file for how they are made)."""
