"""TransformerDecoderLayer, TransformerDecoder and Transformer against PyTorch: outputs and
gradients (float64), masks, batch_first, pre-norm, state_dict keys, the causal mask, errors,
and a small sequence-to-sequence model trained a few steps in both libraries."""
import numpy as np
import pytest

import tinynet as tn
from tinynet import nn
from torch_parity import assert_same

E, HEADS, FF = 8, 2, 16


def copy_weights(ours, theirs):
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})


def data(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def padding_mask(lib, lengths, length):
    """True where a position is padding, (N, length)."""
    return lib.tensor(np.arange(length)[None, :] >= np.array(lengths)[:, None])


def run_both(torch, build, call):
    """build(lib.nn) in both libraries (PyTorch's weights copied), eval mode (no dropout);
    call(lib, module) -> output, whose backward is taken with a seeded gradient.  Returns
    [output, every parameter's gradient] for each."""
    torch.manual_seed(0)
    theirs = build(torch.nn).double().eval()
    ours = build(nn).double().eval()
    copy_weights(ours, theirs)
    results = []
    for lib, module in ((tn, ours), (torch, theirs)):
        y = call(lib, module)
        y.backward(lib.tensor(data(*tuple(y.shape), seed=9)))
        results.append([y] + [p.grad for p in module.parameters()])
    assert list(ours.state_dict()) == list(theirs.state_dict())
    return results


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("batch_first", [False, True])
def test_decoder_layer_matches_pytorch(torch, norm_first, batch_first):
    def build(nn_):
        return nn_.TransformerDecoderLayer(E, HEADS, FF, dropout=0.1, batch_first=batch_first,
                                           norm_first=norm_first)

    def call(lib, layer):
        tgt, memory = data(2, 5, E, seed=1), data(2, 7, E, seed=2)
        if not batch_first:
            tgt, memory = tgt.transpose(1, 0, 2), memory.transpose(1, 0, 2)
        causal = lib.nn.Transformer.generate_square_subsequent_mask(5, dtype=lib.float64)
        return layer(lib.tensor(tgt), lib.tensor(memory), tgt_mask=causal,
                     tgt_key_padding_mask=padding_mask(lib, [5, 3], 5),
                     memory_key_padding_mask=padding_mask(lib, [7, 4], 7))

    ours, theirs = run_both(torch, build, call)
    assert_same(ours, theirs, rtol=1e-9, atol=1e-11, where="TransformerDecoderLayer")


def test_decoder_stack_with_a_final_norm_and_a_memory_mask(torch):
    def build(nn_):
        layer = nn_.TransformerDecoderLayer(E, HEADS, FF, activation="gelu")
        return nn_.TransformerDecoder(layer, num_layers=2, norm=nn_.LayerNorm(E))

    def call(lib, decoder):
        memory_mask = lib.tensor(data(4, 6, seed=3) > 0.5)      # bool: True is masked
        return decoder(lib.tensor(data(4, 2, E, seed=1)), lib.tensor(data(6, 2, E, seed=2)),
                       memory_mask=memory_mask)

    ours, theirs = run_both(torch, build, call)
    assert_same(ours, theirs, rtol=1e-9, atol=1e-11, where="TransformerDecoder")


@pytest.mark.parametrize("batch_first", [False, True])
def test_transformer_matches_pytorch(torch, batch_first):
    def build(nn_):
        return nn_.Transformer(E, HEADS, num_encoder_layers=2, num_decoder_layers=2,
                               dim_feedforward=FF, batch_first=batch_first)

    def call(lib, model):
        src, tgt = data(3, 6, E, seed=1), data(3, 4, E, seed=2)
        if not batch_first:
            src, tgt = src.transpose(1, 0, 2), tgt.transpose(1, 0, 2)
        return model(lib.tensor(src), lib.tensor(tgt),
                     tgt_mask=model.generate_square_subsequent_mask(4, dtype=lib.float64),
                     src_key_padding_mask=padding_mask(lib, [6, 5, 2], 6),
                     memory_key_padding_mask=padding_mask(lib, [6, 5, 2], 6))

    ours, theirs = run_both(torch, build, call)
    assert_same(ours, theirs, rtol=1e-9, atol=1e-11, where="Transformer")


def test_the_causal_mask_is_pytorchs(torch):
    assert_same(nn.Transformer.generate_square_subsequent_mask(4),
                torch.nn.Transformer.generate_square_subsequent_mask(4), rtol=0, atol=0,
                where="generate_square_subsequent_mask")


def test_weights_start_xavier_uniform():
    """Every matrix within its Xavier bound sqrt(6 / (fan_in + fan_out)), spread over it."""
    tn.manual_seed(0)
    model = nn.Transformer(16, 2, 1, 1, 32)
    weight = model.encoder.layers[0].linear1.weight.numpy()     # (32, 16)
    bound = np.sqrt(6 / (16 + 32))
    assert np.abs(weight).max() <= bound and np.abs(weight).max() > 0.9 * bound


def seq2seq_steps(lib, steps=3):
    """A tiny translation model as tutorials write it: embeddings, nn.Transformer with a
    causal target mask, a linear head, cross-entropy with padding ignored, Adam."""
    nn_ = lib.nn
    vocabulary = 11

    class Seq2Seq(nn_.Module):
        def __init__(self):
            super().__init__()
            self.src_embed = nn_.Embedding(vocabulary, E, padding_idx=0)
            self.tgt_embed = nn_.Embedding(vocabulary, E, padding_idx=0)
            self.transformer = nn_.Transformer(E, HEADS, 1, 1, FF, dropout=0.0,
                                               batch_first=True)
            self.head = nn_.Linear(E, vocabulary)

        def forward(self, src, tgt):
            mask = self.transformer.generate_square_subsequent_mask(tgt.size(1))
            out = self.transformer(self.src_embed(src), self.tgt_embed(tgt), tgt_mask=mask,
                                   src_key_padding_mask=src == 0,
                                   tgt_key_padding_mask=tgt == 0)
            return self.head(out)

    model = Seq2Seq()
    rng = np.random.default_rng(0)
    with lib.no_grad():
        for _, p in model.named_parameters():
            p.copy_(lib.tensor(rng.uniform(-0.3, 0.3, tuple(p.shape)).astype(np.float32)))
    optimizer = lib.optim.Adam(model.parameters(), lr=1e-2)
    src = lib.tensor(np.array([[3, 4, 5, 0], [6, 7, 8, 9]]))
    tgt = lib.tensor(np.array([[1, 5, 4, 3], [1, 9, 8, 0]]))
    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        logits = model(src, tgt[:, :-1])
        loss = lib.nn.functional.cross_entropy(logits.reshape(-1, vocabulary),
                                               tgt[:, 1:].reshape(-1), ignore_index=0)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses + [model.head.weight]


def test_a_sequence_to_sequence_model_trains_like_pytorch(torch):
    assert_same(seq2seq_steps(tn), seq2seq_steps(torch), rtol=2e-4, atol=2e-5, where="seq2seq")


def test_mismatched_batches_and_widths_are_named():
    model = nn.Transformer(E, HEADS, 1, 1, FF)
    with pytest.raises(RuntimeError, match=r"the batch number of src and tgt must be equal, "
                                           r"got src \(5, 2, 8\) and tgt \(4, 3, 8\)"):
        model(tn.zeros(5, 2, E), tn.zeros(4, 3, E))
    with pytest.raises(RuntimeError, match=r"must be equal to d_model \(8\), got src "
                                           r"\(5, 2, 6\)"):
        model(tn.zeros(5, 2, 6), tn.zeros(4, 2, 6))
    with pytest.raises(ValueError, match="activation must be 'relu', 'gelu' or a callable"):
        nn.TransformerDecoderLayer(E, HEADS, activation="swish")
