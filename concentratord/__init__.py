"""The concentratord daemon, its command-line tools and its configuration."""

__version__ = "0.1.0"
