"""Ready-made networks built from :mod:`fmaconv.nn`: ``fmaconv.models.LeNet5``."""
from __future__ import annotations

import numpy as np

from . import nn

__all__ = ["LeNet5"]


class LeNet5(nn.Module):
    """LeNet-5 for 32x32 inputs (LeCun et al. 1998, with ReLU and max pooling)::

        features:   0 Conv2d(in_channels, 6, 5)  1 ReLU  2 MaxPool2d(2)
                    3 Conv2d(6, 16, 5)           4 ReLU  5 MaxPool2d(2)
        flatten:    Flatten()                            -> 16*5*5 = 400
        classifier: 0 Linear(400, 120)  1 ReLU  2 Linear(120, 84)  3 ReLU  4 Linear(84, num_classes)

    ``state_dict`` keys: ``features.0.weight``, ``features.0.bias``, ``features.3.weight``,
    ``features.3.bias``, ``classifier.{0,2,4}.{weight,bias}`` -- the keys of the same network
    written with ``torch.nn.Sequential`` under the same attribute names, so its PyTorch
    ``state_dict()`` (converted to NumPy) loads unchanged. Use ``in_channels=3`` for CIFAR-10.
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 10, dtype=np.float32, rng=None):
        super().__init__()
        g = nn._rng("LeNet5", rng)
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 6, 5, dtype=dtype, rng=g), nn.ReLU(inplace=True), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5, dtype=dtype, rng=g), nn.ReLU(inplace=True), nn.MaxPool2d(2),
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
