"""A module whose import fails: a pool importing it cannot start."""
raise ImportError("this module refuses to load")
