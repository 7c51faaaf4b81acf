"""Development tools of the targetsel repository (not part of the installed package)."""
