# shellcheck shell=bash
# Shared helpers of the TLS capture scripts in scripts/tls/: the helpers of
# scripts/servers/lib.sh (temp dir, tcpdump on lo, process cleanup), with
# captures written to captures/tls/, plus a throwaway self-signed
# certificate and the oracle step.
#
#   tls_init NAME            # fs_init, certificate in $FS_TMP/cert.pem, key.pem
#   ... fs_capture_start, drive real TLS stacks writing $TLS_KEYLOG, fs_capture_stop
#   tls_finish [oracle options]   # NAME.keys beside NAME.pcap, NAME.oracle.json
FS_OUT_DIR="${FS_OUT_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/captures/tls}"
# shellcheck source=../servers/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../servers/lib.sh"
TLS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

tls_init() {
    fs_init "$1"
    fs_ensure_base openssl
    TLS_KEYLOG="$FS_TMP/$1.keys"
    : > "$TLS_KEYLOG"
    # A key made for this run only: the key logs committed beside the
    # captures are the only secrets anyone needs to read them.
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj /CN=localhost \
        -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
        -keyout "$FS_TMP/key.pem" -out "$FS_TMP/cert.pem" 2>/dev/null
}

tls_finish() {
    cp "$TLS_KEYLOG" "$FS_OUT_DIR/$FS_NAME.keys"
    python3 "$TLS_DIR/tls_oracle.py" --pcap "$FS_OUT_DIR/$FS_NAME.pcap" \
        --keylog "$FS_OUT_DIR/$FS_NAME.keys" --out "$FS_OUT_DIR/$FS_NAME.oracle.json" "$@"
    fs_log "wrote $FS_OUT_DIR/$FS_NAME.keys and $FS_NAME.oracle.json"
}
