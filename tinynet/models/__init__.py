"""The networks of the MRI pipeline: ResNet classifiers and the ResUNet segmenter."""
from .resnet import (BasicBlock, Bottleneck, ResNet, replace_head, resnet18, resnet34,  # noqa: F401
                     resnet50)
from .resunet import ResBlock, ResUNet  # noqa: F401
