"""A character-level LSTM learns to continue a short text, then writes it out on its own.

The text is a few lines of the notes' subject, repeated; the model sees 24 characters at a
time and learns to predict each next one (Embedding -> LSTM -> Linear, softmax
cross-entropy, Adam, gradient clipping). In 300 steps (under half a minute) the mean loss
goes from log(vocabulary) ~ 3.2 nats per character to about 0.1 (0.103 with the defaults:
the first characters of each window have too little context to be certain); then, started
from "gradients ", it writes the next 60 characters greedily, which come out as the text.

    python examples/char_lstm.py            # --steps N, --seed S
"""

import argparse

import numpy as np

from circuitgrad import nn

TEXT = ("gradients flow backward through the circuit. "
        "each gate multiplies the upstream gradient by its local gradient. "
        "where a wire forks, the gradients add up. ") * 4


class CharModel(nn.Module):
    def __init__(self, vocabulary, hidden=64):
        self.embed = nn.Embedding(vocabulary, 16)
        self.lstm = nn.LSTM(16, hidden, batch_first=True)
        self.head = nn.Linear(hidden, vocabulary)

    def forward(self, indices, state=None):
        out, state = self.lstm(self.embed(indices), state)
        n, t, h = out.shape
        return self.head(out.reshape(n * t, h)), state


def batches(codes, length, size, rng):
    starts = rng.integers(0, len(codes) - length - 1, size)
    x = np.stack([codes[s:s + length] for s in starts])
    y = np.stack([codes[s + 1:s + length + 1] for s in starts])
    return x, y.reshape(-1)


def train(steps=300, seed=0, log_every=50):
    nn.manual_seed(seed)
    rng = np.random.default_rng(seed)
    chars = sorted(set(TEXT))
    codes = np.array([chars.index(c) for c in TEXT])
    model = CharModel(len(chars))
    opt = nn.Adam(model.parameters(), lr=0.01)
    losses = []
    for step in range(1, steps + 1):
        x, y = batches(codes, 24, 16, rng)
        scores, _ = model(x)
        loss = nn.softmax_cross_entropy(scores, y)
        opt.zero_grad()
        loss.backward()
        nn.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        losses.append(float(loss))
        if log_every and step % log_every == 0:
            print(f"step {step:4d}: loss {np.mean(losses[-log_every:]):.3f}")
    return model, chars, losses


def generate(model, chars, start, count):
    indices = np.array([[chars.index(c) for c in start]])
    scores, state = model(indices)
    text = start
    for _ in range(count):
        nxt = int(np.argmax(scores.data[-1]))
        text += chars[nxt]
        scores, state = model(np.array([[nxt]]), state)
    return text


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    options = parser.parse_args()
    model, chars, losses = train(options.steps, options.seed)
    print(f"final loss (mean of the last 50 steps): {np.mean(losses[-50:]):.3f}")
    print(repr(generate(model, chars, "gradients ", 60)))
