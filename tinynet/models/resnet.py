"""ResNet-18/34/50 with torchvision's architecture and state-dict key names.

He et al., "Deep Residual Learning for Image Recognition", CVPR 2016.  The
layout follows torchvision's ``resnet.py`` (v1.5: in a Bottleneck the stride
sits on the 3x3 convolution), so a state dict converted from torchvision's
ImageNet weights loads key for key:

    conv1 (7x7, stride 2) -> bn1 -> relu -> maxpool (3x3, stride 2)
    layer1 .. layer4      (blocks; the first block of layer2..4 halves H and W)
    avgpool (global)      -> flatten -> fc

    keys: conv1.weight, bn1.{weight,bias,running_mean,running_var,num_batches_tracked},
          layer1.0.conv1.weight, ..., layer2.0.downsample.0.weight (1x1 conv),
          layer2.0.downsample.1.* (its BatchNorm), ..., fc.weight, fc.bias

Shapes for a 224x224 input: (N, 3, 224, 224) -> conv1 (N, 64, 112, 112) ->
maxpool (N, 64, 56, 56) -> layer1..4 (N, 64|128|256|512 x expansion, 56|28|14|7) ->
fc (N, num_classes).
"""
from .. import nn
from ..nn import init

__all__ = ["BasicBlock", "Bottleneck", "ResNet", "resnet18", "resnet34", "resnet50",
           "replace_head"]


def conv3x3(in_channels, out_channels, stride=1):
    """3x3 convolution with padding 1 and no bias (the BatchNorm after it has one)."""
    return nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)


def conv1x1(in_channels, out_channels, stride=1):
    """1x1 convolution without bias: changes channels (and stride), not the neighbourhood."""
    return nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with a skip connection (ResNet-18/34).

    y = relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)), where shortcut is the
    identity, or ``downsample`` (1x1 conv + BN) when the shape changes.
    """
    expansion = 1

    def __init__(self, in_channels, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = conv3x3(in_channels, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU()
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """1x1 (reduce) -> 3x3 (stride here, v1.5) -> 1x1 (expand x4), plus skip (ResNet-50)."""
    expansion = 4

    def __init__(self, in_channels, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = conv1x1(in_channels, planes)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = conv1x1(planes, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU()
        self.downsample = downsample

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class ResNet(nn.Module):
    """A ResNet built from ``block`` (BasicBlock or Bottleneck) repeated ``layers[i]`` times.

    ``in_channels`` lets the stem take other than RGB input (3 for the MRI
    slices, whose channels are pre-contrast, FLAIR and post-contrast).
    ``width`` is the stem's channels, doubled at each of the four stages (64 in
    the paper and in torchvision; 32 gives a quarter of the parameters and
    roughly a quarter of the arithmetic, and ImageNet weights fit only 64).
    """

    def __init__(self, block, layers, num_classes=1000, in_channels=3, width=64):
        super().__init__()
        if not isinstance(width, int) or isinstance(width, bool) or width < 1:
            raise ValueError(f"ResNet: width must be a whole number >= 1, got {width!r}")
        self.in_planes = width
        self.conv1 = nn.Conv2d(in_channels, width, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU()
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, width, layers[0])
        self.layer2 = self._make_layer(block, 2 * width, layers[1], stride=2)
        self.layer3 = self._make_layer(block, 4 * width, layers[2], stride=2)
        self.layer4 = self._make_layer(block, 8 * width, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(8 * width * block.expansion, num_classes)
        self._init_weights()

    def _make_layer(self, block, planes, blocks, stride=1):
        downsample = None
        if stride != 1 or self.in_planes != planes * block.expansion:
            downsample = nn.Sequential(conv1x1(self.in_planes, planes * block.expansion, stride),
                                       nn.BatchNorm2d(planes * block.expansion))
        layers = [block(self.in_planes, planes, stride, downsample)]
        self.in_planes = planes * block.expansion
        layers += [block(self.in_planes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def _init_weights(self):
        # torchvision's choice: He-normal on fan_out for convolutions, BN as identity.
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                init.ones_(m.weight)
                init.zeros_(m.bias)

    def features(self, x):
        """Everything before the pooling: (N, C, H, W) -> (N, 8*width*expansion, H/32, W/32)."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))

    def forward(self, x):
        x = self.avgpool(self.features(x))
        return self.fc(x.flatten(1))


def replace_head(model, num_classes):
    """Give ``model`` a new, freshly initialized ``fc`` for ``num_classes`` outputs.

    For binary tumour classification use ``num_classes=2`` (softmax/cross-entropy)
    or ``1`` (one logit, BCE-with-logits).  Returns the model.
    """
    model.fc = nn.Linear(model.fc.in_features, num_classes)
    return model


def _build(block, layers, num_classes, in_channels, weights, width=64):
    """Build a ResNet; with ``weights`` (a path or a state dict) load them first.

    The weights are loaded strictly into a 1000-class network when they hold a
    1000-class head; the head is then replaced if ``num_classes`` differs, so
    ImageNet weights can start a 2-class tumour classifier.
    """
    if weights is None:
        return ResNet(block, layers, num_classes, in_channels, width)
    if isinstance(weights, str) or hasattr(weights, "__fspath__"):
        from ..io import load_state_dict_file
        weights = load_state_dict_file(weights)
    weights = {k: v for k, v in weights.items() if not k.endswith("num_batches_tracked")}
    stem = weights.get("conv1.weight")
    if stem is not None and stem.shape[0] != width:     # one line, not 100 size mismatches
        raise ValueError(f"the weights are of a ResNet of width {stem.shape[0]} (conv1 has "
                         f"{stem.shape[0]} output channels), this one has width {width}: "
                         f"pass width={stem.shape[0]} (--width {stem.shape[0]})")
    head_classes = weights["fc.weight"].shape[0] if "fc.weight" in weights else num_classes
    model = ResNet(block, layers, head_classes, in_channels, width)
    result = model.load_state_dict(weights, strict=False)
    unexpected = list(result.unexpected_keys)
    missing = [k for k in result.missing_keys if not k.endswith("num_batches_tracked")]
    if unexpected or missing:
        raise KeyError(f"weights do not fit this ResNet: missing keys {missing}, "
                       f"unexpected keys {unexpected}")
    if head_classes != num_classes:
        replace_head(model, num_classes)
    return model


def resnet18(num_classes=1000, in_channels=3, weights=None, width=64):
    """ResNet-18: BasicBlocks [2, 2, 2, 2]; 11,689,512 parameters with 1000 classes (width 64)."""
    return _build(BasicBlock, [2, 2, 2, 2], num_classes, in_channels, weights, width)


def resnet34(num_classes=1000, in_channels=3, weights=None, width=64):
    """ResNet-34: BasicBlocks [3, 4, 6, 3]; 21,797,672 parameters with 1000 classes (width 64)."""
    return _build(BasicBlock, [3, 4, 6, 3], num_classes, in_channels, weights, width)


def resnet50(num_classes=1000, in_channels=3, weights=None, width=64):
    """ResNet-50: Bottlenecks [3, 4, 6, 3]; 25,557,032 parameters with 1000 classes (width 64)."""
    return _build(Bottleneck, [3, 4, 6, 3], num_classes, in_channels, weights, width)
