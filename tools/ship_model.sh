#!/usr/bin/env bash
# Export, validate and benchmark a trained bundle with the edgehar CLI; every figure lands in
# the bundle as a committed file.
#   [EXPORT_ARGS=--per-tensor] [TFLM_SOURCES=DIR] tools/ship_model.sh models/dscnn [UCI_DATA] [HAPT_RAWDATA]
# The firmware's arena is measured with the reference and the CMSIS-NN kernels (TFLM's sources,
# ../shared/third_party by default). Only the firmware of models/DEFAULT_MCU and lstm100 is committed.
set -euo pipefail
bundle=${1:?usage: tools/ship_model.sh BUNDLE [UCI_DATA] [HAPT_RAWDATA]}
data=${2:-../shared/data/uci-har}
hapt=${3:-../shared/data/hapt-raw/RawData}
# A failed reference check is recorded in export_report.json and the model card, not fatal here.
edgehar export "$bundle" --data "$data" --quant all --firmware "$bundle/firmware" --accept-failed-checks \
    --tflm-sources "${TFLM_SOURCES:-../shared/third_party}" ${EXPORT_ARGS:-}
edgehar evaluate "$bundle" --data "$data" --variant int8 --png "$bundle/confusion_int8.png" --json \
    > "$bundle/evaluate_int8.json"
edgehar validate --model "$bundle" --data "$data" --variant int8 --hapt "$hapt" --json > "$bundle/validate.json"
edgehar bench "$bundle" --json > "$bundle/bench.json"
python tools/bench_stream.py --model "$bundle" --variant int8 --json > "$bundle/stream_bench_int8.json"
python tools/bench_stream.py --model "$bundle" --variant float32 --json > "$bundle/stream_bench_float32.json"
