"""Ready-made networks built from :mod:`fmaconv.nn`: ``fmaconv.models.LeNet5``."""
from __future__ import annotations

import numpy as np

from . import nn

__all__ = ["LeNet5"]


class LeNet5(nn.Module):
    """LeNet-5 for 32x32 inputs (LeCun et al. 1998, with ReLU and max pooling)::

        features:   0 Conv2d(in_channels, 6, 5)  1 MaxPool2d(2)  2 ReLU
                    3 Conv2d(6, 16, 5)           4 MaxPool2d(2)  5 ReLU
        flatten:    Flatten()                            -> 16*5*5 = 400
        classifier: 0 Linear(400, 120)  1 ReLU  2 Linear(120, 84)  3 ReLU  4 Linear(84, num_classes)

    ReLU comes after the pooling: ``relu(max_pool(x)) == max_pool(relu(x))`` and so are the
    gradients (max commutes with any non-decreasing function, ties pick the same first index),
    on a quarter of the elements. The network, its outputs and gradients are those of the usual
    Conv-ReLU-Pool order (the tests check it against that order in PyTorch).

    ``state_dict`` keys: ``features.0.weight``, ``features.0.bias``, ``features.3.weight``,
    ``features.3.bias``, ``classifier.{0,2,4}.{weight,bias}`` -- the keys of the same network
    written with ``torch.nn.Sequential`` under the same attribute names, so its PyTorch
    ``state_dict()`` (converted to NumPy) loads unchanged. Use ``in_channels=3`` for CIFAR-10.
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 10, dtype=np.float32, rng=None):
        super().__init__()
        g = nn._rng("LeNet5", rng)
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 6, 5, dtype=dtype, rng=g), nn.MaxPool2d(2), nn.ReLU(inplace=True),
            nn.Conv2d(6, 16, 5, dtype=dtype, rng=g), nn.MaxPool2d(2), nn.ReLU(inplace=True),
        )
        self.flatten = nn.Flatten()
        self.classifier = nn.Sequential(
            nn.Linear(16 * 5 * 5, 120, dtype=dtype, rng=g), nn.ReLU(inplace=True),
            nn.Linear(120, 84, dtype=dtype, rng=g), nn.ReLU(inplace=True),
            nn.Linear(84, num_classes, dtype=dtype, rng=g),
        )

    def forward(self, x):
        x = np.asarray(x)
        if x.ndim != 4 or x.shape[2:] != (32, 32):
            raise ValueError(f"LeNet5: input must have shape (N, C, 32, 32), got {x.shape}")
        return self.classifier(self.flatten(self.features(x)))

    def backward(self, grad_output, input_grad: bool = False):
        """Gradients of every parameter (accumulated into ``.grad``); the gradient with respect
        to the images only if ``input_grad`` (off by default: it costs time and is rarely needed)."""
        g = self.classifier.backward(grad_output)
        g = self.flatten.backward(g)
        return self.features.backward(g, input_grad=input_grad)
