"""GZS-Net's training step per image on one core: zsdist's against a step that runs pass by pass as the
released code does, the same model, groups and loss, in one run.

    . scripts/offline-env.sh
    python benchmarks/gzsnet_step.py                                  # the CPU recipe's model and batch
    python benchmarks/gzsnet_step.py --config configs/gzsnet_paper.yaml --steps 3

The released Fonts code (../shared/reference/gzsnet.md) encodes and decodes each image slot and each
swap in a pass of its own: per step 7 encoder and 18 decoder passes over the batch of groups. The
baseline here runs the terms zsdist computes (reconstruction, the 10 one-overlap swaps, the decode from
the neighbours' chunks) that way: 6 encoder passes (one per slot) and 17 decoder passes, float32, so it
omits the released code's seventh encoder and eighteenth decoder pass, in its favour. zsdist's step is
`GZSNetObjective` as training runs it (encoder once over all slots, the decoder once per term), in
float32 and, where the CPU has AVX512-BF16, under bf16 autocast. Each step is forward, backward and
Adam on random groups in [-1, 1] (the cost does not depend on the pixels); settings are interleaved,
`--repeats` rounds of `--steps` timed steps after 2 warm-up steps each, and the median round counts.
Both float32 steps give the same loss (checked), so they do the same work.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from zsdist.base.errors import ConfigError
from zsdist.config import load_config
from zsdist.methods.gzsnet.config import GZSNetTrainConfig
from zsdist.methods.gzsnet.model import GZSNet
from zsdist.methods.gzsnet.objective import GZSNetLossWeights, GZSNetObjective

ROOT = Path(__file__).resolve().parents[1]


def has_bf16() -> bool:
    """Whether this CPU does bf16 arithmetic natively (without it, autocast emulates and is slow)."""
    cpuinfo = Path("/proc/cpuinfo")
    return cpuinfo.is_file() and "avx512_bf16" in cpuinfo.read_text()


def released_style_loss(model: GZSNet, groups: torch.Tensor) -> torch.Tensor:
    """The same total as gzsnet_losses (default weights), computed one pass per slot and per swap."""
    attributes = model.config.attributes
    slots = [groups[:, s] for s in range(groups.shape[1])]  # (G, C, H, W) each: centre, then partner k
    z = [model.forward_encoder(x) for x in slots]  # 1 + A encoder passes
    reconstruction = torch.stack([F.l1_loss(model.forward_decoder(z_s), x) for z_s, x in zip(z, slots)]).mean()
    swaps = []
    for k, name in enumerate(attributes):
        mask = model.chunk_mask([name])
        c_swapped, p_swapped = torch.where(mask, z[1 + k], z[0]), torch.where(mask, z[0], z[1 + k])
        swaps.append(F.l1_loss(model.forward_decoder(c_swapped), slots[0]))  # 2A decoder passes
        swaps.append(F.l1_loss(model.forward_decoder(p_swapped), slots[1 + k]))
    assembled = sum(torch.where(model.chunk_mask([name]), z[1 + k], 0.0) for k, name in enumerate(attributes))
    neighbour = F.l1_loss(model.forward_decoder(assembled), slots[0])
    return reconstruction + torch.stack(swaps).mean() + neighbour


def images_per_s(step, groups: torch.Tensor, steps: int) -> float:
    for _ in range(2):
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return steps * groups.shape[0] * groups.shape[1] / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=str(ROOT / "configs" / "gzsnet_cpu.yaml"),
                        help="a `zsdist train gzsnet` config: its model and groups_per_batch")
    parser.add_argument("--steps", type=int, default=10, help="timed steps per setting and round")
    parser.add_argument("--repeats", type=int, default=3, help="rounds (settings interleaved in each)")
    args = parser.parse_args()
    if args.steps < 1 or args.repeats < 1:
        parser.error("--steps and --repeats must be >= 1")
    torch.set_num_threads(1)
    try:
        cfg = load_config(GZSNetTrainConfig, file=args.config)
    except ConfigError as error:
        parser.error(str(error))
    torch.manual_seed(0)
    model = GZSNet(cfg.model)
    objective = GZSNetObjective(model, GZSNetLossWeights())
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    size, slots = cfg.model.image_size, 1 + len(cfg.model.attributes)
    groups = torch.rand(cfg.groups_per_batch, slots, cfg.model.channels, size, size) * 2 - 1
    generator = torch.Generator().manual_seed(0)

    with torch.no_grad():
        ours = objective(groups, generator=generator)["total"]
        theirs = released_style_loss(model, groups)
    assert torch.allclose(ours, theirs, rtol=1e-5), (ours.item(), theirs.item())

    def step(loss_fn, bf16: bool = False):
        def run():
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                loss = loss_fn()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        return run

    settings = {"released-style passes, float32": step(lambda: released_style_loss(model, groups)),
                "zsdist, float32": step(lambda: objective(groups, generator=generator)["total"])}
    if has_bf16():
        settings["zsdist, bf16 autocast"] = step(lambda: objective(groups, generator=generator)["total"], bf16=True)
    rounds = {name: [] for name in settings}
    for _ in range(args.repeats):
        for name, run in settings.items():
            rounds[name].append(images_per_s(run, groups, args.steps))

    parameters = sum(p.numel() for p in model.parameters())
    print(f"{platform.node()} {platform.machine()}, torch {torch.__version__}, 1 thread, {time.strftime('%Y-%m-%d')}; "
          f"{args.config}: {size} px, {parameters / 1e6:.1f}M parameters, {cfg.groups_per_batch} groups of {slots}")
    print("| step | images/s (each round) | median | ratio |")
    print("| --- | --- | --- | --- |")
    baseline = statistics.median(rounds["released-style passes, float32"])
    for name, values in rounds.items():
        median = statistics.median(values)
        print(f"| {name} | {', '.join(f'{v:.1f}' for v in values)} | {median:.1f} | {median / baseline:.2f}x |")


if __name__ == "__main__":
    main()
