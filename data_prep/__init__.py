"""Command-line tools that turn genomes, peaks and tables into jaxssl shard sets."""
