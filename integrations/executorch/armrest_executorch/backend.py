"""`ArmrestBackend`: ExecuTorch's ahead-of-time half of the armrest delegate.

ExecuTorch finds a backend by class name, which must equal the name the
runtime registered (`ArmrestBackend`, in the C++ shim), and the class must
subclass `BackendDetails` directly.
"""

from __future__ import annotations

from typing import List, final

from executorch.exir.backend.backend_details import BackendDetails, PreprocessResult
from executorch.exir.backend.compile_spec_schema import CompileSpec

from .lowering import Lowering


@final
class ArmrestBackend(BackendDetails):
    @staticmethod
    def preprocess(edge_program, compile_specs: List[CompileSpec]) -> PreprocessResult:
        from executorch.exir._serialize._named_data_store import NamedDataStore

        writer = Lowering(edge_program).run()
        store = NamedDataStore()
        blob = writer.finish(named_store=store, key_prefix="armrest_")
        return PreprocessResult(processed_bytes=blob, data_store_output=store.get_named_data_store_output())
