"""The size guard moved to `esrgan.memory` (below data and inference, which both use it).

Importing these names from here still works; patch `esrgan.memory` to change what they read.
"""

from esrgan.memory import MEMORY_SHARE, OVERRIDE_HINT, available_memory, check_output_pixels

__all__ = ["MEMORY_SHARE", "OVERRIDE_HINT", "available_memory", "check_output_pixels"]
