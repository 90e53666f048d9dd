# Copyright (c) mmmultimae contributors. All rights reserved.
"""Registration of all modules and the default scope."""
import datetime
import warnings

from mmengine import DefaultScope
from mmengine.registry import Registry

from mmmultimae import registry


def register_all_modules(init_default_scope: bool = True) -> None:
    """Register every mmmultimae module and set the default scope.

    Each registry imports its own ``locations`` (the package that defines
    its modules), so this module depends on the registries only, not on the
    layers above it. Transfer components that need ``mmseg.models``
    (compiled mmcv ops) are not imported here; the registries import them
    when a config asks for them.

    Args:
        init_default_scope (bool): Whether to set the default scope to
            ``'mmmultimae'``. Defaults to True.
    """
    for name in registry.__all__:
        value = getattr(registry, name)
        if isinstance(value, Registry):
            value.import_from_location()

    if not init_default_scope:
        return
    never_created = DefaultScope.get_current_instance() is None \
        or not DefaultScope.check_instance_created('mmmultimae')
    if never_created:
        DefaultScope.get_instance('mmmultimae', scope_name='mmmultimae')
        return
    current_scope = DefaultScope.get_current_instance()
    if current_scope.scope_name != 'mmmultimae':
        warnings.warn('The current default scope '
                      f'"{current_scope.scope_name}" is not "mmmultimae", '
                      '`register_all_modules` will force the current '
                      'default scope to be "mmmultimae".')
        # avoid name conflicts
        new_instance_name = f'mmmultimae-{datetime.datetime.now()}'
        DefaultScope.get_instance(new_instance_name, scope_name='mmmultimae')
