"""Import spandrel (the loader behind chaiNNer/ComfyUI) without torchvision.

spandrel imports two torchvision functions at import time for architectures unrelated to ESRGAN
(LaMa, RestoreFormer). torchvision is not installable beside the CPU torch this project tests with,
so when it is missing we register a stand-in module that provides just those names; calling them
fails loudly, and the ESRGAN architecture never calls them.
"""

from __future__ import annotations

import importlib.util
import sys
import types


def import_spandrel():
    if importlib.util.find_spec("spandrel") is None:
        return None
    if "torchvision" not in sys.modules and importlib.util.find_spec("torchvision") is None:

        def _unavailable(*args, **kwargs):
            raise RuntimeError("torchvision stand-in: not available in this test environment")

        tv = types.ModuleType("torchvision")
        transforms = types.ModuleType("torchvision.transforms")
        functional = types.ModuleType("torchvision.transforms.functional")
        functional.InterpolationMode = type("InterpolationMode", (), {})
        functional.rotate = functional.normalize = _unavailable
        tv.transforms, transforms.functional = transforms, functional
        sys.modules.update(
            {
                "torchvision": tv,
                "torchvision.transforms": transforms,
                "torchvision.transforms.functional": functional,
            }
        )
    import spandrel

    return spandrel
