"""Runnable examples: ``python -m fmaconv.examples.lenet`` (LeNet-5 on scikit-learn's digits
or on CIFAR-10 batches the user downloaded). Data loaders are in :mod:`fmaconv.examples.data`."""
