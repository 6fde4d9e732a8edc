"""GZSL metrics (S, U, H) and the CADA-VAE final classifier: hand-computed scores, training set counts, learning."""

import numpy as np
import pytest
import torch

from zsdist.base.errors import ConfigError
from zsdist.eval.gzsl_metrics import confusion_scores, gzsl_scores, per_class_accuracy
from zsdist.eval.latent_classifier import ClassifierConfig, build_training_set, predict, train_linear_classifier

torch.set_num_threads(1)

SEEN, UNSEEN = [0, 1], [2, 3]
# Rows true class, columns predicted class, over all four classes.
CONFUSION = np.array(
    [
        [8, 1, 1, 0],  # seen 0: 8 / 10
        [0, 3, 0, 1],  # seen 1: 3 / 4
        [2, 2, 6, 0],  # unseen 2: 6 / 10 (4 taken by seen classes)
        [0, 1, 0, 1],  # unseen 3: 1 / 2
    ]
)


def _predictions(confusion, classes):
    """The (y_true, y_pred) pairs counted by the rows of `confusion` belonging to `classes`."""
    pairs = [(t, p) for t in classes for p in range(len(confusion)) for _ in range(confusion[t, p])]
    return np.array([t for t, _ in pairs]), np.array([p for _, p in pairs])


def test_scores_of_a_hand_made_confusion():
    s, u = (0.8 + 0.75) / 2, (0.6 + 0.5) / 2
    expected = {"S": s, "U": u, "H": 2 * s * u / (s + u)}
    scores = confusion_scores(CONFUSION, SEEN, UNSEEN)
    assert scores == pytest.approx(expected)
    assert scores["H"] == pytest.approx(0.6433962264)  # 2 * 0.775 * 0.55 / 1.325
    from_predictions = gzsl_scores(*_predictions(CONFUSION, SEEN), *_predictions(CONFUSION, UNSEEN), SEEN, UNSEEN)
    assert from_predictions == pytest.approx(expected)


def test_per_class_accuracy_ignores_class_frequency():
    y_true = np.array([0] * 100 + [1])
    y_pred = np.array([0] * 100 + [0])  # the frequent class perfect, the rare one wrong
    assert per_class_accuracy(y_true, y_pred, [0, 1]) == pytest.approx(0.5)
    assert per_class_accuracy(y_true, y_pred, [0, 1, 7]) == pytest.approx(0.5)  # class 7 has no sample
    with pytest.raises(ValueError, match="none of the classes"):
        per_class_accuracy(y_true, y_pred, [5, 7])


def test_harmonic_mean_is_zero_without_unseen_hits():
    confusion = np.diag([5, 5, 0, 0]) + np.array([[0] * 4, [0] * 4, [3, 0, 0, 0], [0, 2, 0, 0]])
    assert confusion_scores(confusion, SEEN, UNSEEN) == pytest.approx({"S": 1.0, "U": 0.0, "H": 0.0})
    assert confusion_scores(np.zeros((4, 4)) + np.eye(4)[[1, 0, 3, 2]], SEEN, UNSEEN)["H"] == 0.0
    with pytest.raises(ValueError, match="disjoint"):
        confusion_scores(CONFUSION, [0, 1], [1, 2])


def _toy_problem(classes=4, per_class=200, dim=8, seed=0):
    generator = torch.Generator().manual_seed(seed)
    centres = 6.0 * torch.randn(classes, dim, generator=generator)
    labels = torch.arange(classes).repeat_interleave(per_class)
    return centres[labels] + torch.randn(len(labels), dim, generator=generator), labels


def test_classifier_learns_a_separable_problem_and_is_deterministic():
    features, labels = _toy_problem()
    config = ClassifierConfig()  # the paper's 23 epochs: 25 batches each
    classifier = train_linear_classifier(features, labels, 4, config)
    accuracy = (predict(classifier, features) == labels).double().mean().item()
    assert accuracy > 0.95
    again = train_linear_classifier(features, labels, 4, config)
    assert torch.equal(classifier.weight, again.weight) and torch.equal(classifier.bias, again.bias)
    other = train_linear_classifier(features, labels, 4, ClassifierConfig(seed=1))
    assert not torch.equal(classifier.weight, other.weight)


def _noise_free(mu, logvar):
    return mu.clone()


def test_training_set_counts_tiling_and_few_shot():
    seen_labels = torch.tensor([0] * 3 + [1] * 250 + [4] * 1)  # classes with 3, 250 and 1 images
    seen_mu = torch.arange(len(seen_labels), dtype=torch.float32)[:, None].repeat(1, 2)
    unseen_labels = torch.tensor([2, 3])
    unseen_mu = torch.tensor([[-1.0, -1.0], [-2.0, -2.0]])
    config = ClassifierConfig()
    features, labels = build_training_set(
        seen_mu, torch.zeros_like(seen_mu), seen_labels, unseen_mu, torch.zeros_like(unseen_mu), unseen_labels,
        config, _noise_free,
    )  # fmt: skip
    assert features.shape == (3 * 200 + 2 * 400, 2)
    assert torch.bincount(labels).tolist() == [200, 200, 400, 400, 200]
    class0_rows = features[labels == 0, 0].long()
    assert sorted(torch.bincount(class0_rows).tolist()) == [66, 67, 67]  # 3 images cycled to 200 samples
    assert len(features[labels == 1, 0].unique()) == 200  # 200 distinct images of the 250
    assert torch.equal(features[labels == 3], torch.full((400, 2), -2.0))

    shots = torch.tensor([[9.0, 9.0], [10.0, 10.0], [11.0, 11.0]])
    with_shots, shot_labels = build_training_set(
        seen_mu, torch.zeros_like(seen_mu), seen_labels, unseen_mu, torch.zeros_like(unseen_mu), unseen_labels,
        config, _noise_free, shot_mu=shots, shot_logvar=torch.zeros_like(shots), shot_labels=torch.tensor([2, 2, 3]),
    )  # fmt: skip
    assert torch.bincount(shot_labels).tolist() == [200, 200, 600, 600, 200]
    assert set(with_shots[shot_labels == 3, 0].tolist()) == {11.0, -2.0}


def test_training_set_uses_the_sampler_and_the_seed():
    mu = torch.zeros(10, 3)
    labels = torch.tensor([0] * 5 + [1] * 5)

    def noisy(m, logvar):
        return m + torch.exp(0.5 * logvar) * torch.randn(m.shape, generator=torch.Generator().manual_seed(7))

    config = ClassifierConfig(seen_samples_per_class=4, unseen_samples_per_class=2)
    features, out = build_training_set(mu, mu, labels, mu[:1], mu[:1], torch.tensor([2]), config, noisy)
    assert features.shape == (10, 3) and out.tolist() == [0] * 4 + [1] * 4 + [2] * 2
    assert features.std() > 0.5
    with pytest.raises(ValueError, match="one attribute latent per unseen class"):
        build_training_set(mu, mu, labels, mu[:2], mu[:2], torch.tensor([2, 2]), config, noisy)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"seen_samples_per_class": -1}, "samples per class"),
        ({"seen_samples_per_class": 0, "unseen_samples_per_class": 0}, "samples per class"),
        ({"epochs": 0}, "epochs"),
        ({"lr": 0.0}, "lr"),
        ({"batch_size": 0}, "batch_size"),
        ({"betas": (0.5, 1.0)}, "betas"),
    ],
)
def test_invalid_classifier_config(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        ClassifierConfig(**kwargs)


def test_classifier_matches_autograd_and_torch_adam():
    features, labels = _toy_problem(per_class=20)
    config = ClassifierConfig(epochs=3, batch_size=7, lr=1e-2)
    trained = train_linear_classifier(features, labels, 4, config)
    generator = torch.Generator().manual_seed(config.seed)
    reference = torch.nn.Linear(8, 4)
    with torch.no_grad():  # the same init and batch order, drawn in the same sequence
        reference.weight.uniform_(-(8**-0.5), 8**-0.5, generator=generator)
        reference.bias.uniform_(-(8**-0.5), 8**-0.5, generator=generator)
    optimiser = torch.optim.Adam(reference.parameters(), lr=config.lr, betas=config.betas)
    for _ in range(config.epochs):
        order = torch.randperm(len(features), generator=generator)
        for x, y in zip(features[order].split(7), labels[order].split(7)):
            optimiser.zero_grad()
            torch.nn.functional.cross_entropy(reference(x), y).backward()
            optimiser.step()
    assert torch.allclose(trained.weight, reference.weight, atol=1e-5)
    assert torch.allclose(trained.bias, reference.bias, atol=1e-5)
