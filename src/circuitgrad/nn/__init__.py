"""Neural networks on circuitgrad: layers, losses, optimizers, data loading, a training loop.

"Now we are ready to train neural networks": a network is a Module made of layers; its
loss is a circuit whose leaves include the layers' parameters; ``backward()`` fills their
``.grad`` and an optimizer steps them.

>>> import numpy as np
>>> import circuitgrad as cg
>>> from circuitgrad import nn
>>> nn.manual_seed(0)
>>> model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3))
>>> opt = nn.Adam(model.parameters(), lr=1e-2)
>>> X = np.random.default_rng(0).standard_normal((32, 4)).astype(np.float32)
>>> y = np.arange(32) % 3
>>> for _ in range(3):
...     loss = nn.softmax_cross_entropy(model(X), y)
...     opt.zero_grad()
...     loss.backward()
...     opt.step()
>>> loss.dtype
dtype('float32')

This package needs only NumPy; the ``circuitgrad train`` command (``circuitgrad.nn.train``)
also uses scikit-learn, matplotlib and tqdm, imported only when it runs.
"""

from . import functional, init, utils
from .data import DataLoader, Dataset, TensorDataset
from .init import manual_seed
from .layers import (
    CELU,
    ELU,
    GELU,
    GLU,
    GRU,
    LSTM,
    RNN,
    SELU,
    AdaptiveAvgPool2d,
    AvgPool1d,
    AvgPool2d,
    BatchNorm1d,
    BatchNorm2d,
    BCELoss,
    BCEWithLogitsLoss,
    Conv1d,
    Conv2d,
    ConvTranspose1d,
    ConvTranspose2d,
    CrossEntropyLoss,
    Dropout,
    Dropout2d,
    Embedding,
    Flatten,
    GroupNorm,
    GRUCell,
    Hardsigmoid,
    Hardswish,
    Hardtanh,
    HuberLoss,
    Identity,
    L1Loss,
    LayerNorm,
    LeakyReLU,
    Linear,
    LogSigmoid,
    LogSoftmax,
    LSTMCell,
    MaxPool1d,
    MaxPool2d,
    Mish,
    ModuleDict,
    ModuleList,
    MSELoss,
    NLLLoss,
    ParameterDict,
    ParameterList,
    PReLU,
    ReLU,
    ReLU6,
    RNNCell,
    Sequential,
    Sigmoid,
    SiLU,
    SmoothL1Loss,
    Softmax,
    Softplus,
    Softsign,
    Tanh,
    Upsample,
    UpsamplingBilinear2d,
    UpsamplingNearest2d,
)
from .losses import (
    LabelError,
    check_labels,
    l2_penalty,
    mse_loss,
    softmax_cross_entropy,
    svm_loss,
)
from .module import Module, Parameter, load, substituted
from .optim import (
    SGD,
    Adagrad,
    Adam,
    AdamW,
    CosineAnnealingLR,
    CosineLR,
    ExponentialLR,
    LambdaLR,
    MultiStepLR,
    OneCycleLR,
    Optimizer,
    ReduceLROnPlateau,
    RMSProp,
    RMSprop,
    Schedule,
    StepLR,
    clip_grad_norm_,
    clip_grad_value_,
)
from .training import TrainingError, accuracy, check_finite, fit, predict

__all__ = [
    "GELU", "AdaptiveAvgPool2d", "AdamW", "AvgPool2d", "CosineAnnealingLR", "CrossEntropyLoss",
    "Dropout2d", "Embedding", "Identity", "LayerNorm", "LeakyReLU", "LogSoftmax", "MSELoss",
    "ModuleList", "Softmax", "clip_grad_norm_", "LSTM", "LSTMCell", "RNN", "RNNCell",
    "Conv1d", "GroupNorm", "GRU", "GRUCell", "load",
    "SGD", "Adam", "BatchNorm1d", "BatchNorm2d", "Conv2d", "CosineLR", "DataLoader", "Dataset",
    "Dropout", "Flatten", "LabelError", "Linear", "MaxPool2d", "Module", "Optimizer",
    "Parameter", "RMSProp", "ReLU", "Schedule", "Sequential", "Sigmoid", "StepLR", "Tanh",
    "TrainingError", "accuracy", "check_finite", "check_labels", "fit", "functional", "init",
    "l2_penalty", "manual_seed", "mse_loss", "predict", "softmax_cross_entropy",
    "substituted", "svm_loss",
    # more of PyTorch's names
    "ELU", "SiLU", "Mish", "Softplus", "Hardtanh", "ReLU6", "LogSigmoid", "MaxPool1d",
    "SELU", "CELU", "PReLU", "GLU", "Softsign", "Hardsigmoid", "Hardswish",
    "AvgPool1d", "NLLLoss", "BCELoss", "BCEWithLogitsLoss", "L1Loss", "HuberLoss",
    "SmoothL1Loss", "ModuleDict", "ParameterList", "TensorDataset", "RMSprop", "Adagrad",
    "ExponentialLR", "MultiStepLR", "LambdaLR", "OneCycleLR", "ReduceLROnPlateau",
    "clip_grad_value_", "utils", "ConvTranspose1d", "ConvTranspose2d",
    "Upsample", "UpsamplingNearest2d", "UpsamplingBilinear2d", "ParameterDict",
]
