"""armrest as an ExecuTorch backend.

Ahead of time: `ArmrestPartitioner` (tags what armrest runs) and
`ArmrestBackend` (serialises each partition into armrest's blob).
At run time: `load_backend(**options)` loads libarmrest.so (built with the
`executorch` cargo feature) so `ArmrestBackend` is registered before a
program is loaded.
"""

from .backend import ArmrestBackend
from .partitioner import ArmrestPartitioner
from .runtime import config, library_path, load_backend, set_options

__all__ = ["ArmrestBackend", "ArmrestPartitioner", "load_backend", "library_path", "set_options", "config"]
