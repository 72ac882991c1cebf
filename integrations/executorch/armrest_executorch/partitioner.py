"""`ArmrestPartitioner`: tags the nodes armrest supports (the same rules the
lowering runs, `lowering.check_node`) and groups them into partitions for
`ArmrestBackend`. Call shape as `XnnpackPartitioner`:

    to_edge_transform_and_lower(ep, partitioner=[ArmrestPartitioner()])
"""

from __future__ import annotations

import operator
from typing import Callable, Dict, Iterable, List, Optional, Tuple

import torch
from executorch.exir.backend.canonical_partitioners.pattern_op_partitioner import generate_pattern_op_partitions
from executorch.exir.backend.compile_spec_schema import CompileSpec
from executorch.exir.backend.partitioner import DelegationSpec, Partitioner, PartitionResult
from executorch.exir.backend.utils import tag_constant_data
from torch.fx.passes.operator_support import OperatorSupportBase

from .backend import ArmrestBackend
from .lowering import check_node, fake, new_session, op_name

# Kept whole through to_edge so armrest sees the op, not its decomposition.
NOT_DECOMPOSED = [
    torch.ops.aten.linear.default,
    torch.ops.aten.hardswish.default,
    torch.ops.aten.hardsigmoid.default,
    torch.ops.aten.upsample_bilinear2d.vec,
    torch.ops.aten.gelu.default,
]


class _Support(OperatorSupportBase):
    def __init__(self, ep, ops: Optional[set], exclude: set, reasons: Dict[str, str]):
        self.ep = ep
        self.ops = ops
        self.exclude = exclude
        self.reasons = reasons

    def is_node_supported(self, submodules, node: torch.fx.Node) -> bool:
        if node.op != "call_function":
            return False
        name = op_name(node)
        if node.target is operator.getitem:
            name = op_name(node.args[0])
        if (self.ops is not None and name not in self.ops) or name in self.exclude:
            self.reasons[node.name] = f"{name} excluded by the partitioner's options"
            return False
        why = check_node(node, self.ep)
        if why is not None:
            self.reasons[node.name] = why
            return False
        return True


class ArmrestPartitioner(Partitioner):
    """Partitions an edge program for armrest.

    ops: optional set of op names (e.g. {"aten.convolution.default"}) to
    restrict armrest to; exclude: op names to leave to other partitioners.
    After `partition`, `last_report` holds (tagged node count, partition
    count, {node: reason} for call nodes left out).
    """

    def __init__(self, compile_specs: Optional[List[CompileSpec]] = None, ops: Optional[Iterable[str]] = None,
                 exclude: Iterable[str] = (), verbose: bool = False):
        self.delegation_spec = DelegationSpec(ArmrestBackend.__name__, list(compile_specs or []))
        self.ops = set(ops) if ops is not None else None
        self.exclude = set(exclude)
        self.verbose = verbose
        self.last_report: Tuple[int, int, Dict[str, str]] = (0, 0, {})

    def ops_to_not_decompose(self, ep) -> Tuple[List[torch._ops.OpOverload], Optional[Callable[[torch.fx.Node], bool]]]:
        new_session()

        def keep(node: torch.fx.Node) -> bool:
            # linear stays whole only when armrest will take it (constant weights).
            return check_node(node, ep) is None if node.target == torch.ops.aten.linear.default else True

        return list(NOT_DECOMPOSED), keep

    def partition(self, exported_program) -> PartitionResult:
        new_session()
        reasons: Dict[str, str] = {}
        support = _Support(exported_program, self.ops, self.exclude, reasons)
        partitions = generate_pattern_op_partitions(exported_program.graph_module, op_support=support)
        tags = {}
        tagged = 0
        for i, p in enumerate(partitions):
            nodes = set(p.nodes)
            crossing = _non_fp32_crossing(exported_program, nodes)
            if crossing is not None:
                for node in nodes:
                    reasons[node.name] = f"its partition would pass the {crossing} value across its boundary (partitions take and give fp32)"
                continue
            tag = f"armrest_{i}"
            for node in p.nodes:
                node.meta["delegation_tag"] = tag
                tagged += 1
            tags[tag] = self.delegation_spec
        tag_constant_data(exported_program)
        self.last_report = (tagged, len(partitions), reasons)
        if self.verbose:
            print(f"armrest: tagged {tagged} nodes in {len(partitions)} partitions")
            for n, why in reasons.items():
                print(f"armrest: node {n} not tagged: {why}")
        return PartitionResult(tagged_exported_program=exported_program, partition_tags=tags)


def _non_fp32_crossing(ep, nodes) -> Optional[str]:
    """The first non-fp32 tensor entering or leaving `nodes` (constants excepted), or None."""
    user_inputs = set(ep.graph_signature.user_inputs)

    def bad(x) -> bool:
        f = fake(x)
        return f is not None and f.dtype != torch.float32

    for n in nodes:
        for x in n.all_input_nodes:
            if x not in nodes and (x.op == "call_function" or x.name in user_inputs) and bad(x):
                return f"{fake(x).dtype} {x.name}"
        if bad(n) and any(u not in nodes for u in n.users):
            return f"{fake(n).dtype} {n.name}"
    return None
