"""radio package (built in a later issue)."""
