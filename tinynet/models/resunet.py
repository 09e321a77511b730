"""The classic ResUNet for brain-MRI tumour segmentation.

A U-Net (Ronneberger et al., 2015) whose convolution stages are residual
blocks (Zhang et al., "Road Extraction by Deep Residual U-Net", 2018), in the
form widely used on the LGG MRI dataset (Buda et al., 2019): the Keras
network with 1,206,129 trainable parameters (1,210,513 with the BatchNorm
moving statistics).  With the defaults (``base=16, depth=4``) on a 256x256
slice:

    stem      conv3x3(3->16) relu BN, conv3x3(16->16) relu BN      (N, 16, 256, 256) skip 0
    maxpool                                                       (N, 16, 128, 128)
    encoder   ResBlock(16->32)   skip 1, maxpool                   (N, 32, 64, 64)
              ResBlock(32->64)   skip 2, maxpool                   (N, 64, 32, 32)
              ResBlock(64->128)  skip 3, maxpool                   (N, 128, 16, 16)
    bridge    ResBlock(128->256)                                  (N, 256, 16, 16)
    decoder   up x2, cat skip 3 -> ResBlock(384->128)              (N, 128, 32, 32)
              up x2, cat skip 2 -> ResBlock(192->64)               (N, 64, 64, 64)
              up x2, cat skip 1 -> ResBlock(96->32)                (N, 32, 128, 128)
              up x2, cat skip 0 -> ResBlock(48->16)                (N, 16, 256, 256)
    head      conv1x1(16->1)                                       (N, 1, 256, 256) logits

The stem keeps the classic network's order (convolution, ReLU, then BN); the
residual blocks are convolution, BN, ReLU.  The head returns logits: apply
``sigmoid`` for probabilities (losses take logits or probabilities).
The input side must be a multiple of ``2**depth``.
"""
from .. import nn, ops
from ..nn import init

__all__ = ["ResBlock", "ResUNet"]


class ResBlock(nn.Module):
    """Residual block: main 1x1 conv-BN-ReLU-3x3 conv-BN, shortcut 1x1 conv-BN, add, ReLU.

    (N, in_channels, H, W) -> (N, out_channels, H, W).  All convolutions have a
    bias, as in the classic Keras network (this is what makes the counts match).
    """

    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 1)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1),
                                      nn.BatchNorm2d(out_channels))
        self.relu = nn.ReLU()

    def forward(self, x):
        main = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
        return self.relu(main + self.shortcut(x))


class ResUNet(nn.Module):
    """ResUNet with configurable width (``base``) and depth (number of 2x downsamplings).

    Parameters
    ----------
    in_channels : int
        Input channels (3: pre-contrast, FLAIR, post-contrast).
    out_channels : int
        Output logits per pixel (1 for tumour / background).
    base : int
        Width of the stem; stage ``i`` has ``base * 2**i`` channels.
    depth : int
        Number of max-pools; the bridge runs at ``H / 2**depth``.
    """

    def __init__(self, in_channels=3, out_channels=1, base=16, depth=4):
        super().__init__()
        if depth < 1:
            raise ValueError(f"ResUNet: depth must be at least 1, got {depth}")
        self.depth = depth
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, base, 3, padding=1), nn.ReLU(), nn.BatchNorm2d(base),
            nn.Conv2d(base, base, 3, padding=1), nn.ReLU(), nn.BatchNorm2d(base))
        self.pool = nn.MaxPool2d(2)
        widths = [base * 2 ** i for i in range(depth + 1)]          # 16, 32, 64, 128, 256
        self.encoder = nn.ModuleList(
            [ResBlock(widths[i], widths[i + 1]) for i in range(depth - 1)])
        self.bridge = ResBlock(widths[depth - 1], widths[depth])
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        # Decoder step i: upsampled (widths[i+1] channels) + skip (widths[i]) -> widths[i].
        self.decoder = nn.ModuleList(
            [ResBlock(widths[i + 1] + widths[i], widths[i]) for i in reversed(range(depth))])
        self.head = nn.Conv2d(base, out_channels, 1)
        self._init_weights()

    def _init_weights(self):
        # He-normal (fan_in) for every convolution, as the classic network's he_normal.
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
                init.zeros_(m.bias)

    def forward(self, x):
        multiple = 2 ** self.depth
        if x.ndim != 4 or x.shape[2] % multiple or x.shape[3] % multiple:
            raise ValueError(f"ResUNet: expected input (N, C, H, W) with H and W multiples of "
                             f"{multiple}, got shape {tuple(x.shape)}")
        skips = [self.stem(x)]
        h = self.pool(skips[0])
        for block in self.encoder:
            skips.append(block(h))
            h = self.pool(skips[-1])
        h = self.bridge(h)
        for block, skip in zip(self.decoder, reversed(skips)):
            h = block(ops.cat([self.up(h), skip], dim=1))
        return self.head(h)
