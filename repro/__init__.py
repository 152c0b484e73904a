"""repro: a reproducibility and evaluation harness for diffusion papers.

Importing this package must stay torch-free: the Snakefile imports the registry to build the DAG.
"""

__version__ = "0.1.0"
