# Copyright (c) mmmultimae contributors. All rights reserved.
"""Checkpoint loading that works on torch >= 2.6 without giving up safety.

mmengine 0.10.7 calls ``torch.load`` without ``weights_only``; since torch 2.6
that means ``weights_only=True``, which rejects every mmengine checkpoint
(its ``message_hub`` holds ``HistoryBuffer`` objects and numpy scalars), so
``resume``, ``load_from`` and ``init_cfg=dict(type='Pretrained')`` break.

Trust choice: a file is first loaded with ``weights_only=True``, so plain state
dicts (timm, official MultiMAE, our exports) never run pickle code. Only when
that is refused do we list the globals the pickle would import, *without*
unpickling it. If each of them is one that mmengine itself writes into
checkpoints (tensors, ``OrderedDict``, numpy arrays/scalars/dtypes,
``HistoryBuffer`` and the ``getattr`` it uses for its statistics methods),
the file is loaded with ``weights_only=False``: a checkpoint named in a config
(which is itself executed Python) and shaped like mmengine's own output is
trusted as much as that config. Anything else (``os.system``, ``eval``, custom
classes...) is refused with an error naming the file and the globals.
"""
import io
import os
import os.path as osp
import pickle
import pickletools
import zipfile
from typing import Any, Callable, Optional, Set, Union

import torch
from mmengine.runner.checkpoint import CheckpointLoader

# (module, name) pairs mmengine writes into its checkpoints; names ending with
# '*' are prefixes.
_MMENGINE_CHECKPOINT_GLOBALS = {
    ('collections', 'OrderedDict'),
    ('torch._utils', '_rebuild_*'),
    ('torch', '*Storage'),
    ('torch', 'Size'),
    ('torch', 'device'),
    ('torch', 'dtype'),
    ('torch', 'float*'),
    ('torch', 'bfloat16'),
    ('torch', 'int*'),
    ('numpy', 'dtype'),
    ('numpy', 'ndarray'),
    ('numpy._core.multiarray', '_reconstruct'),
    ('numpy._core.multiarray', 'scalar'),
    ('numpy.core.multiarray', '_reconstruct'),
    ('numpy.core.multiarray', 'scalar'),
    ('numpy.dtypes', '*DType'),
    ('_codecs', 'encode'),
    ('__builtin__', 'getattr'),
    ('builtins', 'getattr'),
    ('__builtin__', 'set'),
    ('builtins', 'set'),
    ('mmengine.logging.history_buffer', 'HistoryBuffer'),
}


def pickle_globals(data: bytes) -> Set[str]:
    """Return the ``module name`` globals a pickle stream would import.

    The stream is only disassembled, never executed.

    Args:
        data (bytes): A pickle stream (protocol 2-5).

    Returns:
        set[str]: Entries like ``'collections OrderedDict'``.
    """
    found = set()
    recent_strings: list = []
    for opcode, arg, _ in pickletools.genops(data):
        if opcode.name in ('SHORT_BINUNICODE', 'BINUNICODE', 'UNICODE',
                           'BINUNICODE8'):
            recent_strings = (recent_strings + [arg])[-2:]
        elif opcode.name == 'GLOBAL':
            found.add(str(arg))
        elif opcode.name == 'STACK_GLOBAL':
            found.add(' '.join(recent_strings))
    return found


def _is_known(glob: str) -> bool:
    module, _, name = glob.partition(' ')
    for known_module, pattern in _MMENGINE_CHECKPOINT_GLOBALS:
        if module != known_module:
            continue
        if pattern.endswith('*') and name.startswith(pattern[:-1]):
            return True
        if pattern.startswith('*') and name.endswith(pattern[1:]):
            return True
        if name == pattern:
            return True
    return False


def _zip_pickle(buffer: Union[str, io.BytesIO]) -> Optional[bytes]:
    try:
        with zipfile.ZipFile(buffer) as archive:
            names = [n for n in archive.namelist() if n.endswith('/data.pkl')]
            return archive.read(names[0]) if names else None
    except zipfile.BadZipFile:
        return None


def torch_load_trusting_mmengine(source: Union[str, io.BytesIO],
                                 map_location: Any = None,
                                 name: Optional[str] = None) -> Any:
    """``torch.load`` that is safe for state dicts and opens mmengine files.

    Args:
        source (str | BytesIO): Path or in-memory checkpoint.
        map_location: Passed to :func:`torch.load`.
        name (str, optional): Name used in error messages.

    Returns:
        The loaded object.

    Raises:
        pickle.UnpicklingError: The file needs globals that mmengine does not
            write; it is not loaded.
    """
    name = name or (source if isinstance(source, str) else '<buffer>')
    try:
        if isinstance(source, io.BytesIO):
            source.seek(0)
        return torch.load(source, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as safe_error:
        return _load_trusted_pickle(source, map_location, name, safe_error)
    except FileNotFoundError:
        raise
    except (RuntimeError, EOFError, OSError, zipfile.BadZipFile) as error:
        # a file cut short fails in torch's zip reader ("PytorchStreamReader
        # failed reading zip archive") or earlier with an OSError
        raise RuntimeError(
            f'cannot read checkpoint {name!r}: {error}. The file is probably '
            'truncated or corrupted (an interrupted save or copy); use '
            'another checkpoint (e.g. the previous epoch_*.pth of the work '
            'dir, or --resume PATH) or copy it again.') from error


def _load_trusted_pickle(source: Union[str, io.BytesIO], map_location: Any,
                         name: str,
                         safe_error: pickle.UnpicklingError) -> Any:
    """Second step of :func:`torch_load_trusting_mmengine`: unpickle a file
    ``weights_only=True`` refused if its globals are mmengine's own."""
    if isinstance(source, io.BytesIO):
        source.seek(0)
    data = _zip_pickle(source)
    if data is None:
        raise pickle.UnpicklingError(
            f'{name}: not loadable with weights_only=True and not a '
            'zip-format torch checkpoint, so its contents cannot be '
            'checked; re-save it with torch.save(state_dict).'
        ) from safe_error
    unknown = sorted(g for g in pickle_globals(data) if not _is_known(g))
    if unknown:
        raise pickle.UnpicklingError(
            f'{name}: refusing to unpickle a checkpoint that imports '
            f'{unknown}; only tensors and what mmengine writes into its '
            'checkpoints are trusted. Load it yourself with '
            'torch.load(..., weights_only=False) if you trust its '
            'origin, then save the state dict.') from safe_error
    if isinstance(source, io.BytesIO):
        source.seek(0)
    return torch.load(
        source, map_location=map_location, weights_only=False)


def load_from_local(filename: str, map_location: Any = None) -> Any:
    """Scheme handler of mmengine's ``CheckpointLoader`` for local paths.

    The name must stay ``load_from_local``: mmengine logs ``__name__[10:]``.
    """
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    return torch_load_trusting_mmengine(filename, map_location)


def load_from_http(filename: str,
                   map_location: Any = None,
                   model_dir: Optional[str] = None,
                   progress: bool = True) -> Any:
    """Scheme handler for ``http(s)://``: download once, then load locally."""
    model_dir = model_dir or osp.join(torch.hub.get_dir(), 'checkpoints')
    os.makedirs(model_dir, exist_ok=True)
    cached = osp.join(model_dir, osp.basename(filename.split('?')[0]))
    if not osp.isfile(cached):
        torch.hub.download_url_to_file(filename, cached, progress=progress)
    return torch_load_trusting_mmengine(cached, map_location, name=filename)


def register_checkpoint_loaders() -> None:
    """Replace mmengine's local and http(s) checkpoint schemes (idempotent)."""
    handlers: dict = {'': load_from_local}
    handlers[('http://', 'https://')] = load_from_http
    for prefixes, handler in handlers.items():
        register: Callable = CheckpointLoader.register_scheme(
            prefixes=prefixes, force=True)
        register(handler)
