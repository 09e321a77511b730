"""Reference networks written in plain PyTorch, with tinynet's (torchvision's) module names.

The oracle for parity tests and the other side of the benchmarks; imported
only where torch is installed.  torchvision itself is not needed.
"""


def torch_resnet(torch, bottleneck, layers, num_classes=1000):
    """ResNet in plain PyTorch, named like torchvision's (torchvision itself is not needed)."""
    tnn = torch.nn

    class Block(tnn.Module):
        expansion = 4 if bottleneck else 1

        def __init__(self, cin, planes, stride, downsample):
            super().__init__()
            if bottleneck:
                self.conv1 = tnn.Conv2d(cin, planes, 1, bias=False)
                self.conv2 = tnn.Conv2d(planes, planes, 3, stride, 1, bias=False)
                self.conv3 = tnn.Conv2d(planes, planes * 4, 1, bias=False)
                self.bn3 = tnn.BatchNorm2d(planes * 4)
            else:
                self.conv1 = tnn.Conv2d(cin, planes, 3, stride, 1, bias=False)
                self.conv2 = tnn.Conv2d(planes, planes, 3, 1, 1, bias=False)
            self.bn1 = tnn.BatchNorm2d(planes)
            self.bn2 = tnn.BatchNorm2d(planes)
            self.relu = tnn.ReLU()
            self.downsample = downsample

        def forward(self, x):
            identity = x if self.downsample is None else self.downsample(x)
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            if bottleneck:
                out = self.bn3(self.conv3(self.relu(out)))
            return self.relu(out + identity)

    class Net(tnn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = tnn.Conv2d(3, 64, 7, 2, 3, bias=False)
            self.bn1 = tnn.BatchNorm2d(64)
            self.relu = tnn.ReLU()
            self.maxpool = tnn.MaxPool2d(3, 2, 1)
            cin = 64
            for i, (planes, n) in enumerate(zip([64, 128, 256, 512], layers)):
                stride = 1 if i == 0 else 2
                down = None
                if stride != 1 or cin != planes * Block.expansion:
                    down = tnn.Sequential(tnn.Conv2d(cin, planes * Block.expansion, 1, stride,
                                                     bias=False),
                                          tnn.BatchNorm2d(planes * Block.expansion))
                blocks = [Block(cin, planes, stride, down)]
                cin = planes * Block.expansion
                blocks += [Block(cin, planes, 1, None) for _ in range(n - 1)]
                setattr(self, f"layer{i + 1}", tnn.Sequential(*blocks))
            self.avgpool = tnn.AdaptiveAvgPool2d(1)
            self.fc = tnn.Linear(cin, num_classes)

        def forward(self, x):
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            return self.fc(torch.flatten(self.avgpool(x), 1))

    return Net()


def torch_resunet(torch, in_channels=3, out_channels=1, base=16, depth=4):
    """The classic ResUNet in PyTorch, module for module like tinynet.models.ResUNet."""
    tnn = torch.nn

    class ResBlock(tnn.Module):
        def __init__(self, cin, cout):
            super().__init__()
            self.conv1 = tnn.Conv2d(cin, cout, 1)
            self.bn1 = tnn.BatchNorm2d(cout)
            self.conv2 = tnn.Conv2d(cout, cout, 3, padding=1)
            self.bn2 = tnn.BatchNorm2d(cout)
            self.shortcut = tnn.Sequential(tnn.Conv2d(cin, cout, 1), tnn.BatchNorm2d(cout))
            self.relu = tnn.ReLU()

        def forward(self, x):
            main = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
            return self.relu(main + self.shortcut(x))

    class ResUNet(tnn.Module):
        def __init__(self):
            super().__init__()
            widths = [base * 2 ** i for i in range(depth + 1)]
            self.stem = tnn.Sequential(
                tnn.Conv2d(in_channels, base, 3, padding=1), tnn.ReLU(), tnn.BatchNorm2d(base),
                tnn.Conv2d(base, base, 3, padding=1), tnn.ReLU(), tnn.BatchNorm2d(base))
            self.pool = tnn.MaxPool2d(2)
            self.encoder = tnn.ModuleList(
                [ResBlock(widths[i], widths[i + 1]) for i in range(depth - 1)])
            self.bridge = ResBlock(widths[depth - 1], widths[depth])
            self.up = tnn.Upsample(scale_factor=2, mode="nearest")
            self.decoder = tnn.ModuleList(
                [ResBlock(widths[i + 1] + widths[i], widths[i]) for i in reversed(range(depth))])
            self.head = tnn.Conv2d(base, out_channels, 1)

        def forward(self, x):
            skips = [self.stem(x)]
            h = self.pool(skips[0])
            for block in self.encoder:
                skips.append(block(h))
                h = self.pool(skips[-1])
            h = self.bridge(h)
            for block, skip in zip(self.decoder, reversed(skips)):
                h = block(torch.cat([self.up(h), skip], dim=1))
            return self.head(h)

    return ResUNet()
