"""``tinynet.nn``: modules, parameters and layers, with PyTorch's names and behaviour.

    import tinynet.nn as nn
    net = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
                        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 2))
    net.state_dict()              # OrderedDict: "0.weight", "0.bias", "1.weight", ...
    net.to("gpu"); net.eval()

Submodules: ``init`` (weight initialization), ``functional`` (the ops, as ``F``),
``utils`` (gradient clipping, parameter counting), ``parallel`` (DistributedDataParallel).
"""
from . import functional, init, parallel, utils
from .attention import MultiheadAttention
from .transformer import (Transformer, TransformerDecoder, TransformerDecoderLayer,
                          TransformerEncoder, TransformerEncoderLayer)
from .activation import (ELU, GELU, Hardsigmoid, Hardswish, Hardtanh, LeakyReLU, LogSigmoid,
                         LogSoftmax, Mish, PReLU, ReLU, ReLU6, Sigmoid, SiLU, Softmax, Softplus,
                         Tanh)
from .batchnorm import (BatchNorm1d, BatchNorm2d, BatchNorm3d, InstanceNorm1d, InstanceNorm2d,
                        InstanceNorm3d)
from .sync_batchnorm import SyncBatchNorm
from .container import ModuleDict, ModuleList, ParameterDict, ParameterList, Sequential
from .conv import Conv1d, Conv2d, Conv3d, ConvTranspose1d, ConvTranspose2d, ConvTranspose3d
from .dropout import Dropout, Dropout1d, Dropout2d, Dropout3d
from .flatten import Flatten, PixelShuffle, PixelUnshuffle, Unflatten
from .fold import Fold, Unfold
from .linear import Identity, Linear
from .layers_more import (AlphaDropout, Bilinear, ChannelShuffle, EmbeddingBag,
                          FeatureAlphaDropout, LocalResponseNorm, LPPool1d, LPPool2d,
                          UpsamplingBilinear2d, UpsamplingNearest2d)
from .loss import (BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, DiceLoss, FocalTverskyLoss,
                   HuberLoss, KLDivLoss, L1Loss, MSELoss, NLLLoss, SmoothL1Loss, TverskyLoss)
from .activation import (CELU, GLU, RReLU, SELU, Hardshrink, Softmax2d, Softmin, Softshrink,
                         Softsign, Tanhshrink, Threshold)
from .distance import CosineSimilarity, PairwiseDistance
from .loss import (CosineEmbeddingLoss, GaussianNLLLoss, HingeEmbeddingLoss, MarginRankingLoss,
                   MultiLabelSoftMarginLoss, MultiMarginLoss, PoissonNLLLoss, SoftMarginLoss,
                   TripletMarginLoss)
from .hooks import RemovableHandle
from .module import Module
from .normalization import GroupNorm, LayerNorm
from .padding import (CircularPad1d, CircularPad2d, CircularPad3d, ConstantPad1d, ConstantPad2d,
                      ConstantPad3d, ReflectionPad1d, ReflectionPad2d, ReflectionPad3d,
                      ReplicationPad1d, ReplicationPad2d, ReplicationPad3d, ZeroPad1d,
                      ZeroPad2d, ZeroPad3d)
from .parameter import Parameter
from .pooling import (AdaptiveAvgPool1d, AdaptiveAvgPool2d, AdaptiveAvgPool3d, AdaptiveMaxPool1d,
                      AdaptiveMaxPool2d, AdaptiveMaxPool3d, AvgPool1d, AvgPool2d, AvgPool3d,
                      MaxPool1d, MaxPool2d, MaxPool3d, MaxUnpool1d, MaxUnpool2d, MaxUnpool3d)
from .sparse import Embedding
from .rnn import GRU, GRUCell, LSTM, LSTMCell, RNN, RNNCell
from .upsampling import Upsample

__all__ = ["Module", "Parameter", "RemovableHandle", "functional", "init", "parallel", "utils",
           "Conv2d", "ConvTranspose2d", "Conv1d", "ConvTranspose1d", "MaxPool1d", "AvgPool1d",
           "AdaptiveAvgPool1d", "AdaptiveMaxPool1d", "BatchNorm1d", "BatchNorm2d", "InstanceNorm1d",
           "InstanceNorm2d", "SyncBatchNorm", "Linear", "Identity",
           "ReLU", "LeakyReLU", "Sigmoid", "Tanh", "Softmax", "LogSoftmax", "ReLU6", "ELU",
           "GELU", "SiLU", "Softplus", "Hardtanh", "Hardsigmoid", "Hardswish", "Mish",
           "LogSigmoid", "PReLU", "LayerNorm", "GroupNorm", "Embedding", "ZeroPad2d",
           "ConstantPad2d", "ReflectionPad2d", "ReplicationPad2d", "CircularPad2d",
           "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "AdaptiveMaxPool2d", "Upsample",
           "Dropout", "Dropout2d", "Flatten", "Unflatten", "PixelShuffle", "PixelUnshuffle",
           "Fold", "Unfold", "Sequential", "ModuleList",
           "ModuleDict", "ParameterList", "ParameterDict", "MultiheadAttention",
           "TransformerEncoderLayer", "TransformerEncoder", "TransformerDecoderLayer",
           "TransformerDecoder", "Transformer",
           "CrossEntropyLoss", "NLLLoss", "BCEWithLogitsLoss", "BCELoss", "MSELoss", "L1Loss",
           "SmoothL1Loss", "HuberLoss", "KLDivLoss", "DiceLoss", "TverskyLoss",
           "FocalTverskyLoss",
           "RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell",
           # volumes (N, C, D, H, W), unpooling, and the rest of the 1-D/3-D padding and dropout
           "Conv3d", "ConvTranspose3d", "MaxPool3d", "AvgPool3d", "AdaptiveAvgPool3d",
           "AdaptiveMaxPool3d", "MaxUnpool1d", "MaxUnpool2d", "MaxUnpool3d", "BatchNorm3d",
           "InstanceNorm3d", "Dropout1d", "Dropout3d", "ZeroPad1d", "ZeroPad3d", "ConstantPad1d",
           "ConstantPad3d", "ReflectionPad1d", "ReflectionPad3d", "ReplicationPad1d",
           "ReplicationPad3d", "CircularPad1d", "CircularPad3d",
           # more activations, distances, and the margin and likelihood losses
           "SELU", "CELU", "Softsign", "Softmin", "GLU", "Threshold", "Tanhshrink", "Hardshrink",
           "Softshrink", "RReLU", "Softmax2d", "PairwiseDistance", "CosineSimilarity",
           "MarginRankingLoss", "HingeEmbeddingLoss", "SoftMarginLoss",
           "MultiLabelSoftMarginLoss", "CosineEmbeddingLoss", "TripletMarginLoss",
           "PoissonNLLLoss", "GaussianNLLLoss", "MultiMarginLoss",
           # bilinear, LRN, alpha dropout, LP pooling, channel shuffle, upsamplers, bags
           "Bilinear", "LocalResponseNorm", "AlphaDropout", "FeatureAlphaDropout", "LPPool1d",
           "LPPool2d", "ChannelShuffle", "UpsamplingNearest2d", "UpsamplingBilinear2d",
           "EmbeddingBag"]
