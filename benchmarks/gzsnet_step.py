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

Rows that measure what else might speed the step up (none is used in training unless it pays):
- one decoder call: every term's latents decoded in a single batched call (one_call_loss);
- channels_last: the model's weights and the groups in NHWC;
- torch.compile (`--compile`, adds ~90 s of compilation before timing): zsdist's step compiled.
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
from zsdist.train.precision import cpu_has_bf16

ROOT = Path(__file__).resolve().parents[1]


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


def one_call_loss(model: GZSNet, groups: torch.Tensor) -> torch.Tensor:
    """The same total as gzsnet_losses (default weights), with every term's latents decoded in one call."""
    n_groups, slots = groups.shape[:2]
    images = groups.flatten(0, 1)
    z = model.forward_encoder(images).view(n_groups, slots, -1)  # (G, 1 + A, L)
    masks = torch.stack([model.chunk_mask([a]) for a in model.config.attributes])  # (A, L)
    centre_z, swapped, targets = z[:, 0], [], []
    for k in range(len(model.config.attributes)):
        swapped += [torch.where(masks[k], z[:, 1 + k], centre_z), torch.where(masks[k], centre_z, z[:, 1 + k])]
        targets += [groups[:, 0], groups[:, 1 + k]]
    assembled = (z[:, 1:] * masks).sum(dim=1)  # (G, L)
    decoded = model.forward_decoder(torch.cat([z.flatten(0, 1), *swapped, assembled]))  # (G * (3A + 2), C, H, W)
    n, m = len(images), len(images) + len(swapped) * n_groups
    return (F.l1_loss(decoded[:n], images) + F.l1_loss(decoded[n:m], torch.cat(targets))
            + F.l1_loss(decoded[m:], groups[:, 0]))


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
    parser.add_argument("--compile", action="store_true", help="also time zsdist's step under torch.compile")
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
        one_call = one_call_loss(model, groups)
    assert torch.allclose(ours, theirs, rtol=1e-5), (ours.item(), theirs.item())
    assert torch.allclose(ours, one_call, rtol=1e-5), (ours.item(), one_call.item())
    nhwc = groups.flatten(0, 1).contiguous(memory_format=torch.channels_last).view_as(groups)

    def step(loss_fn, bf16: bool = False, memory_format: torch.memory_format = torch.contiguous_format):
        def run():
            model.to(memory_format=memory_format)  # a no-op when the weights already have that layout
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                loss = loss_fn()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        return run

    settings = {"released-style passes, float32": step(lambda: released_style_loss(model, groups)),
                "zsdist, float32": step(lambda: objective(groups, generator=generator)["total"]),
                "zsdist, one decoder call for every term, float32": step(lambda: one_call_loss(model, groups)),
                "zsdist, channels_last, float32": step(lambda: objective(nhwc, generator=generator)["total"],
                                                       memory_format=torch.channels_last)}
    if args.compile:
        compiled = torch.compile(objective)
        settings["zsdist, torch.compile, float32"] = step(lambda: compiled(groups, generator=generator)["total"])
    if cpu_has_bf16():  # without it autocast emulates bf16, slower than float32
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
