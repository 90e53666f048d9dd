# Copyright (c) mmmultimae contributors. All rights reserved.
"""Setup script; metadata and requirements live in ``setup.cfg``."""
from setuptools import setup

if __name__ == '__main__':
    setup()
