"""Shard sets built from genomes: the library behind the `python -m data_prep` verbs.

``jaxssl.prep.peaks.build_from_peaks`` (labeled windows from peak files) and
``jaxssl.prep.windows.build_windows`` (unlabeled windows, screened against a labeled set's
held-out data) take Python arguments and return the written set's manifest;
``jaxssl.homology.carry.carry_labels`` carries labels to other genomes. The CLI verbs parse
flags and call these, and so does ``jaxssl.toy_data``: the library never calls its own command
line. Nothing is imported here, so the CLI can read ``jaxssl.prep.splits`` without loading
numpy.
"""
