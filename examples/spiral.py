"""A two-layer network on three interleaved spirals, and a picture of what it learned.

The classic case study after the backprop notes: points on three spiral arms in the plane,
which no linear classifier can separate. A hidden layer of ReLUs bends the decision
boundaries around the arms. The script trains with full-batch gradient descent on the
softmax (or SVM hinge) loss plus L2 regularisation, prints the training accuracy, and saves
the decision regions with the data on top.

    python examples/spiral.py [--loss softmax|svm] [--steps 3000] [--out spiral.png]

Needs matplotlib (pip install 'circuitgrad[train]').
"""

import argparse

import numpy as np

from circuitgrad import nn


def spiral(points_per_class=100, classes=3, noise=0.2, seed=0):
    """(X, y): 2-d points on ``classes`` spiral arms; arm k starts at an angle of 4k radians."""
    rng = np.random.default_rng(seed)
    radius = np.tile(np.linspace(0.0, 1.0, points_per_class), classes)
    arm = np.repeat(np.arange(classes), points_per_class)
    # each arm sweeps 4 radians as it goes out, starting where the previous one ended
    angle = 4.0 * (arm + radius) + noise * rng.standard_normal(radius.shape)
    X = np.stack([radius * np.sin(angle), radius * np.cos(angle)], axis=1)
    return X, arm


def train(X, y, loss="softmax", hidden=100, steps=3000, lr=1.0, reg=1e-3, seed=0):
    """Fit Linear(2, hidden) -> ReLU -> Linear(hidden, classes) by full-batch descent."""
    nn.manual_seed(seed)
    model = nn.Sequential(nn.Linear(2, hidden, dtype=np.float64), nn.ReLU(),
                          nn.Linear(hidden, int(y.max()) + 1, dtype=np.float64))
    data_loss = nn.softmax_cross_entropy if loss == "softmax" else nn.svm_loss
    weights = [layer.weight for layer in model if isinstance(layer, nn.Linear)]
    optimizer = nn.SGD(model.parameters(), lr=lr)
    for step in range(steps):
        total = data_loss(model(X), y) + nn.l2_penalty(weights, reg)
        optimizer.zero_grad()
        total.backward()
        optimizer.step()
        if step % (steps // 5) == 0:
            print(f"step {step:5d}: loss {float(total):.4f}")
    return model


def plot_regions(model, X, y, path, title):
    """Colour the plane by the predicted class and draw the points over it."""
    from matplotlib.colors import ListedColormap
    from matplotlib.figure import Figure

    grid = np.linspace(-1.1, 1.1, 300)
    xx, yy = np.meshgrid(grid, grid)
    scores = nn.predict(model, np.stack([xx.ravel(), yy.ravel()], axis=1))
    regions = scores.argmax(axis=1).reshape(xx.shape)
    colours = ["#4c72b0", "#dd8452", "#55a868"]
    fig = Figure(figsize=(5, 5), layout="constrained")
    ax = fig.subplots()
    ax.contourf(xx, yy, regions, levels=[-0.5, 0.5, 1.5, 2.5], alpha=0.35,
                cmap=ListedColormap(colours))
    ax.scatter(X[:, 0], X[:, 1], c=[colours[k] for k in y], s=14, edgecolors="k",
               linewidths=0.3)
    ax.set(xlim=(-1.1, 1.1), ylim=(-1.1, 1.1), aspect="equal", title=title)
    fig.savefig(path, dpi=100)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--loss", choices=["softmax", "svm"], default="softmax")
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="spiral.png", help="where the picture goes")
    args = parser.parse_args(argv)

    X, y = spiral(seed=args.seed)
    model = train(X, y, loss=args.loss, steps=args.steps, seed=args.seed)
    accuracy = nn.accuracy(model, X, y)
    print(f"training accuracy: {accuracy:.1%}")
    plot_regions(model, X, y, args.out,
                 f"two-layer net, {args.loss} loss: {accuracy:.1%} of points right")
    print(f"saved the decision regions to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
