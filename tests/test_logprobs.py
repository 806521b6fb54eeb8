"""token_logprobs (crpo/models/logprobs.py) against the plain autograd graph it replaces: values and gradients."""
import pytest
import torch

from crpo.models import logprobs as lp


def reference(logits, ids, temperature, suppress):
    x = logits[:, :ids.shape[1]].float()
    x = x / temperature if temperature not in (0, 1) else x
    if suppress:
        x = x.index_fill(-1, torch.tensor(suppress), float("-inf"))
    return x.log_softmax(-1).gather(-1, ids[..., None]).squeeze(-1)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("temperature,suppress", [(1.0, None), (0.7, [3, 11]), (0.0, [0])])
@pytest.mark.parametrize("chunk", [2 ** 25, 40])  # 40 elements: chunks of 2 columns, several per row
def test_values_and_gradients_equal_plain_autograd(monkeypatch, dtype, temperature, suppress, chunk):
    monkeypatch.setattr(lp, "CHUNK_ELEMENTS", chunk)
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 6, 17, generator=g).to(dtype)  # L = T + 1 columns, as the model returns them
    ids = torch.randint(0, 17, (3, 5), generator=g)
    ids[ids == 3] = 4  # the sampled tokens are never suppressed ones (generation excluded them)
    ids[ids == 11] = 12
    ids[ids == 0] = 1
    weights = torch.randn(3, 5, generator=g)
    a = logits.clone().requires_grad_(True)
    b = logits.clone().requires_grad_(True)
    ours = lp.token_logprobs(a, ids, temperature, suppress)
    plain = reference(b, ids, temperature, suppress)
    torch.testing.assert_close(ours, plain, atol=1e-6, rtol=1e-6)
    (ours * weights).sum().backward()
    (plain * weights).sum().backward()
    assert a.grad.dtype == dtype and a.grad[:, -1].abs().sum() == 0  # the unused last column gets no gradient
    tol = 1e-6 if dtype == torch.float32 else 1e-2
    torch.testing.assert_close(a.grad, b.grad, atol=tol, rtol=tol)
    if suppress:
        assert a.grad[..., suppress].abs().sum() == 0


def test_sums_to_one_over_the_unsuppressed_vocabulary():
    logits = torch.randn(1, 9).expand(9, 9).contiguous()[:, None, :]  # one position, asked for every token
    probs = lp.token_logprobs(logits, torch.arange(9)[:, None], 1.0, [2]).exp().flatten()
    assert probs[2] == 0 and abs(float(probs.sum()) - 1.0) < 1e-6
