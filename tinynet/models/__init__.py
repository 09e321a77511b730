"""Ready-made networks: ResNet-18/34/50 (torchvision's architecture and key names) and the
ResUNet (a U-Net of residual blocks), the two the MRI application trains."""
from .resnet import (BasicBlock, Bottleneck, ResNet, replace_head, resnet18, resnet34,  # noqa: F401
                     resnet50)
from .resunet import ResBlock, ResUNet  # noqa: F401
