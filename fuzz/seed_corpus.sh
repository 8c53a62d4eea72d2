#!/bin/sh
# Seeds fuzz/corpus/<target>/ from the Claude Code captures: each request body
# prefixed with the byte the targets read first (signal 0 logs, 1 metrics,
# 2 traces; +4 JSON, +8 identity for http_body), and the shipped configs.
# json_to_protobuf also gets the pretty-printed OTLP/JSON of the protobuf
# captures (*.decoded.json), protobuf_to_json every protobuf capture.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
captures=${CAPTURES:-$here/../tests/fixtures/claude-code/captures}
for t in wire_vs_prost otlp_json http_body config_load json_to_protobuf protobuf_to_json; do
    mkdir -p "$here/corpus/$t"
done
pick() { case "$1" in *logs*) echo 0 ;; *metrics*) echo 1 ;; *) echo 2 ;; esac; }
for f in "$captures"/http-protobuf/otlp/*.bin; do
    n=$(pick "$f"); b=$(basename "$f" .bin)
    { printf "\\$(printf %o "$n")"; cat "$f"; } > "$here/corpus/wire_vs_prost/$b"
    { printf "\\$(printf %o $((n + 8)))"; cat "$f"; } > "$here/corpus/http_body/$b"
    { printf "\\$(printf %o "$n")"; gzip -c "$f"; } > "$here/corpus/http_body/$b.gz"
done
for f in "$captures"/http-json/otlp/*.json; do
    case "$f" in *.headers.json|*.decoded.json) continue ;; esac
    n=$(pick "$f"); b=$(basename "$f" .json)
    { printf "\\$(printf %o "$n")"; cat "$f"; } > "$here/corpus/otlp_json/$b"
    { printf "\\$(printf %o "$n")"; cat "$f"; } > "$here/corpus/json_to_protobuf/$b"
    { printf "\\$(printf %o $((n + 12)))"; cat "$f"; } > "$here/corpus/http_body/$b.json"
    { printf "\\$(printf %o $((n + 4)))"; gzip -c "$f"; } > "$here/corpus/http_body/$b.json.gz"
done
for v in "$captures"/*/; do
    for f in "$v"otlp/*.bin; do
        [ -e "$f" ] || continue
        n=$(pick "$f"); b=$(basename "$v")-$(basename "$f" .bin)
        { printf "\\$(printf %o "$n")"; cat "$f"; } > "$here/corpus/protobuf_to_json/$b"
    done
    for f in "$v"otlp/*.decoded.json; do
        [ -e "$f" ] || continue
        n=$(pick "$f"); b=$(basename "$v")-$(basename "$f" .json)
        { printf "\\$(printf %o "$n")"; cat "$f"; } > "$here/corpus/json_to_protobuf/$b"
    done
done
cp "$here"/../configs/*.yaml "$here"/../pipeline/testdata/config/*.yaml "$here/corpus/config_load/"
echo "seeded $(find "$here/corpus" -type f | wc -l) inputs"
