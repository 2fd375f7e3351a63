"""jaxssl: semi-supervised regulatory-DNA sequence models in JAX/Flax."""

__version__ = "0.1.0"
