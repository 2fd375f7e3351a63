"""Using a trained model: load a stage (or a seed ensemble) and score sequences, variants and
attributions with one jitted, strand-averaged function. `python -m jaxssl <verb>` is the CLI
skin over these modules; a notebook imports them directly.
"""
