"""Reference pix2pix networks in plain PyTorch, for equivalence tests and benchmarks.

The module structure follows the original pix2pix implementation
(UnetGenerator / UnetSkipConnectionBlock / NLayerDiscriminator), so that
`state_dict()` keys are the official checkpoint keys. Written for this project.

Command line (used by the Rust tests):
  reference_pix2pix.py make-checkpoint OUT.pth --input IN.f32 --output OUT.f32 --size H W
      builds a unet_256 with random weights and non-trivial BatchNorm running
      statistics, saves its state_dict with torch.save, runs it in eval mode on
      the raw float32 NCHW input and writes the raw float32 output.
  reference_pix2pix.py count
      prints the parameter counts of the default generator and discriminator.
"""

import argparse
import functools
import sys

import torch
import torch.nn as nn


class UnetSkipConnectionBlock(nn.Module):
    def __init__(self, outer_nc, inner_nc, input_nc=None, submodule=None,
                 outermost=False, innermost=False, norm_layer=nn.BatchNorm2d,
                 use_dropout=False):
        super().__init__()
        self.outermost = outermost
        use_bias = norm_layer == nn.InstanceNorm2d or (
            isinstance(norm_layer, functools.partial) and norm_layer.func == nn.InstanceNorm2d)
        if input_nc is None:
            input_nc = outer_nc
        downconv = nn.Conv2d(input_nc, inner_nc, kernel_size=4, stride=2, padding=1, bias=use_bias)
        downrelu = nn.LeakyReLU(0.2, True)
        downnorm = norm_layer(inner_nc)
        uprelu = nn.ReLU(True)
        upnorm = norm_layer(outer_nc)
        if outermost:
            upconv = nn.ConvTranspose2d(inner_nc * 2, outer_nc, kernel_size=4, stride=2, padding=1)
            layers = [downconv, submodule, uprelu, upconv, nn.Tanh()]
        elif innermost:
            upconv = nn.ConvTranspose2d(inner_nc, outer_nc, kernel_size=4, stride=2, padding=1, bias=use_bias)
            layers = [downrelu, downconv, uprelu, upconv, upnorm]
        else:
            upconv = nn.ConvTranspose2d(inner_nc * 2, outer_nc, kernel_size=4, stride=2, padding=1, bias=use_bias)
            layers = [downrelu, downconv, downnorm, submodule, uprelu, upconv, upnorm]
            if use_dropout:
                layers.append(nn.Dropout(0.5))
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        if self.outermost:
            return self.model(x)
        return torch.cat([x, self.model(x)], 1)


class UnetGenerator(nn.Module):
    def __init__(self, input_nc=3, output_nc=3, num_downs=8, ngf=64,
                 norm_layer=nn.BatchNorm2d, use_dropout=True):
        super().__init__()
        block = UnetSkipConnectionBlock(ngf * 8, ngf * 8, submodule=None, norm_layer=norm_layer, innermost=True)
        for _ in range(num_downs - 5):
            block = UnetSkipConnectionBlock(ngf * 8, ngf * 8, submodule=block, norm_layer=norm_layer, use_dropout=use_dropout)
        block = UnetSkipConnectionBlock(ngf * 4, ngf * 8, submodule=block, norm_layer=norm_layer)
        block = UnetSkipConnectionBlock(ngf * 2, ngf * 4, submodule=block, norm_layer=norm_layer)
        block = UnetSkipConnectionBlock(ngf, ngf * 2, submodule=block, norm_layer=norm_layer)
        self.model = UnetSkipConnectionBlock(output_nc, ngf, input_nc=input_nc, submodule=block,
                                             outermost=True, norm_layer=norm_layer)

    def forward(self, x):
        return self.model(x)


class NLayerDiscriminator(nn.Module):
    def __init__(self, input_nc=6, ndf=64, n_layers=3, norm_layer=nn.BatchNorm2d):
        super().__init__()
        use_bias = norm_layer != nn.BatchNorm2d
        seq = [nn.Conv2d(input_nc, ndf, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        mult = 1
        for n in range(1, n_layers):
            prev, mult = mult, min(2 ** n, 8)
            seq += [nn.Conv2d(ndf * prev, ndf * mult, 4, 2, 1, bias=use_bias),
                    norm_layer(ndf * mult), nn.LeakyReLU(0.2, True)]
        prev, mult = mult, min(2 ** n_layers, 8)
        seq += [nn.Conv2d(ndf * prev, ndf * mult, 4, 1, 1, bias=use_bias),
                norm_layer(ndf * mult), nn.LeakyReLU(0.2, True)]
        seq += [nn.Conv2d(ndf * mult, 1, 4, 1, 1)]
        self.model = nn.Sequential(*seq)

    def forward(self, x):
        return self.model(x)


def init_normal(net, gain=0.02):
    def f(m):
        name = m.__class__.__name__
        if hasattr(m, "weight") and ("Conv" in name):
            nn.init.normal_(m.weight, 0.0, gain)
            if m.bias is not None:
                nn.init.constant_(m.bias, 0.0)
        elif "BatchNorm2d" in name:
            nn.init.normal_(m.weight, 1.0, gain)
            nn.init.constant_(m.bias, 0.0)
    net.apply(f)


def make_checkpoint(args):
    torch.manual_seed(args.seed)
    net = UnetGenerator(num_downs=args.num_downs, ngf=args.ngf)
    init_normal(net)
    # Non-trivial running statistics, so eval mode differs from identity BatchNorm.
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 2.0)
            m.num_batches_tracked.fill_(1234)
    net.eval()
    torch.save(net.state_dict(), args.out)
    h, w = args.size
    x = torch.frombuffer(bytearray(open(args.input, "rb").read()), dtype=torch.float32)
    x = x.reshape(1, 3, h, w)
    with torch.no_grad():
        y = net(x)
    open(args.output, "wb").write(y.contiguous().numpy().tobytes())


class _Exploit:
    """Pickles as a call of os.system: a checkpoint that runs code when unpickled."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        import os
        return (os.system, ("touch " + self.marker,))


def make_malicious(args):
    state = {"model.model.0.weight": torch.zeros(2, 3, 4, 4), "payload": _Exploit(args.marker)}
    torch.save(state, args.out)


def bench_infer(args):
    """The plain PyTorch loop the element is compared with: 8-bit frames to float,
    generator in eval mode under no_grad, back to 8-bit."""
    import time
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    net = UnetGenerator(ngf=args.ngf).eval()
    frames = [torch.randint(0, 256, (args.size, args.size, 3), dtype=torch.uint8) for _ in range(4)]

    def one(f):
        x = f.permute(2, 0, 1).unsqueeze(0).float().div(127.5).sub(1.0)
        y = net(x)
        return y.squeeze(0).add(1.0).mul(127.5).round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).contiguous()

    with torch.no_grad():
        for i in range(args.warmup):
            one(frames[i % 4])
        t = time.perf_counter()
        for i in range(args.frames):
            one(frames[i % 4])
        dt = time.perf_counter() - t
    print(f"{args.frames / dt:.4f}")


def bench_train(args):
    """A plain PyTorch pix2pix training step with the reference's separate passes."""
    import time
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    g = UnetGenerator(ngf=args.ngf)
    d = NLayerDiscriminator(ndf=args.ndf)
    init_normal(g)
    init_normal(d)
    opt_g = torch.optim.Adam(g.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), lr=2e-4, betas=(0.5, 0.999))
    bce = nn.BCEWithLogitsLoss()
    l1 = nn.L1Loss()
    a = torch.rand(1, 3, args.size, args.size) * 2 - 1
    b = torch.rand(1, 3, args.size, args.size) * 2 - 1

    def step():
        fake = g(a)
        for p in d.parameters():
            p.requires_grad_(True)
        opt_d.zero_grad()
        pf = d(torch.cat([a, fake.detach()], 1))
        pr = d(torch.cat([a, b], 1))
        loss_d = 0.5 * (bce(pf, torch.zeros_like(pf)) + bce(pr, torch.ones_like(pr)))
        loss_d.backward()
        opt_d.step()
        for p in d.parameters():
            p.requires_grad_(False)
        opt_g.zero_grad()
        pg = d(torch.cat([a, fake], 1))
        loss_g = bce(pg, torch.ones_like(pg)) + 100.0 * l1(fake, b)
        loss_g.backward()
        opt_g.step()

    for _ in range(args.warmup):
        step()
    t = time.perf_counter()
    for _ in range(args.steps):
        step()
    dt = time.perf_counter() - t
    print(f"{args.steps / dt:.4f}")


def count(_args):
    g = UnetGenerator()
    d = NLayerDiscriminator()
    print(sum(p.numel() for p in g.parameters()), sum(p.numel() for p in d.parameters()))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("make-checkpoint")
    m.add_argument("out")
    m.add_argument("--input", required=True)
    m.add_argument("--output", required=True)
    m.add_argument("--size", nargs=2, type=int, default=[256, 256])
    m.add_argument("--num-downs", type=int, default=8)
    m.add_argument("--ngf", type=int, default=64)
    m.add_argument("--seed", type=int, default=0)
    sub.add_parser("count")
    bi = sub.add_parser("bench-infer")
    bi.add_argument("--threads", type=int, default=torch.get_num_threads())
    bi.add_argument("--frames", type=int, default=10)
    bi.add_argument("--warmup", type=int, default=2)
    bi.add_argument("--size", type=int, default=256)
    bi.add_argument("--ngf", type=int, default=64)
    bt = sub.add_parser("bench-train")
    bt.add_argument("--threads", type=int, default=torch.get_num_threads())
    bt.add_argument("--steps", type=int, default=5)
    bt.add_argument("--warmup", type=int, default=1)
    bt.add_argument("--size", type=int, default=256)
    bt.add_argument("--ngf", type=int, default=64)
    bt.add_argument("--ndf", type=int, default=64)
    b = sub.add_parser("make-malicious")
    b.add_argument("out")
    b.add_argument("--marker", required=True)
    args = p.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    {"make-checkpoint": make_checkpoint, "count": count, "make-malicious": make_malicious,
     "bench-infer": bench_infer, "bench-train": bench_train}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
