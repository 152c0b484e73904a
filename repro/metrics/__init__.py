"""Sample-quality metrics.

- `repro.metrics.distances`: Fréchet distance of Gaussian fits, sliced Wasserstein-2, mode weights, errors bars.
- `repro.metrics.parzen`: Gaussian Parzen-window log-likelihood (Goodfellow et al. 2014 protocol).
- `repro.metrics.manifold`: k-NN precision and recall (Kynkäänniemi et al. 2019) of feature sets.
- `repro.metrics.classifier`: a small digit classifier and the metrics in its feature space (`fid_lenet`, ...).
- `repro.metrics.sanity`: held-out real data and matched noise scored by every quality metric, the check that models
  fall between them, and seed-paired differences between arms.
- `repro.metrics.fid_stats`: FID reference statistics from a file (TTUR `mu`/`sigma`, score_sde `pool_3`), validated.
- `repro.metrics.fidelity`: IS / FID / KID through torch-fidelity's TF-compatible Inception, with cached
  reference statistics whose names spell the protocol.
"""
