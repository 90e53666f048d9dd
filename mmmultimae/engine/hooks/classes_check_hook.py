# Copyright (c) mmmultimae contributors. All rights reserved.
"""Refuse a classification run whose data, head and checkpoint disagree on
the classes."""
from typing import List, Optional, Sequence

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from mmmultimae.registry import HOOKS

#: The state-dict key of the classifier's last linear layer (ours and
#: mmpretrain's linear heads).
HEAD_WEIGHT_KEY = 'head.fc.weight'


def describe_dataset(dataset) -> str:
    """``<class> at '<image folder>'`` (or its data root)."""
    prefix = getattr(dataset, 'data_prefix', None) or {}
    where = prefix.get('img_path') if isinstance(prefix, dict) else prefix
    where = where or getattr(dataset, 'data_root', None) or '?'
    return f"{type(dataset).__name__} at '{where}'"


def _shorten(names: Sequence[str], limit: int = 8) -> str:
    names = list(names)
    more = f', ... ({len(names)} in all)' if len(names) > limit else ''
    return ', '.join(repr(n) for n in names[:limit]) + more


def class_mismatches(dataset_classes: Optional[Sequence[str]],
                     what: str,
                     head_classes: int,
                     checkpoint_classes: Optional[Sequence[str]] = None,
                     checkpoint: str = 'the checkpoint',
                     check_names: bool = True,
                     checkpoint_head: Optional[int] = None) -> List[str]:
    """What disagrees between a dataset's classes, the model's head and a
    loaded checkpoint.

    Args:
        dataset_classes (Sequence[str], optional): ``metainfo['classes']``
            of the dataset (an image folder's sorted subfolders); None:
            the dataset names none.
        what (str): The dataset, for the messages.
        head_classes (int): Outputs of the model's head.
        checkpoint_classes (Sequence[str], optional): The classes the
            checkpoint was trained on (its ``meta.dataset_meta.classes``).
        checkpoint (str): The checkpoint, for the messages.
        check_names (bool): Compare the names (in order) with the
            checkpoint's, not only their number.
        checkpoint_head (int, optional): Outputs of the checkpoint's head.

    Returns:
        list[str]: One message per mismatch (empty if consistent).
    """
    errors = []
    data = 'it names no classes' if dataset_classes is None else \
        f'{len(dataset_classes)} classes ({_shorten(dataset_classes)})'
    trained_on = f' ({_shorten(checkpoint_classes)})' \
        if checkpoint_classes is not None else ''
    if checkpoint_head is not None and checkpoint_head != head_classes:
        errors.append(
            f'{checkpoint} has a head of {checkpoint_head} classes'
            f'{trained_on}, the model (config) one of {head_classes}; '
            f'{what} has {data}')
    if dataset_classes is not None and len(dataset_classes) != head_classes:
        errors.append(
            f'{what} has {data} but the classifier head has {head_classes} '
            'outputs (model.head.num_classes)')
    if dataset_classes is not None and checkpoint_classes is not None:
        if len(checkpoint_classes) != len(dataset_classes):
            errors.append(
                f'{checkpoint} was trained on {len(checkpoint_classes)} '
                f'classes{trained_on}, {what} has {data}')
        elif check_names and list(checkpoint_classes) != list(
                dataset_classes):
            differ = [(i, a, b) for i, (a, b) in enumerate(
                zip(checkpoint_classes, dataset_classes)) if a != b]
            listed = ', '.join(f'{i}: {a!r} vs {b!r}'
                               for i, a, b in differ[:5])
            errors.append(
                f'{checkpoint} was trained on other classes than {what} '
                f'has ({len(differ)} of {len(dataset_classes)} differ, '
                f'checkpoint vs dataset: {listed}); if the dataset names the '
                'same classes differently (e.g. ImageNet wnids and names), '
                'set the ClassifierClassesCheckHook check_names=False')
    return errors


@HOOKS.register_module()
class ClassifierClassesCheckHook(Hook):
    """Stop a classification run whose datasets, model head and loaded
    checkpoint disagree on the classes, naming all of them.

    An image folder's classes are its subfolders (sorted), so a folder
    with a class more, a class less or other classes than the model was
    built or fine-tuned for would silently shift every label. Checked:

    - before training, validation and testing, i.e. after a checkpoint is
      loaded (``load_from`` / resume): the checkpoint head's outputs (rows
      of ``head.fc.weight``) against the model's head (mmengine would only
      warn and keep the head untrained); the dataset's
      ``metainfo['classes']`` against ``model.head.num_classes`` (and the
      data preprocessor's ``num_classes`` of Mixup / CutMix), and against
      the classes the loaded classifier checkpoint was trained on
      (``meta.dataset_meta.classes``, which mmengine writes), by name and
      order unless ``check_names=False``.

    Args:
        check_names (bool): Compare class names with the checkpoint's, not
            only their number. Defaults to True.
    """

    priority = 'VERY_HIGH'

    def __init__(self, check_names: bool = True) -> None:
        self.check_names = check_names
        self.checkpoint_classes: Optional[Sequence[str]] = None
        self.checkpoint_head: Optional[int] = None
        self.checkpoint = 'the loaded checkpoint'

    @staticmethod
    def _model(runner):
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        head = getattr(model, 'head', None)
        if not isinstance(getattr(head, 'num_classes', None), int):
            raise TypeError(
                'ClassifierClassesCheckHook needs a classifier with '
                f'head.num_classes, got {type(model).__name__}')
        return model

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        """Remember the loaded checkpoint's head and classes (checked with
        the dataset before training / testing: the loops are built)."""
        self.checkpoint = f"checkpoint '{runner.cfg.get('load_from')}'" \
            if runner.cfg.get('load_from') else 'the resumed checkpoint'
        state = checkpoint.get('state_dict', checkpoint)
        weight = state.get(HEAD_WEIGHT_KEY) if isinstance(state,
                                                          dict) else None
        if weight is None:  # not a classifier checkpoint: nothing to match
            return
        self.checkpoint_head = int(weight.shape[0])
        meta = checkpoint.get('meta') or {}
        self.checkpoint_classes = (meta.get('dataset_meta') or {}).get(
            'classes')

    def _check(self, runner, dataset) -> None:
        model = self._model(runner)
        errors = class_mismatches(
            dataset.metainfo.get('classes'), describe_dataset(dataset),
            model.head.num_classes, self.checkpoint_classes, self.checkpoint,
            self.check_names, self.checkpoint_head)
        mixed = getattr(model.data_preprocessor, 'num_classes', None)
        if mixed is not None and mixed != model.head.num_classes:
            errors.append(f'data_preprocessor.num_classes={mixed} (Mixup / '
                          'CutMix targets) differs from the head\'s '
                          f'{model.head.num_classes}')
        if errors:
            raise ValueError('Classes do not match:\n  - ' +
                             '\n  - '.join(errors))

    def before_train(self, runner) -> None:
        self._check(runner, runner.train_dataloader.dataset)

    def before_val(self, runner) -> None:
        self._check(runner, runner.val_dataloader.dataset)

    def before_test(self, runner) -> None:
        self._check(runner, runner.test_dataloader.dataset)
