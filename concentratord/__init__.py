"""The concentratord daemon, its command-line tools and its configuration."""
