"""scalegate: make a responsible scaling policy executable and auditable.

The pipeline flows one way: policy -> plan -> evidence -> scorecard -> decision -> report.
`import scalegate` stays light; torch, transformers and Inspect load only where used.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("scalegate")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
