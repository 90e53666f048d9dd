# Copyright (c) mmmultimae contributors. All rights reserved.
"""Registries of mmmultimae, children of mmseg's registries.

Being children of mmseg's registries, configs using ``default_scope =
'mmmultimae'`` resolve mmseg modules (``UPerHead``, ``IoUMetric``,
``PackSegInputs``...) without scope prefixes, and mmengine's modules too.

Import discipline: pre-training must work with ``mmcv-lite`` (no compiled
ops), so nothing it imports pulls in ``mmseg.models``. mmengine's
``Registry.get`` imports the ``locations`` of the registry it is called on but
walks the parents without importing theirs. :class:`LazyParentRegistry`
imports, only when a key is missing, first our own transfer modules that are
built on ``mmseg.models`` or mmpretrain (``lazy_locations``: decode heads,
segmentors, classifiers; in order, until one registers the key), then the
parents' locations, i.e. only when a config really asks for such a module.

mmpretrain (classification) has registries of its own, children of
mmengine's, not of ours: configs name its modules with their scope,
``type='mmpretrain.LabelSmoothLoss'``, and a module that builds further
mmpretrain modules by plain names (``RandAugment``'s policies,
``ClsDataPreprocessor``'s batch augments) also gets ``_scope_='mmpretrain'``.
They are not registered here under their plain names because several clash
with mmseg's (``CrossEntropyLoss``, ``RandomFlip``...), which the dense
transfer configs resolve through these registries.
"""
import importlib
from typing import List, Optional, Type

from mmengine.registry import Registry
from mmseg.registry import DATA_SAMPLERS as MMSEG_DATA_SAMPLERS
from mmseg.registry import DATASETS as MMSEG_DATASETS
from mmseg.registry import EVALUATOR as MMSEG_EVALUATOR
from mmseg.registry import HOOKS as MMSEG_HOOKS
from mmseg.registry import LOG_PROCESSORS as MMSEG_LOG_PROCESSORS
from mmseg.registry import LOOPS as MMSEG_LOOPS
from mmseg.registry import METRICS as MMSEG_METRICS
from mmseg.registry import MODEL_WRAPPERS as MMSEG_MODEL_WRAPPERS
from mmseg.registry import MODELS as MMSEG_MODELS
from mmseg.registry import \
    OPTIM_WRAPPER_CONSTRUCTORS as MMSEG_OPTIM_WRAPPER_CONSTRUCTORS
from mmseg.registry import OPTIM_WRAPPERS as MMSEG_OPTIM_WRAPPERS
from mmseg.registry import OPTIMIZERS as MMSEG_OPTIMIZERS
from mmseg.registry import PARAM_SCHEDULERS as MMSEG_PARAM_SCHEDULERS
from mmseg.registry import RUNNERS as MMSEG_RUNNERS
from mmseg.registry import TASK_UTILS as MMSEG_TASK_UTILS
from mmseg.registry import TRANSFORMS as MMSEG_TRANSFORMS
from mmseg.registry import VISBACKENDS as MMSEG_VISBACKENDS
from mmseg.registry import VISUALIZERS as MMSEG_VISUALIZERS
from mmseg.registry import WEIGHT_INITIALIZERS as MMSEG_WEIGHT_INITIALIZERS


class LazyParentRegistry(Registry):
    """A registry that imports more modules on a lookup miss.

    A plain child registry finds a parent's module only if that module was
    already imported. Here a miss imports ``lazy_locations`` and each
    ancestor's ``locations`` (for mmseg's model registry, ``mmseg.models``,
    which needs compiled mmcv ops) and looks again, so pre-training never
    pays for, nor needs, those imports.

    A location that cannot be imported (its package is not installed, e.g.
    mmpretrain for the classifiers) is skipped; its error is raised only if
    the key is found nowhere.

    Args:
        lazy_locations (list[str]): Modules imported on a miss, in order,
            until the key resolves.
        Other arguments: see :class:`mmengine.registry.Registry`.
    """

    def __init__(self, *args, lazy_locations: List[str] = (), **kwargs):
        super().__init__(*args, **kwargs)
        self.lazy_locations = list(lazy_locations)
        self._import_errors = {}

    def get(self, key: str) -> Optional[Type]:
        obj = super().get(key)
        if obj is not None or not isinstance(key, str):
            return obj
        scope, _ = self.split_scope_key(key)
        if scope is not None and scope != self.scope:
            return obj
        # our lazy locations in order, until the key resolves (they import
        # mmseg.models, so mmseg's modules resolve after the first one)
        while self.lazy_locations:
            location = self.lazy_locations.pop(0)
            try:
                importlib.import_module(location)
            except ImportError as err:  # e.g. mmpretrain is not installed
                self._import_errors[location] = err
                continue
            obj = super().get(key)
            if obj is not None:
                return obj
        imported_any = False
        parent = self.parent
        while parent is not None:
            if not parent._imported and parent._locations:
                parent.import_from_location()
                imported_any = True
            parent = parent.parent
        obj = super().get(key) if imported_any else None
        if obj is None and self._import_errors:
            failed = ', '.join(f'{loc} ({err})'
                               for loc, err in self._import_errors.items())
            raise ImportError(f'{key!r} is not registered in {self.scope}::'
                              f'{self.name}, and modules that may define it '
                              f'could not be imported: {failed}')
        return obj


def _child(name: str,
           parent: Registry,
           location: Optional[str] = None,
           lazy_locations: List[str] = ()) -> LazyParentRegistry:
    return LazyParentRegistry(
        name,
        parent=parent,
        scope='mmmultimae',
        locations=[location] if location else [],
        lazy_locations=lazy_locations)


#: Our modules built on ``mmseg.models`` (compiled mmcv ops) or mmpretrain
#: (classifiers), imported in this order when a model name is not found
#: among the pre-training ones, until one registers it.
TRANSFER_MODEL_LOCATIONS = [
    'mmmultimae.models.decode_heads', 'mmmultimae.models.segmentors',
    'mmmultimae.models.classifiers'
]


# manage all kinds of runners like `EpochBasedRunner` and `IterBasedRunner`
RUNNERS = _child('runner', MMSEG_RUNNERS, 'mmmultimae.engine')
LOOPS = _child('loop', MMSEG_LOOPS, 'mmmultimae.engine')
HOOKS = _child('hook', MMSEG_HOOKS, 'mmmultimae.engine')

DATASETS = _child('dataset', MMSEG_DATASETS, 'mmmultimae.datasets')
DATA_SAMPLERS = _child('data sampler', MMSEG_DATA_SAMPLERS,
                       'mmmultimae.datasets')
TRANSFORMS = _child('transform', MMSEG_TRANSFORMS, 'mmmultimae.datasets')

MODELS = _child('model', MMSEG_MODELS, 'mmmultimae.models',
                TRANSFER_MODEL_LOCATIONS)
MODEL_WRAPPERS = _child('model_wrapper', MMSEG_MODEL_WRAPPERS,
                        'mmmultimae.models')
WEIGHT_INITIALIZERS = _child('weight initializer', MMSEG_WEIGHT_INITIALIZERS,
                             'mmmultimae.models')
# token mask samplers of masked modelling (Dirichlet, uniform...)
TASK_UTILS = _child('task util', MMSEG_TASK_UTILS, 'mmmultimae.models')

OPTIMIZERS = _child('optimizer', MMSEG_OPTIMIZERS, 'mmmultimae.engine')
OPTIM_WRAPPERS = _child('optim_wrapper', MMSEG_OPTIM_WRAPPERS,
                        'mmmultimae.engine')
OPTIM_WRAPPER_CONSTRUCTORS = _child('optimizer wrapper constructor',
                                    MMSEG_OPTIM_WRAPPER_CONSTRUCTORS,
                                    'mmmultimae.engine')
PARAM_SCHEDULERS = _child('parameter scheduler', MMSEG_PARAM_SCHEDULERS,
                          'mmmultimae.engine')

METRICS = _child('metric', MMSEG_METRICS, 'mmmultimae.evaluation')
EVALUATOR = _child('evaluator', MMSEG_EVALUATOR, 'mmmultimae.evaluation')

VISUALIZERS = _child('visualizer', MMSEG_VISUALIZERS,
                     'mmmultimae.visualization')
VISBACKENDS = _child('vis_backend', MMSEG_VISBACKENDS,
                     'mmmultimae.visualization')
LOG_PROCESSORS = _child('log_processor', MMSEG_LOG_PROCESSORS,
                        'mmmultimae.visualization')

__all__ = [
    'LazyParentRegistry', 'RUNNERS', 'LOOPS', 'HOOKS',
    'DATASETS', 'DATA_SAMPLERS', 'TRANSFORMS', 'MODELS', 'MODEL_WRAPPERS',
    'WEIGHT_INITIALIZERS', 'TASK_UTILS', 'OPTIMIZERS',
    'OPTIM_WRAPPERS', 'OPTIM_WRAPPER_CONSTRUCTORS', 'PARAM_SCHEDULERS',
    'METRICS', 'EVALUATOR', 'VISUALIZERS', 'VISBACKENDS', 'LOG_PROCESSORS'
]
