"""wgf_core: device-agnostic torch building blocks for Wasserstein gradient flows.

Submodules are imported on demand (``from wgf_core import kernels``); importing the
package itself does no work. Conventions (MMD normalisation, step sizes, how IFT steps are
counted) are stated once in ``book/conventions.md``.
"""

__version__ = "0.1.0"
