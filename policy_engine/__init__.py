"""Policy-as-code governance for AI/ML spend on Kubernetes."""

#: The one place the version is written (pyproject.toml reads it): reports stamp it without the ~20 ms
#: that importlib.metadata costs at start-up.
__version__ = "0.1.0"
