# Copyright (c) mmmultimae contributors. All rights reserved.
from .knn import knn_accuracy, knn_classify
from .segmentation import class_areas, mean_iou

__all__ = ['knn_classify', 'knn_accuracy', 'class_areas', 'mean_iou']
