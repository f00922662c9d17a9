"""``circuitgrad train digits``: train a small network on scikit-learn's handwritten digits.

The digits set (1,797 images of 8x8 pixels, 10 classes) ships inside scikit-learn, so
nothing is downloaded. A fixed, stratified 20% of it is held out as the test set; the rest
is shuffled and batched with the given seed, so the same seed gives the same numbers.
While training, a progress bar shows the loss and accuracy; at the end the test accuracy
is printed, a plot of the loss and the train/test accuracy per epoch is written (PNG), and
the model is saved (``.npz``: ``nn.load(path)`` makes it again, architecture and all).

Used by the ``circuitgrad`` command (``add_arguments`` + ``run``) and runnable on its own::

    python -m circuitgrad.nn.train digits --model convnet --epochs 15 --seed 0

scikit-learn, matplotlib and tqdm (the ``train`` extra) are imported only when it runs.
"""

import argparse
import os
import sys
import time

import numpy as np

from .. import backend
from ..i18n import english, locale_lang, positive_number, render, translator
from ..outdir import out_dir_problem
from . import (
    GELU,
    Adam,
    BatchNorm2d,
    Conv2d,
    CosineLR,
    DataLoader,
    Dropout,
    Flatten,
    GroupNorm,
    LabelError,
    LayerNorm,
    Linear,
    MaxPool2d,
    ReLU,
    Sequential,
    TrainingError,
    fit,
    manual_seed,
    softmax_cross_entropy,
)

TEST_FRACTION = 0.2
SPLIT_SEED = 0  # the held-out split stays the same whatever --seed is, so runs compare

# scikit-learn's bundled data sets (nothing is downloaded): features, classes, and whether
# the rows are 8x8 images (the convolutional models need them)
DATASETS = {"digits": {"features": 64, "classes": 10, "images": True},
            "wine": {"features": 13, "classes": 3, "images": False}}
NUM_CLASSES = DATASETS["digits"]["classes"]

# Per model: epochs and learning rate that reach the targets (MLP >= 97%,
# convnet >= 98% on the held-out digits) in a few seconds.
DEFAULTS = {"mlp": {"epochs": 30, "lr": 0.01}, "mlp-norm": {"epochs": 30, "lr": 0.01},
            "convnet": {"epochs": 15, "lr": 0.01}, "convnet-gn": {"epochs": 15, "lr": 0.01}}
CONVOLUTIONAL = ("convnet", "convnet-gn")


def build_model(name, seed=0, dataset="digits"):
    """``mlp`` (in-256-classes, dropout), ``mlp-norm`` (LayerNorm and GELU), ``convnet``
    (two conv+BN+ReLU+pool blocks) or ``convnet-gn`` (GroupNorm, 'same' padding)."""
    manual_seed(seed)
    features, classes = DATASETS[dataset]["features"], DATASETS[dataset]["classes"]
    if name == "mlp":
        return Sequential(Linear(features, 256), ReLU(), Dropout(0.2), Linear(256, classes))
    if name == "mlp-norm":
        return Sequential(Linear(features, 256), LayerNorm(256), GELU(), Dropout(0.2),
                          Linear(256, classes))
    if name in CONVOLUTIONAL and not DATASETS[dataset]["images"]:
        raise ValueError(f"model {name} needs images; {dataset} has none (use mlp or mlp-norm)")
    if name == "convnet":
        return Sequential(
            Conv2d(1, 32, 3, padding=1), BatchNorm2d(32), ReLU(), MaxPool2d(2),   # 32 x 4 x 4
            Conv2d(32, 64, 3, padding=1), BatchNorm2d(64), ReLU(), MaxPool2d(2),  # 64 x 2 x 2
            Flatten(), Linear(64 * 2 * 2, classes))
    if name == "convnet-gn":
        return Sequential(
            Conv2d(1, 32, 3, padding="same"), GroupNorm(4, 32), ReLU(), MaxPool2d(2),
            Conv2d(32, 64, 3, padding="same"), GroupNorm(8, 64), ReLU(),
            MaxPool2d(2), Flatten(), Linear(64 * 2 * 2, classes))
    raise ValueError(f"unknown model {name!r}; choose one of {', '.join(DEFAULTS)}")


def load_split(dataset="digits", model="mlp"):
    """(X_train, X_test, y_train, y_test) as float32 features and int64 labels: digits'
    pixels scaled to [0, 1] ((N, 1, 8, 8) images for the convolutional models), wine's
    features standardised with the training split's mean and deviation."""
    from sklearn import datasets
    from sklearn.model_selection import train_test_split

    data = getattr(datasets, f"load_{dataset}")()
    X = data.data.astype(np.float64)
    if dataset == "digits":
        X = X / 16.0
    y = data.target.astype(np.int64)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=TEST_FRACTION, stratify=y, random_state=SPLIT_SEED)
    if dataset == "wine":
        mean, std = X_train.mean(axis=0), X_train.std(axis=0)
        X_train, X_test = (X_train - mean) / std, (X_test - mean) / std
    X_train, X_test = X_train.astype(np.float32), X_test.astype(np.float32)
    if model in CONVOLUTIONAL:
        X_train, X_test = X_train.reshape(-1, 1, 8, 8), X_test.reshape(-1, 1, 8, 8)
    return X_train, X_test, y_train, y_test


def load_digits_split(model="mlp"):
    """The digits split (see :func:`load_split`)."""
    return load_split("digits", model)


def _whole_number(least, _=english):
    """An argparse type: a whole number of at least ``least`` (bad ones exit 2, one line)."""
    def whole_number(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(_("expected a whole number, not {text}").format(
                text=repr(text))) from None
        if value < least:
            raise argparse.ArgumentTypeError(_("must be at least {least}, not {value}").format(
                least=least, value=value))
        return value
    return whole_number


def add_arguments(parser):
    """Add the ``train`` sub-command's arguments to an argparse parser (their help in the
    language of its ``translate``, where the ``circuitgrad`` command gives it one)."""
    _ = getattr(parser, "translate", english)
    parser.add_argument("dataset", choices=sorted(DATASETS),
                        help=_("the data set (scikit-learn's bundled 8x8 digits, or its wine "
                               "measurements: 13 features, 3 classes)"))
    parser.add_argument("--model", choices=sorted(DEFAULTS), default="mlp",
                        help=_("network to train (default: mlp)"))
    parser.add_argument("--epochs", type=_whole_number(1, _), default=None,
                        help=_("passes over the training set (default: 30 mlp, 15 convnet)"))
    parser.add_argument("--seed", type=_whole_number(0, _), default=0,
                        help=_("seed of initialisation, shuffling and dropout (default: 0)"))
    parser.add_argument("--lr", type=positive_number(_), default=None,
                        help=_("Adam learning rate, cosine-decayed (default: 0.01)"))
    parser.add_argument("--batch-size", type=_whole_number(1, _), default=64,
                        help=_("examples per training step (default: 64)"))
    parser.add_argument("--out-dir", default=".",
                        help=_("where the plot and the parameters are written (default: .)"))
    parser.add_argument("--no-progress", action="store_true",
                        help=_("hide the progress bar"))
    parser.add_argument("--compile", action="store_true",
                        help=_("run each training step as generated NumPy code (cg.compile), "
                               "traced once per batch shape"))
    return parser


def run(args):
    """Train as ``args`` says (its messages in ``args.lang``, else the locale's language);
    returns the process exit code (0 on success)."""
    _ = translator(getattr(args, "lang", None) or locale_lang())
    # where the results go is checked now, not after the training it would waste
    if args.model in CONVOLUTIONAL and not DATASETS[args.dataset]["images"]:
        print(_("circuitgrad train: error: --model {model} needs images; {dataset} has none "
                "(use mlp or mlp-norm)").format(model=args.model, dataset=args.dataset),
              file=sys.stderr)
        return 2
    stem = os.path.join(args.out_dir, f"{args.dataset}-{args.model}")
    problem = out_dir_problem(args.out_dir)
    for path in (stem + ".npz", stem + ".png"):
        if not problem and os.path.isdir(path):
            problem = _("cannot write {path}: it is a folder").format(path=path)
    if problem:
        print(_("circuitgrad train: error: --out-dir: {problem}").format(
            problem=render(problem, _)), file=sys.stderr)
        return 2
    try:
        import matplotlib  # noqa: F401  (checked here, used at the end)
        import sklearn  # noqa: F401
        from tqdm import tqdm
    except ImportError as err:
        print(_("circuitgrad train: {name} is missing; install the training extras with "
                "pip install 'circuitgrad[train]'").format(name=err.name), file=sys.stderr)
        return 2
    defaults = DEFAULTS[args.model]
    epochs = defaults["epochs"] if args.epochs is None else args.epochs
    lr = defaults["lr"] if args.lr is None else args.lr

    X_train, X_test, y_train, y_test = load_split(args.dataset, args.model)
    model = build_model(args.model, args.seed, args.dataset)
    optimizer = Adam(model.parameters(), lr=lr)
    loader = DataLoader((X_train, y_train), batch_size=args.batch_size, seed=args.seed)
    bar = tqdm(total=epochs * len(loader), desc=f"{args.dataset} {args.model}",
               unit=_("batch"), disable=args.no_progress, file=sys.stderr, dynamic_ncols=True)
    state = {"test": None}  # the latest test accuracy, shown while the next epoch runs

    def on_batch(epoch, step, loss, acc):
        bar.set_postfix_str(progress_postfix(epoch, epochs, loss, acc, state["test"], _),
                            refresh=False)
        bar.update(1)

    def on_epoch(epoch, record):
        state["test"] = record["test_accuracy"]
        # the batches showed the previous epoch's test accuracy; after the last epoch no
        # batch follows, so show this epoch's numbers now or the bar ends one epoch behind
        bar.set_postfix_str(progress_postfix(epoch, epochs, record["loss"],
                                             record["train_accuracy"], state["test"], _))

    start = time.perf_counter()
    try:
        with bar:
            history = fit(model, loader, softmax_cross_entropy, optimizer, epochs,
                          test=(X_test, y_test), schedule=CosineLR(optimizer, epochs),
                          num_classes=DATASETS[args.dataset]["classes"], on_batch=on_batch,
                          on_epoch=on_epoch, compile=args.compile)
    except (TrainingError, LabelError) as err:
        print(_("circuitgrad train: {error}").format(error=render(err, _)), file=sys.stderr)
        return 1
    seconds = time.perf_counter() - start

    test_accuracy = history["test_accuracy"][-1]
    right = round(test_accuracy * len(y_test))
    print(_("test accuracy: {accuracy} ({right}/{total}) - {model}, {epochs} epochs, seed "
            "{seed}, {seconds} s ({ms} ms per epoch)").format(
        accuracy=f"{test_accuracy:.2%}", right=right, total=len(y_test), model=args.model,
        epochs=epochs, seed=args.seed, seconds=f"{seconds:.1f}",
        ms=f"{seconds / epochs * 1000:.0f}"))
    try:  # checked up front, but the file system may still refuse (full, read-only)
        os.makedirs(args.out_dir, exist_ok=True)
        model.save(stem + ".npz")
        plot_history(history, stem + ".png", title=_("{dataset}, {model}, seed {seed}").format(
            dataset=args.dataset, model=args.model, seed=args.seed), _=_)
    except OSError as err:
        print(_("circuitgrad train: error: cannot save the results in {folder}: "
                "{error}").format(folder=args.out_dir, error=err.strerror or err),
              file=sys.stderr)
        return 2
    print(_("saved the model to {model} ({load} makes it again) and the training curves to "
            "{curves}").format(model=stem + ".npz", load=f"nn.load({stem + '.npz'!r})",
                               curves=stem + ".png"))
    return 0


def progress_postfix(epoch, epochs, loss, accuracy, test_accuracy=None, _=english):
    """What the progress bar shows after its count: epoch, loss, accuracies, in the
    language of the translator ``_``.

    >>> progress_postfix(2, 30, 0.12345, 0.9612, 0.9639)
    'epoch 3/30 loss 0.1235 acc 96.1% test 96.4%'
    >>> progress_postfix(2, 30, 0.12345, 0.9612, 0.9639, translator("zh"))
    '第 3/30 轮 损失 0.1235 准确率 96.1% 测试 96.4%'
    """
    values = {"epoch": epoch + 1, "epochs": epochs, "loss": f"{loss:.4f}",
              "accuracy": f"{accuracy:.1%}"}
    if test_accuracy is None:
        return _("epoch {epoch}/{epochs} loss {loss} acc {accuracy}").format(**values)
    return _("epoch {epoch}/{epochs} loss {loss} acc {accuracy} test {test}").format(
        test=f"{test_accuracy:.1%}", **values)


def plot_history(history, path, title="", _=english):
    """Training loss, and train/test accuracy, per epoch, side by side in one PNG; its
    words in the language of the translator ``_`` (Chinese drawn with the font the
    pictures use, ``draw/fonts/cjk.ttf``)."""
    import matplotlib
    from matplotlib.figure import Figure  # no pyplot: no GUI backend, no global state

    epochs = backend.arange(1, len(history["loss"]) + 1)
    with matplotlib.rc_context({"font.family": _font_families()}):
        fig = Figure(figsize=(9, 3.6), layout="constrained")
        loss_ax, acc_ax = fig.subplots(1, 2)
        loss_ax.plot(epochs, history["loss"], marker=".")
        loss_ax.set(xlabel=_("epoch"), ylabel=_("training loss"), yscale="log",
                    title=_("loss"))
        acc_ax.plot(epochs, history["train_accuracy"], marker=".", label=_("train"))
        if history["test_accuracy"]:
            acc_ax.plot(epochs, history["test_accuracy"], marker=".", label=_("test"))
        acc_ax.set(xlabel=_("epoch"), ylabel=_("accuracy"), title=_("accuracy"))
        acc_ax.legend()
        if title:
            fig.suptitle(title)
        fig.savefig(path, dpi=100)


def _font_families():
    """Matplotlib's default font, then the package's Chinese font for the characters the
    default has not (matplotlib falls back glyph by glyph along the list)."""
    from matplotlib import font_manager, rcParams

    cjk = os.path.join(os.path.dirname(os.path.dirname(__file__)), "draw", "fonts", "cjk.ttf")
    try:
        font_manager.fontManager.addfont(cjk)  # once is enough; again costs little
        name = font_manager.FontProperties(fname=cjk).get_name()
    except (OSError, RuntimeError):  # the font is missing: Chinese then shows as boxes
        return list(rcParams["font.family"])
    return ["DejaVu Sans", name]


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m circuitgrad.nn.train",
                                     description=__doc__.split("\n\n")[0])
    return run(add_arguments(parser).parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
