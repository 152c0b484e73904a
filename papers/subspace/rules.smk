# subspace has no paper-specific Snakemake rules: the generic stage rules of the Snakefile cover every experiment.
