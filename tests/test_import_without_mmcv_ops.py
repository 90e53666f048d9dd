# Copyright (c) mmmultimae contributors. All rights reserved.
"""The pre-training path must run with mmcv-lite (no compiled ops)."""
import os.path as osp
import subprocess
import sys
import textwrap

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))

# Makes compiled mmcv ops (and mmseg.models, which imports them) unimportable,
# as in an environment with mmcv-lite.
BLOCKER = textwrap.dedent('''
    import importlib.abc
    import sys

    BLOCKED = ('mmcv.ops', 'mmcv._ext', 'mmseg.models')

    class Blocker(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.startswith(BLOCKED):
                raise ImportError(f'{name} is blocked (mmcv-lite test)')
            return None

    sys.meta_path.insert(0, Blocker())
''')


def run_isolated(body: str) -> subprocess.CompletedProcess:
    code = BLOCKER + textwrap.dedent(body)
    return subprocess.run([sys.executable, '-c', code],
                          cwd=ROOT,
                          capture_output=True,
                          text=True,
                          timeout=300)


def test_blocker_really_blocks():
    proc = run_isolated('import mmseg.models\n')
    assert proc.returncode != 0
    assert 'blocked (mmcv-lite test)' in proc.stderr


def test_import_and_register_without_mmcv_ops():
    proc = run_isolated('''
        import mmmultimae
        from mmmultimae.utils import register_all_modules
        register_all_modules()
        assert 'mmseg.models' not in sys.modules
        assert 'mmcv.ops' not in sys.modules
        print('IMPORT-OK')
    ''')
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'IMPORT-OK' in proc.stdout
