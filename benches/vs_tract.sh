#!/usr/bin/env bash
# armrest's fp32 GEMM vs tract-linalg's matmul (issue 3), both tables of
# benches/README.md "GEMM vs tract-linalg":
#   1. x86-64 timing: GFLOP/s and % of the FMA peak measured in the same run
#      (cargo bench --bench vs_tract);
#   2. aarch64 instructions per multiply-add under qemu-icount, armrest's Neon
#      GEMM vs tract-linalg's kernel in the same binary, on each qemu -cpu:
#      (count at R2 reps - count at R1 reps) / (R2 - R1) / MACs; set-up
#      (operands, packing, the result check of both sides) cancels.
#
#   benches/vs_tract.sh [--skip-x86] [--skip-arm] [--quick]
# Env: CPUS (qemu -cpu list, ';'-separated), SHAPES (';'-separated shape
# names, default all), TRACT_KERNELS (extra tract kernels to count, space-
# separated, e.g. "arm64simd_mmm_f32_12x8_gen"), ICOUNT_DIR (plugin source).
# tract's column counts its kernel with both operands packed beforehand (as
# armrest's weights are); "incl. packing x" adds packing the activations in
# every call, which tract does in a model and armrest does not need.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
skip_x86=0 skip_arm=0 quick=()
for a in "$@"; do
    case $a in
        --skip-x86) skip_x86=1 ;;
        --skip-arm) skip_arm=1 ;;
        --quick) quick=(--quick) ;;
        *) echo "unknown argument $a" >&2; exit 2 ;;
    esac
done
CPUS=${CPUS:-"max,sve-default-vector-length=16,sme=off;neoverse-n1"}
SHAPES=${SHAPES:-"gemm 512x512x512;gemm 256x256x256;pw 56x56 24->144;pw 56x56 144->24;pw 28x28 192->32;pw 14x14 576->96;pw 7x7 320->1280"}
TRACT_KERNELS=${TRACT_KERNELS:-}
ICOUNT_DIR=${ICOUNT_DIR:-/work/shared/tools/qemu-icount}
R1=1 R2=3

if ((!skip_x86)); then
    echo "## x86-64: cargo bench -p armrest-benches --bench vs_tract ${quick[*]:-}"
    echo
    cargo bench -q -p armrest-benches --bench vs_tract -- "${quick[@]}"
    echo
fi
((skip_arm)) && exit 0

target=aarch64-unknown-linux-gnu
bin=$(cargo bench -q -p armrest-benches --bench vs_tract --target $target --no-run --message-format=json |
    grep -o '"executable":"[^"]*vs_tract[^"]*"' | tail -n1 | cut -d'"' -f4)
[[ -x $bin ]] || { echo "no aarch64 vs_tract binary" >&2; exit 1; }
plugin=$repo/target/tmp/libicount.so
mkdir -p "$repo/target/tmp"
gcc -shared -fPIC -O2 -o "$plugin" "$ICOUNT_DIR/icount.c" $(pkg-config --cflags glib-2.0 2>/dev/null || true)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# count <cpu> <reps> <args...>: guest instructions of one run; its stdout to $tmp/out.
count() {
    local cpu=$1 reps=$2; shift 2
    rm -f "$tmp/c"
    qemu-aarch64 -cpu "$cpu" -L /usr/aarch64-linux-gnu -plugin "$plugin,outfile=$tmp/c" \
        "$bin" --reps "$reps" "$@" >"$tmp/out"
    sed -n 's/^icount: //p' "$tmp/c"
}

# per_mac <cpu> <args...>: prints "<kernel> <instructions per MAC>".
per_mac() {
    local cpu=$1; shift
    local c1 c2 macs kernel
    c1=$(count "$cpu" $R1 "$@")
    c2=$(count "$cpu" $R2 "$@")
    read -r _ kernel macs < <(sed -n 's/^[a-z-]* \([^ ]*\) .* macs=\([0-9]*\) .*/x \1 \2/p' "$tmp/out")
    awk -v a="$c1" -v b="$c2" -v m="$macs" -v k="$kernel" -v r=$((R2 - R1)) \
        'BEGIN { printf "%s %.4f\n", k, (b - a) / r / m }'
}

echo "## aarch64 instructions per MAC (qemu-icount; (count at $R2 reps - count at $R1) / $((R2 - R1)) / MACs)"
echo
extra_hdr="" extra_sep=""
for k in $TRACT_KERNELS; do extra_hdr+=" $k |"; extra_sep+="---|"; done
echo "| -cpu | shape | armrest ukernel | armrest instr/MAC | tract-linalg pick | tract instr/MAC | armrest / tract | tract incl. packing x |$extra_hdr"
echo "|---|---|---|---|---|---|---|---|$extra_sep"
IFS=';' read -r -a cpus <<<"$CPUS"
IFS=';' read -r -a shapes <<<"$SHAPES"
for cpu in "${cpus[@]}"; do
    for s in "${shapes[@]}"; do
        read -r ak ai < <(per_mac "$cpu" --filter "$s" --impl armrest)
        read -r tk ti < <(per_mac "$cpu" --filter "$s" --impl tract)
        read -r _ tp < <(per_mac "$cpu" --filter "$s" --impl tract-pack)
        extra=""
        for k in $TRACT_KERNELS; do
            read -r _ xi < <(per_mac "$cpu" --filter "$s" --impl tract --tract-kernel "$k")
            extra+=" $xi |"
        done
        ratio=$(awk -v a="$ai" -v t="$ti" 'BEGIN { printf "%.3f", a / t }')
        echo "| $cpu | $s | $ak | $ai | $tk | $ti | $ratio | $tp |$extra"
    done
done
