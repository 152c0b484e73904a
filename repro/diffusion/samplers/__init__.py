"""Samplers as plain functions `sampler(score, x, sigmas, *, noise=torch.randn_like, ...)` over a score function."""
