"""GZS-Net's data-augmentation experiment on Fonts (Ge et al., ICLR 2021): does synthesising the attribute
combinations a training set lacks help a classifier more than standard augmentation?

    zsdist datagen fonts --config configs/fonts_cpu32.yaml --out DIR
    zsdist augment --data DIR --config configs/augment_cpu.yaml

Files: config.py (the command's config), data.py (the splits and the extra images), classifier.py (the
font CNN), pipeline.py (the command: generator, sets, classifiers, MLflow).
"""
