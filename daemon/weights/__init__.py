"""The models' files: the manifest, fetched from PyPI packages, converted and verified."""
