"""Toy targets with exact densities and scores, for tests and CPU analogues of the papers' experiments."""
