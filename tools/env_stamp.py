# Copyright (c) mmmultimae contributors. All rights reserved.
"""Records that tools/setup_env.sh completed for the current inputs.

``python tools/env_stamp.py write`` stores a hash of the bootstrap inputs
(tools/setup_env.sh, setup.cfg) in the environment's prefix;
``python tools/env_stamp.py check`` exits 0 when that hash is current, so the
README commands re-run the bootstrap only when it is missing or outdated.
"""
import hashlib
import os.path as osp
import sys

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
INPUTS = ('tools/setup_env.sh', 'setup.cfg')
STAMP = osp.join(sys.prefix, '.mmmultimae-env-ready')


def digest() -> str:
    sha = hashlib.sha256()
    for rel in INPUTS:
        with open(osp.join(ROOT, rel), 'rb') as f:
            sha.update(f.read())
    return sha.hexdigest()


def main() -> int:
    if len(sys.argv) != 2 or sys.argv[1] not in ('write', 'check'):
        print('usage: env_stamp.py write|check', file=sys.stderr)
        return 2
    if sys.argv[1] == 'write':
        with open(STAMP, 'w') as f:
            f.write(digest())
        return 0
    if not osp.isfile(STAMP):
        return 1
    with open(STAMP) as f:
        return 0 if f.read().strip() == digest() else 1


if __name__ == '__main__':
    sys.exit(main())
