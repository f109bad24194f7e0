"""Compression front end: distillation, LayerDrop + layer selection, head pruning, augmentation."""
