"""Small synthetic models covering every op ArmrestPartitioner claims."""

import torch
import torch.nn as nn
import torch.nn.functional as F


class ConvBlock(nn.Module):
    def __init__(self, cin=6, cout=8, k=3, stride=1, padding=1, dilation=1, groups=1, act="relu6", bn=True):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride, padding, dilation, groups, bias=not bn)
        self.bn = nn.BatchNorm2d(cout) if bn else nn.Identity()
        self.act = {"relu6": nn.ReLU6(), "relu": nn.ReLU(), "none": nn.Identity(), "hardswish": nn.Hardswish()}[act]
        if bn:
            # Non-trivial running statistics so the fold is exercised.
            with torch.no_grad():
                self.bn.running_mean.uniform_(-0.5, 0.5)
                self.bn.running_var.uniform_(0.5, 2.0)
                self.bn.weight.uniform_(0.5, 1.5)
                self.bn.bias.uniform_(-0.2, 0.2)

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))


class Elementwise(nn.Module):
    def forward(self, x, y):
        a = x + y
        b = a * torch.sigmoid(x) - y / 2.5
        c = torch.tanh(b) + F.hardswish(a) + torch.clamp(x, -0.3, 0.4)
        d = F.gelu(c) * F.hardsigmoid(y) + F.gelu(x, approximate="tanh")
        e = torch.maximum(d, y) - torch.minimum(a, x) + F.leaky_relu(d, 0.1)
        return e * 3.0 + 1.0


class Pools(nn.Module):
    def forward(self, x):
        a = F.max_pool2d(x, 3, 2, 1)
        b = F.avg_pool2d(x, 2, 2)
        c = F.adaptive_avg_pool2d(x, 1)
        return a.mean(dim=(2, 3)) + b.mean(dim=(2, 3), keepdim=True).flatten(1) + c.flatten(1)


class Layout(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 6, 1)

    def forward(self, x):
        y = self.conv(x)  # NHWC inside
        p = y.permute(0, 2, 3, 1)  # NHWC as a plain tensor
        s = torch.softmax(p, dim=-1) + torch.softmax(y, dim=1).permute(0, 2, 3, 1)
        t = torch.softmax(y, dim=2).permute(0, 2, 3, 1)
        c = torch.cat([y, torch.relu(x)], dim=1)
        u = F.interpolate(c, scale_factor=2, mode="bilinear", align_corners=False)
        v = F.interpolate(c, size=(5, 7), mode="bilinear", align_corners=True)
        w = F.pad(y, (1, 2, 0, 1))
        return s + t, u.mean(dim=1), v.reshape(v.shape[0], -1), w


class Matmuls(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(12, 7)
        self.w = nn.Parameter(torch.randn(7, 5))
        self.b = nn.Parameter(torch.randn(5))

    def forward(self, x, y):
        h = torch.relu(self.fc(x))  # linear
        a = torch.addmm(self.b, h, self.w)  # addmm with a constant matrix
        m = torch.mm(h, h.t())  # mm of activations
        bm = torch.bmm(x.reshape(2, 3, 12), y)  # bmm
        return a, m, bm


class GroupedConv(nn.Module):
    def __init__(self):
        super().__init__()
        self.g = nn.Conv2d(8, 12, 3, padding=2, dilation=2, groups=4)
        self.dw = nn.Conv2d(8, 16, 3, stride=2, padding=1, groups=8)  # depth multiplier 2
        self.strided = nn.Conv2d(8, 5, (3, 5), stride=(2, 1), padding=(0, 2))

    def forward(self, x):
        return self.g(x), self.dw(x), self.strided(x)
