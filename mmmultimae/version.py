# Copyright (c) mmmultimae contributors. All rights reserved.
__version__ = '0.1.0'


def parse_version_info(version_str: str) -> tuple:
    """Parse a version string like ``'0.1.0rc1'`` into a tuple."""
    info = []
    for part in version_str.split('.'):
        if part.isdigit():
            info.append(int(part))
        else:
            info.append(part)
    return tuple(info)


version_info = parse_version_info(__version__)
