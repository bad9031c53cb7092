"""fmaconv.models.LeNet5 against the same network in PyTorch (weights loaded from its
state_dict), and a float64 finite-difference check of the whole model without torch."""
from __future__ import annotations

import numpy as np
import pytest

from fmaconv import models, nn, optim

import nn_reference as R

KEYS = ["features.0.weight", "features.0.bias", "features.3.weight", "features.3.bias",
        "classifier.0.weight", "classifier.0.bias", "classifier.2.weight", "classifier.2.bias",
        "classifier.4.weight", "classifier.4.bias"]


def torch_lenet5(torch, in_channels=3, num_classes=10):
    """LeNet-5 written with torch.nn under the same attribute names as fmaconv's."""
    tnn = torch.nn

    class TorchLeNet5(tnn.Module):
        def __init__(self):
            super().__init__()
            self.features = tnn.Sequential(tnn.Conv2d(in_channels, 6, 5), tnn.ReLU(), tnn.MaxPool2d(2),
                                           tnn.Conv2d(6, 16, 5), tnn.ReLU(), tnn.MaxPool2d(2))
            self.flatten = tnn.Flatten()
            self.classifier = tnn.Sequential(tnn.Linear(400, 120), tnn.ReLU(), tnn.Linear(120, 84), tnn.ReLU(),
                                             tnn.Linear(84, num_classes))

        def forward(self, x):
            return self.classifier(self.flatten(self.features(x)))

    return TorchLeNet5()


def test_lenet5_structure():
    m = models.LeNet5()
    assert list(m.state_dict()) == KEYS
    shapes = {k: v.shape for k, v in m.state_dict().items()}
    assert shapes["features.0.weight"] == (6, 1, 5, 5) and shapes["classifier.4.weight"] == (10, 84)
    assert models.LeNet5(3, 100).state_dict()["features.0.weight"].shape == (6, 3, 5, 5)
    assert m(np.zeros((2, 1, 32, 32), np.float32)).shape == (2, 10)
    with pytest.raises(ValueError, match=r"LeNet5: input must have shape \(N, C, 32, 32\), got \(2, 1, 28, 28\)"):
        m(np.zeros((2, 1, 28, 28), np.float32))
    with pytest.raises(ValueError, match="Conv2d: input has 3 channels"):
        m(np.zeros((2, 3, 32, 32), np.float32))


def test_lenet5_matches_torch_logits_grads_and_sgd():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    tm = torch_lenet5(torch)
    m = models.LeNet5(in_channels=3, num_classes=10, rng=123)
    sd = {k: v.detach().numpy().copy() for k, v in tm.state_dict().items()}
    assert list(sd) == KEYS
    m.load_state_dict(sd)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 3, 32, 32)).astype(np.float32)
    t = rng.integers(0, 10, 64)

    m.eval()
    np.testing.assert_allclose(m(x), tm(torch.from_numpy(x)).detach().numpy(), rtol=1e-5, atol=1e-6)

    kw = dict(lr=0.05, momentum=0.9, weight_decay=5e-4)
    topt = torch.optim.SGD(tm.parameters(), **kw)
    opt = optim.SGD(m.parameters(), **kw)
    crit = nn.CrossEntropyLoss()
    tparams = dict(tm.named_parameters())
    for step in range(2):  # two steps: the second uses the momentum buffer
        m.train()
        logits = m(x)
        loss = crit(logits, t)
        m.zero_grad()
        m.backward(crit.backward())
        tlogits = tm(torch.from_numpy(x))
        tloss = torch.nn.functional.cross_entropy(tlogits, torch.from_numpy(t))
        topt.zero_grad()
        tloss.backward()
        np.testing.assert_allclose(logits, tlogits.detach().numpy(), rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(loss, tloss.item(), rtol=1e-5)
        for name, p in m.named_parameters():
            tg = tparams[name].grad.numpy()
            np.testing.assert_allclose(p.grad, tg, rtol=1e-4, atol=1e-6 * np.abs(tg).max(),
                                       err_msg=f"step {step}: {name}")
        opt.step()
        topt.step()
        for name, p in m.named_parameters():
            np.testing.assert_allclose(p, tparams[name].detach().numpy(), rtol=1e-5, atol=1e-6,
                                       err_msg=f"after step {step}: {name}")
    m.eval()
    np.testing.assert_allclose(m(x), tm(torch.from_numpy(x)).detach().numpy(), rtol=1e-4, atol=1e-5)


def test_lenet5_gradients_finite_differences():
    """Whole-model gradients in float64 against central differences (a sample of entries of
    every parameter, all of them would take too long)."""
    m = models.LeNet5(in_channels=1, num_classes=4, dtype=np.float64, rng=0)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 1, 32, 32))
    t = np.array([0, 3, 1])
    crit = nn.CrossEntropyLoss()
    crit(m(x), t)
    gx = m.backward(crit.backward(), input_grad=True)
    assert gx.shape == x.shape

    def f():
        return float(crit(m(x), t))

    eps = 1e-6
    for name, p in list(m.named_parameters()) + [("input", x)]:
        flat = p.reshape(-1) if name == "input" else p.data.reshape(-1)
        grad = (gx if name == "input" else p.grad).reshape(-1)
        for i in rng.choice(flat.size, size=min(6, flat.size), replace=False):
            old = flat[i]
            flat[i] = old + eps
            fp = f()
            flat[i] = old - eps
            fm = f()
            flat[i] = old
            assert grad[i] == pytest.approx((fp - fm) / (2 * eps), rel=1e-5, abs=1e-9), (name, i)


def test_bench_lenet5_cases_agree_with_torch():
    """The bench's whole-network rows compute the same thing in fmaconv and torch (same weights)."""
    torch = pytest.importorskip("torch")  # noqa: F841
    from fmaconv.bench import cases, peers
    assert [c.name for c in cases.select("lenet5", cases.ALL_CASES)] == ["lenet5_infer_b64", "lenet5_train_b64"]
    for case in cases.MODEL_SUITE:
        arrays = case.make_inputs("float32")
        ours = peers.make_runner(peers.FMACONV, case, arrays, 1)
        theirs = peers.make_runner(peers.TORCH, case, arrays, 1)
        for _ in range(2):  # train: the second step starts from the updated weights
            a, b = peers.to_numpy(ours()), peers.to_numpy(theirs())
            assert peers.compare(a, b, rtol=1e-4, atol=1e-5) is None, case.name
        with pytest.raises(peers.Unavailable):
            peers.make_runner(peers.NUMPY, case, arrays, 1)
