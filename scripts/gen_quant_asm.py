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

def acc_block(body, nacc):
    """The accumulator names and the asm! of a loop whose `nacc` accumulators
    (the top registers) start at `init` and come back as `c0 ..`."""
    accs=list(range(32-nacc,32))
    names=', '.join(f'c{i}' for i in range(nacc))
    ops=''.join(f'            inout("v{r}") init[{i % 2}] => c{i},\n' for i, r in enumerate(accs))
    free=' '.join(f'out("v{r}") _,' for r in range(32-nacc))
    return names, asm_block([], body, [], ops + '            ' + free + '\n')

def acc_fn(name, mr, body, nacc, feature, a_bytes, b_bytes):
    """The loop with its accumulators starting at `init` and returned in
    registers (for a fused output stage): accumulator 2i + h starts at init[h]."""
    names, block=acc_block(body, nacc)
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

def acc_rows_fn(body):
    """`acc_8x8` reading its 8 rows in place (`lda` apart) instead of from a packed strip."""
    # The strip's four LDPs (body[:4]) become one load per row.
    rows=[f'"ldr q{i}, [{{a{i}}}], #16",' for i in range(8)]
    names, block=acc_block(rows+body[4:], 16)
    row_at=lambda i: 'a' if i == 0 else 'a.add(lda)' if i == 1 else f'a.add({i} * lda)'
    ptrs=''.join(f'            a{i} = inout(reg) {row_at(i)} => _,\n' for i in range(8))
    block=block.replace('            a = inout(reg) a => _,\n', ptrs)
    return f'''
/// [`acc_8x8`] on 8 rows read in place: row `i` at `a + i·lda`, `kp` values
/// each (no packed strip: one 16-byte load per row and 16 reduction steps,
/// against a packed strip's four LDPs and the packing itself).
///
/// # Safety
/// Each of the 8 rows has `kp` readable values (`kp` a multiple of 16); `b`
/// as for [`acc_8x8`]; dotprod is available.
#[target_feature(enable = "neon,dotprod")]
#[inline]
pub unsafe fn acc_rows_8x8(kp: usize, a: *const i8, lda: usize, b: *const i8, init: [int32x4_t; 2]) -> [int32x4_t; 16] {{
    let iters = kp / 16;
    let ({names});
    // SAFETY: each row holds iters * 16 bytes and the block iters * 128 bytes (kp is a
    // multiple of 16, 8 columns); dotprod is enabled.
    unsafe {{
{block}
    }}
    [{names}]
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
        return acc_fn(f'acc_{mr}x8', mr, body, 2*mr, 'dotprod', 16*mr, 128) + acc_rows_fn(body)
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

# --- The dotprod 3x3 depthwise row runs (i8_dw3x3_neon_dot.rs).
# Registers: window columns in three slots v0-v3, v4-v7, v8-v11 (each an input
# column of 16 channels as four (r0, r1, r2, 0) quad registers); accumulators
# and column temporaries v12-v15; zero point v16, clamp v17/v18; weights
# v20-v31 (window column kx in v(20+4kx) .. v(23+4kx)).
SLOTS=[[0,1,2,3],[4,5,6,7],[8,9,10,11]]

def q(s):
    """An asm! template line (braces of register lists doubled by the caller)."""
    return '"' + s + '",'

def regs(slot, t):
    return ', '.join(f'v{r}.{t}' for r in slot)

def dw_column(slot):
    """Load the next input column of the three rows (post-incremented) and
    interleave it into `slot`: lane c of register j = (r0, r1, r2, 0) of channel 4j + c."""
    s=slot  # the four registers the column lands in
    return [q('ld1 {{v12.16b}}, [{r0}], {s0}'), q('ld1 {{v13.16b}}, [{r1}], {s1}'), q('ld1 {{v14.16b}}, [{r2}], {s2}'),
            q('zip1 v15.16b, v12.16b, v13.16b'), q('zip2 v13.16b, v12.16b, v13.16b'),
            q('ushll v12.8h, v14.8b, #0'), q('ushll2 v14.8h, v14.16b, #0'),
            q(f'zip1 v{s[0]}.8h, v15.8h, v12.8h'), q(f'zip2 v{s[1]}.8h, v15.8h, v12.8h'),
            q(f'zip1 v{s[2]}.8h, v13.8h, v14.8h'), q(f'zip2 v{s[3]}.8h, v13.8h, v14.8h')]

def dw_pixel(win, dead, neg, clamp):
    """One output pixel of 16 channels on the window slots `win` (new columns
    already made): bias, 12 SDOTs, the output stage with the multipliers and
    shifts loaded into the `dead` slot, one 16-byte store."""
    acc=[12,13,14,15]
    out=[q('ld1 {{' + regs(acc, '4s') + '}}, [{bias}]')]
    for kx, slot in enumerate(win):
        out.append(' '.join(q(f'sdot v{acc[j]}.4s, v{slot[j]}.16b, v{20 + 4*kx + j}.16b') for j in range(4)))
    out.append(q('ld1 {{' + regs(dead, '4s') + '}}, [{mult}]'))
    out.append(' '.join(q(f'sqrdmulh v{acc[j]}.4s, v{acc[j]}.4s, v{dead[j]}.4s') for j in range(4)))
    out.append(q('ld1 {{' + regs(dead, '4s') + '}}, [{nrsh}]'))
    if neg:
        out.append(' '.join(q(f'ssra v{a}.4s, v{a}.4s, #31') for a in acc))
    out.append(' '.join(q(f'srshl v{acc[j]}.4s, v{acc[j]}.4s, v{dead[j]}.4s') for j in range(4)))
    out.append(' '.join([q('sqxtn v12.4h, v12.4s'), q('sqxtn2 v12.8h, v13.4s'), q('sqxtn v14.4h, v14.4s'), q('sqxtn2 v14.8h, v15.4s')]))
    out.append(' '.join([q('sqadd v12.8h, v12.8h, v16.8h'), q('sqadd v14.8h, v14.8h, v16.8h'), q('sqxtn v12.8b, v12.8h'), q('sqxtn2 v12.16b, v14.8h')]))
    if clamp:
        out.append(' '.join([q('smax v12.16b, v12.16b, v17.16b'), q('smin v12.16b, v12.16b, v18.16b')]))
    out.append(q('st1 {{v12.16b}}, [{out}], {ostep}'))
    return out

def dw_step(stride, p, neg, clamp):
    """Pixel p (0, 1, 2) of the unrolled loop: its new columns and itself."""
    if stride == 1:
        # Slots rotate by one: pixel p's window is (p, p+1, p+2) mod 3, the new column the last.
        win=[SLOTS[(p+i) % 3] for i in range(3)]
        return dw_column(win[2]) + dw_pixel(win, win[0], neg, clamp)
    # Stride 2: the carried column is slot (0, 2, 1)[p], the two new ones follow it.
    first=[0,2,1][p]
    win=[SLOTS[(first+i) % 3] for i in range(3)]
    return dw_column(win[1]) + dw_column(win[2]) + dw_pixel(win, win[0], neg, clamp)

def movs(dst, src):
    return [' '.join(q(f'mov v{d}.16b, v{s}.16b') for d, s in zip(dst, src))]

def dw_block(stride, neg, clamp):
    A,B,C=SLOTS
    if stride == 1:
        # Carried: slots 0, 1. After one pixel they are in 1, 2; after two in 2, 0.
        exit1=movs(A, B) + movs(B, C)
        exit2=movs(B, A) + movs(A, C)
    else:
        # Carried: slot 0. After one pixel it is in 2, after two in 1.
        exit1=movs(A, C)
        exit2=movs(A, B)
    body=lambda p: lines(dw_step(stride, p, neg, clamp), 12)
    # The row's last pixel when its last window column is the padding (`edge`):
    # that column is v19 in all four registers.
    edge=(dw_column(B) if stride == 2 else []) + dw_pixel([A, B, [19]*4], A, neg, clamp)
    ws=[f'v{20+4*k}.16b, v{21+4*k}.16b, v{22+4*k}.16b, v{23+4*k}.16b' for k in range(3)]
    wl='\n'.join(f'            "ld1 {{{{{w}}}}}, [{{w}}], #64",' for w in ws)
    win_ops=''.join(f'            inout("v{r}") k{i}[{j}],\n' for i in range(2 if stride == 1 else 1) for j, r in enumerate(SLOTS[i]))
    free_slot=' '.join(f'out("v{r}") _,' for s in SLOTS[(2 if stride == 1 else 1):] for r in s) + ' '
    return f'''        asm!(
{wl}
            // Whole loops of three pixels (the slots' rotation comes back), then 0..2 more.
            "cbz {{n3}}, 3f",
            "1:",
{body(0)}
{body(1)}
{body(2)}
            "subs {{n3}}, {{n3}}, #1",
            "b.ne 1b",
            "3:",
            "cbz {{rem}}, 9f",
{body(0)}
            "cmp {{rem}}, #1",
            "b.ne 4f",
{lines(exit1)}
            "b 9f",
            "4:",
{body(1)}
{lines(exit2)}
            "9:",
            "cbz {{edge}}, 7f",
{lines(edge)}
            "7:",
            r0 = inout(reg) rows[0] => _, r1 = inout(reg) rows[1] => _, r2 = inout(reg) rows[2] => _,
            s0 = in(reg) steps[0], s1 = in(reg) steps[1], s2 = in(reg) steps[2],
            out = inout(reg) out => _, ostep = in(reg) out_step,
            w = inout(reg) w => _, bias = in(reg) bias, mult = in(reg) mult, nrsh = in(reg) nrsh,
            n3 = inout(reg) n / 3 => _, rem = in(reg) n % 3, edge = in(reg) edge as usize,
{win_ops}            {free_slot}out("v12") _, out("v13") _, out("v14") _, out("v15") _,
            in("v16") zp, in("v17") lo, in("v18") hi, in("v19") pad,
            out("v20") _, out("v21") _, out("v22") _, out("v23") _, out("v24") _, out("v25") _, out("v26") _, out("v27") _,
            out("v28") _, out("v29") _, out("v30") _, out("v31") _,
            options(nostack),
        )'''

def dw_fn(stride):
    k='k: &mut [[int8x16_t; 4]; 2]'
    arms=[]
    for neg in (False, True):
        for clamp in (False, True):
            arms.append(f'            ({str(neg).lower()}, {str(clamp).lower()}) => {{\n{dw_block(stride, neg, clamp)}\n            }}')
    carried = 'the columns `x − 2` and `x − 1`' if stride == 1 else 'the column `x − 1` (`k[1]` is not used)'
    new = 'one new column' if stride == 1 else 'two new columns'
    return f'''
/// `n ≥ 1` output pixels of a 3x3 depthwise row with horizontal stride {stride}, 16
/// channels, on SDOT, with the output stage fused: per pixel {new} of the
/// three input rows (`rows[i]` at the first new column `x`, advancing by
/// `steps[i]` per column), interleaved as `(r0, r1, r2, 0)` per channel; the
/// accumulators start at `bias`; then SQRDMULH by `mult`, the SSRA fixup of
/// negative ties (`neg`), SRSHL by `nrsh` (negated right shifts), saturating
/// narrows, the zero point `zp`, the clamp `lo..hi` (`clamp`), and one 16-byte
/// store per pixel at `out`, `out_step` apart. `k` holds {carried} as
/// interleaved columns (pixel 0's first window columns), and on return the
/// columns the next pixel starts with. With `edge`, one more pixel follows,
/// the row's last, whose last window column is the padding: `pad` in each
/// of its four registers (`(zp, zp, zp, 0)` per lane){'' if stride == 1 else ' after one more input column'}; `k` is then spent.
///
/// # Safety
/// dotprod is available; each `rows[i]` has `({'n' if stride == 1 else '(n + edge) * 2'} − 1) · steps[i] + 16` readable bytes;
/// `w` has the 192 bytes of a 16-channel block of the column-quad plane; `bias`,
/// `mult` and `nrsh` have 16 readable values; `out` has `(n + edge − 1) · out_step + 16`
/// writable bytes nothing else accesses.
#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "neon,dotprod")]
#[inline]
pub unsafe fn run_s{stride}(neg: bool, clamp: bool, n: usize, rows: [*const i8; 3], steps: [usize; 3], out: *mut i8, out_step: usize, w: *const i8, bias: *const i32, mult: *const i32, nrsh: *const i32, zp: int16x8_t, lo: int8x16_t, hi: int8x16_t, edge: bool, pad: int8x16_t, {k}) {{
    debug_assert!(n >= 1);
    let [k0, {'k1' if stride == 1 else '_'}] = k;
    // SAFETY: the loads read the caller's rows, weights and parameters within the
    // stated bounds, the stores write n pixels at out; dotprod is enabled.
    unsafe {{
        match (neg, clamp) {{
{chr(10).join(arms)}
        }}
    }}
}}
'''

dw_src='''//! The dotprod 3x3 depthwise row runs (`super::output::dw_row_columns_neon_dot`
//! calls them for the pixels whose new columns lie inside the image, and the
//! row's last pixel when only its last window column is in the padding; the
//! other edge pixels take its intrinsics): SDOT in `asm!` (the intrinsic is unstable),
//! with every register placed by hand, which the intrinsics could not do
//! without spilling (weights, window, accumulators and stage constants need 40).
//! Per pixel and 16 channels: the new input column(s), 3 loads and 8
//! interleaving permutes each; the bias as the accumulators' start (one load);
//! 12 SDOTs; the output stage (multipliers and shifts loaded into a window
//! slot no longer needed, 2 loads); one store. Loops of three pixels rotate
//! the window's three register slots without moves.
//! Generated by scripts/gen_quant_asm.py; edit that, not this file.

use std::arch::aarch64::{int16x8_t, int8x16_t};
use std::arch::asm;
'''+dw_fn(1)+dw_fn(2)
open(root+'/kernels/src/quant/i8_dw3x3_neon_dot.rs','w').write(dw_src)
