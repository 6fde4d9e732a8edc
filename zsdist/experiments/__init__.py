"""Experiments that combine trained methods into one study, each a package with its own command.

    zsdist augment --data DIR --config configs/augment_cpu.yaml   # augmentation/: GZS-Net synthesis as augmentation
"""
