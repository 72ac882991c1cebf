#!/usr/bin/env python3
# Usage: python3 scripts/gen_quant_asm.py .   (from the repository root)
# Generates the SDOT and SMMLA asm micro-kernels with 1..8 / 2..8 rows.
def lines(ls, ind=12):
    return '\n'.join(' '*ind + l for l in ls)

def clobbers():
    return ('            out("v0") _, out("v1") _, out("v2") _, out("v3") _, out("v4") _, out("v5") _, out("v6") _, out("v7") _,\n'
            '            out("v8") _, out("v9") _, out("v10") _, out("v11") _, out("v12") _, out("v13") _, out("v14") _, out("v15") _,\n'
            '            out("v16") _, out("v17") _, out("v18") _, out("v19") _, out("v20") _, out("v21") _, out("v22") _, out("v23") _,\n'
            '            out("v24") _, out("v25") _, out("v26") _, out("v27") _, out("v28") _, out("v29") _, out("v30") _, out("v31") _,\n')

def loads(base, regs, ptr):
    out=[]; i=0
    while i < len(regs):
        if i+1 < len(regs):
            out.append(f'"ldp q{regs[i]}, q{regs[i+1]}, [{{{ptr}}}], #32",'); i+=2
        else:
            out.append(f'"ldr q{regs[i]}, [{{{ptr}}}], #16",'); i+=1
    return out

def asm_block(pre, body, post, operands):
    """The asm! of a tile: `pre`, two bodies per iteration, one more when the
    count is odd, `post`, then the operands after the pointers and counts."""
    return f'''        asm!(
{lines(pre)}
            // Two 16-step bodies per iteration, then one more when the count is odd.
            "lsr {{n2}}, {{n}}, #1",
            "cbz {{n2}}, 3f",
            "1:",
{lines(body)}
{lines(body)}
            "subs {{n2}}, {{n2}}, #1",
            "b.ne 1b",
            "3:",
            "tbz {{n}}, #0, 2f",
{lines(body)}
            "2:",
{lines(post)}
            a = inout(reg) a => _,
            b = inout(reg) b => _,
            n = in(reg) iters,
            n2 = out(reg) _,
{operands}            options(nostack),
        );'''

def acc_fn(name, mr, body, nacc, feature, a_bytes, b_bytes):
    """The loop with its accumulators starting at `init` and returned in
    registers (for a fused output stage): accumulator 2i + h starts at init[h]."""
    accs=list(range(32-nacc,32))
    names=', '.join(f'c{i}' for i in range(nacc))
    ops=''.join(f'            inout("v{r}") init[{i % 2}] => c{i},\n' for i, r in enumerate(accs))
    free=' '.join(f'out("v{r}") _,' for r in range(32-nacc))
    block=asm_block([], body, [], ops + '            ' + free + '\n')
    return f'''
/// The `{mr}x8` tile in registers: accumulator `2·i + h` holds row `i`, columns
/// `4·h .. 4·h + 4`, and starts at `init[h]` (the bias of those columns, for an
/// output stage fused after the loop, or zero). Per 16 reduction steps, `a`
/// holds {mr} rows of 16 values and `b` 4 groups of (4 columns x 4 steps, 4
/// columns x 4 steps).
///
/// # Safety
/// As [`super::QRunFn`] for this kernel's layouts, without `acc`; {feature} is available.
#[target_feature(enable = "neon,{feature}")]
#[inline]
pub unsafe fn {name}(kp: usize, a: *const i8, b: *const i8, init: [int32x4_t; 2]) -> [int32x4_t; {nacc}] {{
    let iters = kp / 16;
    let ({names});
    // SAFETY: the strip holds iters * {a_bytes} bytes and the block iters * {b_bytes} bytes (kp is
    // a multiple of 16, {mr} rows / 8 columns); {feature} is enabled.
    unsafe {{
{block}
    }}
    [{names}]
}}

/// See [`super::QRunFn`]: the tile of [`{name}`] from zero, stored.
///
/// # Safety
/// The [`super::QRunFn`] contract for this kernel's layouts; {feature} is available.
#[target_feature(enable = "neon,{feature}")]
pub unsafe fn {name.replace('acc_', 'run_')}(kp: usize, a: *const i8, b: *const i8, acc: *mut i32) {{
    // SAFETY: the caller's contract; acc has {mr*8} writable i32, accumulator j's 4 at 4·j.
    unsafe {{
        for (j, v) in {name}(kp, a, b, [vdupq_n_s32(0); 2]).into_iter().enumerate() {{
            vst1q_s32(acc.add(4 * j), v);
        }}
    }}
}}
'''

def asm_fn(name, mr, body, store, nacc, feature, doc_layout, a_bytes, b_bytes):
    movi=[]
    accs=list(range(32-nacc,32))
    for i in range(0,len(accs),4):
        movi.append(' '.join(f'"movi v{r}.4s, #0",' for r in accs[i:i+4]))
    block=asm_block(movi, body, store, '            c = in(reg) acc,\n' + clobbers())
    return f'''
/// See [`super::QRunFn`]: {doc_layout}
///
/// # Safety
/// The [`super::QRunFn`] contract for this kernel's layouts; {feature} is available.
#[target_feature(enable = "neon,{feature}")]
pub unsafe fn {name}(kp: usize, a: *const i8, b: *const i8, acc: *mut i32) {{
    let iters = kp / 16;
    // SAFETY: the strip holds iters * {a_bytes} bytes and the block iters * {b_bytes} bytes (kp is
    // a multiple of 16, {mr} rows / 8 columns); acc has {mr*8} writable i32; {feature} is enabled.
    unsafe {{
{block}
    }}
}}
'''

def dot(mr):
    A=list(range(mr)); B=list(range(8,16)); acc=lambda i,h: 32-2*mr+2*i+h
    body=loads(0,A,'a')+loads(0,B,'b')
    for g in range(4):
        for i in range(mr):
            body.append(f'"sdot v{acc(i,0)}.4s, v{8+2*g}.16b, v{i}.4b[{g}]", "sdot v{acc(i,1)}.4s, v{9+2*g}.16b, v{i}.4b[{g}]",')
    store=[f'"stp q{acc(i,0)}, q{acc(i,1)}, [{{c}}, #{32*i}]",' for i in range(mr)]
    doc=f'per 16 reduction steps, `a` holds {mr} row(s) of 16 values and `b` 4 groups of (4 columns x 4 steps, 4 columns x 4 steps).'
    if mr == 8:
        return acc_fn(f'acc_{mr}x8', mr, body, 2*mr, 'dotprod', 16*mr, 128)
    return asm_fn(f'run_{mr}x8', mr, body, store, 2*mr, 'dotprod', doc, 16*mr, 128)

def mmla(mr):
    P=mr//2
    acc=lambda p,q: 32-4*P+4*p+q
    body=[]
    for g in range(2):
        A=list(range(g*P, g*P+P)); Bg=list(range(8+4*g, 12+4*g))
        body+=loads(0,A,'a')+loads(0,Bg,'b')
        for p in range(P):
            body.append(' '.join(f'"smmla v{acc(p,q)}.4s, v{A[p]}.16b, v{Bg[q]}.16b",' for q in range(4)))
    store=[]
    for p in range(P):
        a0,a1,a2,a3=[acc(p,q) for q in range(4)]
        store.append(f'"zip1 v0.2d, v{a0}.2d, v{a1}.2d", "zip1 v1.2d, v{a2}.2d, v{a3}.2d", "zip2 v2.2d, v{a0}.2d, v{a1}.2d", "zip2 v3.2d, v{a2}.2d, v{a3}.2d",')
        store.append(f'"stp q0, q1, [{{c}}, #{64*p}]", "stp q2, q3, [{{c}}, #{64*p+32}]",')
    return asm_fn(f'run_{mr}x8', mr, body, store, 4*P, 'i8mm',
        f'per 8 reduction steps, `a` holds rows 0..{mr} of 8 values each (row pairs = SMMLA\'s left operand) and `b` columns 0..8 of 8 values each (column pairs = its right operand).', 16*mr, 128)

dot_src='''//! The dotprod int8 GEMM micro-kernels `i8_<mr>x8_neon_dot`, SDOT by
//! element (16 multiply-adds per instruction) in `asm!` (the intrinsic is
//! unstable), generated for 8, 4, 2 and 1 rows (the smaller ones run the
//! last rows of a GEMM). Per 16 reduction steps: `mr` left-hand rows (v0–v7)
//! and 8 weight registers (v8–v15, 4-deep groups of 4 columns) loaded with
//! LDPs, `8·mr` SDOTs into `2·mr` accumulators (v16–v31 from the top).
//! The 8-row tile is `acc_8x8`, which starts its accumulators at a given
//! value (the bias, for an output stage fused after it: `super::neon_fused`)
//! and leaves them in registers; `run_8x8` stores them.
//! Generated by scripts/gen_quant_asm.py; edit that, not this file.

use super::{QTier, QUkernel};
use std::arch::aarch64::{int32x4_t, vdupq_n_s32, vst1q_s32};
use std::arch::asm;

pub const UKERNEL: QUkernel = QUkernel { name: "i8_8x8_neon_dot", tier: QTier::NeonDot, mr: 8, nr: 8, kr: 4, ka: 16, kstep: 16, a_xor: 0, run: run_8x8 };
pub const UKERNEL_4X8: QUkernel = QUkernel { name: "i8_4x8_neon_dot", tier: QTier::NeonDot, mr: 4, nr: 8, kr: 4, ka: 16, kstep: 16, a_xor: 0, run: run_4x8 };
pub const UKERNEL_2X8: QUkernel = QUkernel { name: "i8_2x8_neon_dot", tier: QTier::NeonDot, mr: 2, nr: 8, kr: 4, ka: 16, kstep: 16, a_xor: 0, run: run_2x8 };
pub const UKERNEL_1X8: QUkernel = QUkernel { name: "i8_1x8_neon_dot", tier: QTier::NeonDot, mr: 1, nr: 8, kr: 4, ka: 16, kstep: 16, a_xor: 0, run: run_1x8 };
'''+''.join(dot(m) for m in (8,4,2,1))
mm_src='''//! The i8mm int8 GEMM micro-kernels `i8_<mr>x8_neon_i8mm` for 8, 4 and 2
//! rows (the 12-row default is `i8_12x8_neon_i8mm`; these run GEMMs with
//! fewer rows and the last rows of larger ones): SMMLA (a 2x8 by 8x2 int8
//! product into a 2x2 int32 tile, 32 multiply-adds per instruction) in
//! `asm!` (the intrinsic is unstable). Per 8 reduction steps: `mr / 2`
//! registers of row pairs and 4 of column pairs loaded with LDPs, `2·mr`
//! SMMLAs into `2·mr` accumulators (v16–v31 from the top); the 2x2 blocks
//! are un-interleaved into rows with ZIP1/ZIP2 once per tile.
//! Generated by scripts/gen_quant_asm.py; edit that, not this file.

use super::{QTier, QUkernel};
use std::arch::asm;

pub const UKERNEL_8X8: QUkernel = QUkernel { name: "i8_8x8_neon_i8mm", tier: QTier::NeonI8mm, mr: 8, nr: 8, kr: 8, ka: 8, kstep: 16, a_xor: 0, run: run_8x8 };
pub const UKERNEL_4X8: QUkernel = QUkernel { name: "i8_4x8_neon_i8mm", tier: QTier::NeonI8mm, mr: 4, nr: 8, kr: 8, ka: 8, kstep: 16, a_xor: 0, run: run_4x8 };
pub const UKERNEL_2X8: QUkernel = QUkernel { name: "i8_2x8_neon_i8mm", tier: QTier::NeonI8mm, mr: 2, nr: 8, kr: 8, ka: 8, kstep: 16, a_xor: 0, run: run_2x8 };
'''+''.join(mmla(m) for m in (8,4,2))
import sys
root=sys.argv[1]
open(root+'/kernels/src/quant/i8_8x8_neon_dot.rs','w').write(dot_src)
open(root+'/kernels/src/quant/i8_neon_i8mm.rs','w').write(mm_src)
