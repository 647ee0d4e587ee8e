"""Times PyTorch training steps of exactq's `resnet8` (trainer/src/zoo.rs) on the CPU.

Same network (28x28x1; stem conv3x3 16 + BN + ReLU; residual stages 16/32/64, stages 2 and 3
stride 2 with a 1x1 stride-2 projection + BN; global average pool; linear 10; convolutions
without bias), batch 128, Adam lr 1e-3, cross-entropy, 2 intra-op threads. Random inputs of
the right shape: a step's cost does not depend on pixel values.

    python resnet8_epoch.py [STEPS] [WARMUP] [THREADS]

Prints one line: samples/s over the timed steps (wall clock) and the process's CPU seconds per
step, so it can be compared with `cargo run --release -p exactq-trainer --example train_steps`
run back to back (tools/torch-anchor/side_by_side.sh alternates the two).
"""
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class ConvBnRelu(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


class Residual(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.a = ConvBnRelu(cin, cout, stride)
        self.b_conv = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.b_bn = nn.BatchNorm2d(cout)
        if stride != 1 or cin != cout:
            self.proj = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, 0, bias=False), nn.BatchNorm2d(cout))
        else:
            self.proj = None

    def forward(self, x):
        y = self.b_bn(self.b_conv(self.a(x)))
        s = x if self.proj is None else self.proj(x)
        return F.relu(y + s)


class Resnet8(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = ConvBnRelu(1, 16, 1)
        self.stage1 = Residual(16, 16, 1)
        self.stage2 = Residual(16, 32, 2)
        self.stage3 = Residual(32, 64, 2)
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        x = self.stage3(self.stage2(self.stage1(self.stem(x))))
        return self.fc(x.mean(dim=(2, 3)))


def main():
    steps = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    warmup = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    threads = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    batch = 128
    model = Resnet8()
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    data = [(torch.randn(batch, 1, 28, 28), torch.randint(0, 10, (batch,))) for _ in range(8)]

    def step(i):
        x, y = data[i % len(data)]
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss.item()

    for i in range(warmup):
        step(i)
    c0, t0 = time.process_time(), time.perf_counter()
    for i in range(steps):
        step(i)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(f"torch {torch.__version__}: {steps} steps of {batch}, {threads} threads: "
          f"{steps * batch / wall:.1f} samples/s, {wall / steps * 1e3:.1f} ms/step wall, "
          f"{cpu / steps:.3f} CPU-s/step")


if __name__ == "__main__":
    main()
