"""One epoch of `circuitgrad train digits`, ``nn.fit(compile=True)`` against eager ``nn.fit``,
for the convnets and the default mlp (issue 14).

Each side has its own model and Adam optimizer (lr 0.01, batch 64, the command's defaults);
before every block both are put back at the same start (parameters, optimizer state, batch
norm's running statistics, ``nn.manual_seed(0)`` for the dropout masks, the loader's seed),
so each block trains the same epoch. The compiled side keeps its traces across ``fit`` calls
(as ``fit`` does for the same model and optimizer), so the steady epoch is timed; the first
epoch of a new model, traces included, is a second row (a new model per block on both sides).
The last rows train each model for the command's default epochs both ways and give the test
accuracy: the compiled run draws the same dropout masks, so the two agree to rounding.
"""

from __future__ import annotations

import numpy as np

import harness
from circuitgrad import nn
from harness import Config, Row

MODELS = ("convnet-gn", "convnet", "mlp")
BATCH = 64


def _side(name, X, y):
    """A model, its optimizer, and a function that trains one epoch from the same start."""
    from circuitgrad.nn.train import build_model

    model = build_model(name, 0, "digits")
    opt = nn.Adam(model.parameters(), lr=0.01)
    params = [p.data.copy() for p in model.parameters()]
    state = opt.state_dict()
    buffers = [(m, b, np.array(getattr(m, b))) for _, m in model.named_modules()
               for b in m._buffer_names]

    def epoch(compile_step):
        for p, start in zip(model.parameters(), params, strict=True):
            p.data[...] = start
        opt.load_state_dict(state)
        for m, b, start in buffers:
            getattr(m, b)[...] = start
        nn.manual_seed(0)
        return nn.fit(model, nn.DataLoader((X, y), batch_size=BATCH, seed=0),
                      nn.softmax_cross_entropy, opt, 1, compile=compile_step)

    return epoch


def _first_epoch(name, X, y, compile_step):
    from circuitgrad.nn.train import build_model

    model = build_model(name, 0, "digits")
    nn.fit(model, nn.DataLoader((X, y), batch_size=BATCH, seed=0), nn.softmax_cross_entropy,
           nn.Adam(model.parameters(), lr=0.01), 1, compile=compile_step)


def _test_accuracy(name, split, compile_step):
    """`circuitgrad train digits --model name` (default epochs, cosine schedule), its test
    accuracy."""
    from circuitgrad.nn.train import DEFAULTS, build_model

    X, X_test, y, y_test = split
    epochs, lr = DEFAULTS[name]["epochs"], DEFAULTS[name]["lr"]
    model = build_model(name, 0, "digits")
    opt = nn.Adam(model.parameters(), lr=lr)
    history = nn.fit(model, nn.DataLoader((X, y), batch_size=BATCH, seed=0),
                     nn.softmax_cross_entropy, opt, epochs, test=(X_test, y_test),
                     schedule=nn.CosineLR(opt, epochs), compile=compile_step)
    return history["test_accuracy"][-1], history["loss"][-1]


def bench_compiled_epochs(cfg: Config, models: tuple[str, ...] = MODELS) -> list[Row]:
    from circuitgrad.nn.train import load_split

    rows = []
    for name in models:
        split = load_split("digits", name)
        X, y = split[0], split[2]
        eager, compiled = _side(name, X, y), _side(name, X, y)
        want, got = eager(False), compiled(True)  # the compiled side traces here
        harness.check_close(f"{name} epoch loss", got["loss"], want["loss"], rtol=1e-4)
        harness.freeze()
        timing = harness.measure(lambda e=eager: e(False), lambda c=compiled: c(True), cfg,
                                 blocks=max(cfg.slow_blocks, 7), reps=1)
        rows.append(harness.timing_row(f"digits {name} epoch, fit(compile=True)",
                                       "eager fit", timing, "s/epoch", 1.0, target=1.0))
        first = harness.measure(lambda n=name, X=X, y=y: _first_epoch(n, X, y, False),
                                lambda n=name, X=X, y=y: _first_epoch(n, X, y, True), cfg,
                                blocks=cfg.slow_blocks, reps=1)
        rows.append(harness.timing_row(f"digits {name} first epoch (traces incl.)",
                                       "eager fit", first, "s/epoch", 1.0))
        (base_acc, base_loss), (cand_acc, cand_loss) = (
            _test_accuracy(name, split, False), _test_accuracy(name, split, True))
        rows.append(Row(f"digits {name} test accuracy, default epochs (loss "
                        f"{base_loss:.4f} / {cand_loss:.4f})", "eager fit", "% test",
                        100 * base_acc, 100 * cand_acc, cand_acc / base_acc))
    return rows
