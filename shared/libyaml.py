"""PyYAML's safe loader and dumper in C (libyaml) when PyYAML was built with it, which it is in
the locked wheels: the same data, several times faster. Without it, the pure-Python ones.

Import these instead of looking the C classes up in each module.
"""

from __future__ import annotations

import yaml

HAS_LIBYAML = hasattr(yaml, "CSafeLoader")
"""Whether PyYAML has libyaml (a loader that must know, such as a hardened one, asks this)."""

SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
SafeDumper: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
