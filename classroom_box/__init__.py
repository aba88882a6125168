"""classroom-box: an offline-first classroom appliance.

It owns the version and must never import anything: every module imports it.
"""

__version__ = "0.1.0"
