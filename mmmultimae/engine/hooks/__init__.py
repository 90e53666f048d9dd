# Copyright (c) mmmultimae contributors. All rights reserved.
from .check_finite_loss_hook import (CheckFiniteLossHook, format_non_finite,
                                     non_finite_losses)
from .classes_check_hook import ClassifierClassesCheckHook, class_mismatches
from .dense_visualization_hook import DenseVisualizationHook
from .progress_bar_hook import ProgressBarHook, render_progress
from .reconstruction_visualization_hook import (
    ReconstructionVisualizationHook, isolated_rng)
from .step_seed_hook import StepSeedHook, step_seed

__all__ = [
    'CheckFiniteLossHook', 'non_finite_losses', 'format_non_finite',
    'ClassifierClassesCheckHook', 'class_mismatches',
    'DenseVisualizationHook',
    'ProgressBarHook', 'render_progress', 'ReconstructionVisualizationHook',
    'isolated_rng', 'StepSeedHook', 'step_seed'
]
