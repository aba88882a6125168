"""classroom-box: an offline-first classroom appliance."""

__version__ = "0.1.0"
