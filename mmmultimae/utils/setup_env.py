# Copyright (c) mmmultimae contributors. All rights reserved.
"""Registration of all modules and the default scope."""
import datetime
import warnings

from mmengine import DefaultScope


def register_all_modules(init_default_scope: bool = True) -> None:
    """Import every mmmultimae module so that it is registered.

    Transfer components that need ``mmseg.models`` (compiled mmcv ops) are not
    imported here; the registries import them when a config asks for them.

    Args:
        init_default_scope (bool): Whether to set the default scope to
            ``'mmmultimae'``. Defaults to True.
    """
    import mmmultimae.datasets  # noqa: F401,F403
    import mmmultimae.engine  # noqa: F401,F403
    import mmmultimae.evaluation  # noqa: F401,F403
    import mmmultimae.models  # noqa: F401,F403
    import mmmultimae.visualization  # noqa: F401,F403

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
