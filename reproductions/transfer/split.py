"""The A/B class split and the class-balanced training subsets, both drawn from declared seeds."""

from __future__ import annotations

import torch


def split_classes(n_classes: int, seed: int) -> dict[str, list[int]]:
    """Two disjoint halves of the classes, {"A": [...], "B": [...]}, drawn from `seed`.

    With an odd number of classes B gets the extra one.
    """
    order = torch.randperm(n_classes, generator=torch.Generator().manual_seed(int(seed)))
    half = n_classes // 2
    return {"A": sorted(order[:half].tolist()), "B": sorted(order[half:].tolist())}


def take_per_class(
    labels: torch.Tensor, classes: list[int], per_class: int | None, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices of up to `per_class` examples of each of `classes` (all if None) and their
    labels renumbered 0..len(classes)-1 in the order of `classes`.

    Each class's examples come in an order drawn once from `seed`, and a subset is a prefix of
    it: the 10 images per class of a small run are among the 50 of a larger one, and every run
    of a split trains on the same images.
    """
    g = torch.Generator().manual_seed(int(seed))
    idx, new = [], []
    for k, c in enumerate(classes):
        members = (labels == c).nonzero().flatten()
        if per_class is not None and per_class > len(members):
            raise ValueError(f"class {c} has {len(members)} examples, {per_class} asked for")
        chosen = members[torch.randperm(len(members), generator=g)][:per_class]
        idx.append(chosen)
        new.append(torch.full_like(chosen, k))
    # Mixed classes, so that the first m of them (the trainer's periodic evaluations) are a
    # fair sample of the half rather than its first class.
    mix = torch.randperm(sum(len(i) for i in idx), generator=g)
    return torch.cat(idx)[mix], torch.cat(new)[mix]
