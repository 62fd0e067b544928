#!/bin/sh
# The transit engine end to end over TLS (vault-api.md §7): every key type and operation,
# rotation and version policy, derived keys, tampering, batches, upsert and ACLs, export/ (public
# keys only), known-answer checks of signatures with openssl, and hygiene (no key material in
# responses, no plaintext in the log).
. "$(dirname "$0")/lib.sh"

D=$(tmpdir)
T_DIRS="$T_DIRS $D" # tmpdir runs in a subshell: register the directory for cleanup here
start_dev "$D" || exit 1
ROOT=$(dev_root)
R="X-Vault-Token: $ROOT"
T="$ADDR/v1/transit"

j() { jq -r "$1"; }
b64() { printf '%s' "$1" | base64 | tr -d '\n'; }
# post PATH JSON: the response body; code PATH JSON: the status
post() { hcurl -H "$R" -X POST -d "$2" "$T/$1"; }
code() { status_of -H "$R" -X POST -d "$2" "$T/$1"; }
enc() { post "encrypt/$1" "{\"plaintext\":\"$2\"$3}" | j .data.ciphertext; }
dec() { post "decrypt/$1" "{\"ciphertext\":\"$2\"$3}" | j .data.plaintext; }
err() { post "$1" "$2" | j '.errors[0]'; }
# tamper CT: the same ciphertext with its last byte changed
tamper() {
    printf '%s' "${1#vault:v*:}" | base64 -d >"$D/ct.bin"
    n=$(wc -c <"$D/ct.bin")
    last=$(tail -c 1 "$D/ct.bin" | od -An -tu1 | tr -d ' ')
    head -c $((n - 1)) "$D/ct.bin" >"$D/ct2.bin"
    if [ "$last" = 1 ]; then printf '\002' >>"$D/ct2.bin"; else printf '\001' >>"$D/ct2.bin"; fi
    printf 'vault:v%s:%s' "$(printf '%s' "$1" | sed 's/^vault:v\([0-9]*\):.*/\1/')" \
        "$(base64 -w0 <"$D/ct2.bin")"
}

expect_eq "enable transit" \
    "$(status_of -H "$R" -X POST -d '{"type":"transit"}' "$ADDR/v1/sys/mounts/transit")" 204

PT="CANARY-tr4nsit-plaintext-$$"
PTB=$(b64 "$PT")

# -- AEAD key types: create, layout, round trip
for type in aes256-gcm96 aes128-gcm96 chacha20-poly1305 xchacha20-poly1305; do
    k="k-$type"
    expect_eq "$type: create answers key info" "$(post "keys/$k" "{\"type\":\"$type\"}" | j .data.type)" "$type"
    ct=$(enc "$k" "$PTB")
    expect_contains "$type: ciphertext is vault:v1:" "$ct" "vault:v1:"
    nonce=12
    [ "$type" = xchacha20-poly1305 ] && nonce=24
    expect_eq "$type: nonce || ciphertext || tag" \
        "$(printf '%s' "${ct#vault:v1:}" | base64 -d | wc -c)" $((nonce + ${#PT} + 16))
    expect_eq "$type: round trip" "$(dec "$k" "$ct" | base64 -d)" "$PT"
    expect_eq "$type: tampered ciphertext is 400" "$(code "decrypt/$k" "{\"ciphertext\":\"$(tamper "$ct")\"}")" 400
    expect_eq "$type: tamper message carries no detail" \
        "$(post "decrypt/$k" "{\"ciphertext\":\"$(tamper "$ct")\"}" | jq -c .errors)" \
        '["cipher: message authentication failed"]'
done
expect_eq "default type is aes256-gcm96" "$(post keys/plain '' | j .data.type)" aes256-gcm96
expect_eq "empty plaintext refused" "$(err encrypt/plain '{"plaintext":""}')" "missing plaintext to encrypt"
expect_contains "plaintext must be base64" "$(err encrypt/plain '{"plaintext":"not base64!"}')" "illegal base64 data at input byte"
expect_eq "ciphertext without prefix" "$(err decrypt/plain '{"ciphertext":"abc"}')" "invalid ciphertext: no prefix"
expect_eq "ciphertext from the future" "$(err decrypt/plain '{"ciphertext":"vault:v9:AAAA"}')" "invalid ciphertext: version is too new"
expect_eq "ciphertext not base64" "$(err decrypt/plain '{"ciphertext":"vault:v1:@@"}')" "invalid ciphertext: could not decode base64"
expect_eq "truncated ciphertext" "$(err decrypt/plain '{"ciphertext":"vault:v1:AAAA"}')" "invalid ciphertext length"
expect_eq "missing key" "$(status_of -H "$R" "$T/keys/nope")" 404
expect_eq "exportable refused" "$(code keys/x '{"exportable":true}')" 400
expect_eq "plaintext backup refused" "$(code keys/x '{"allow_plaintext_backup":true}')" 400
expect_eq "unknown type" "$(err keys/x '{"type":"rot13"}')" "unknown key type rot13"
expect_contains "unsupported type said honestly" "$(err keys/x '{"type":"rsa-2048"}')" "not supported"
expect_eq "second create warns" "$(post keys/plain '' | j '.warnings[0]')" "key plain already existed"

# -- associated data
AD=$(b64 "row-17")
ct=$(enc k-aes256-gcm96 "$PTB" ",\"associated_data\":\"$AD\"")
expect_eq "associated data round trip" "$(dec k-aes256-gcm96 "$ct" ",\"associated_data\":\"$AD\"" | base64 -d)" "$PT"
expect_eq "associated data mismatch fails" "$(err decrypt/k-aes256-gcm96 "{\"ciphertext\":\"$ct\"}")" "cipher: message authentication failed"

# -- derived keys: context is required and must match
post keys/der '{"derived":true}' >/dev/null
expect_eq "derived key info" "$(hcurl -H "$R" "$T/keys/der" | j .data.kdf)" hkdf_sha256
C1=$(b64 tenant-a)
C2=$(b64 tenant-b)
ct=$(enc der "$PTB" ",\"context\":\"$C1\"")
expect_contains "derived encrypt" "$ct" "vault:v1:"
expect_eq "derived decrypt with its context" "$(dec der "$ct" ",\"context\":\"$C1\"" | base64 -d)" "$PT"
expect_eq "context mismatch fails" "$(err decrypt/der "{\"ciphertext\":\"$ct\",\"context\":\"$C2\"}")" "cipher: message authentication failed"
expect_contains "context required" "$(err encrypt/der "{\"plaintext\":\"$PTB\"}")" "missing 'context' for key derivation"
expect_eq "bad context encoding" "$(err encrypt/der "{\"plaintext\":\"$PTB\",\"context\":\"%%\"}")" "failed to base64-decode context"
expect_eq "derivation refused for ecdsa" "$(code keys/x '{"type":"ecdsa-p256","derived":true}')" 400

# -- rotation, old versions, min_decryption_version, rewrap, trim, delete
post keys/rot '' >/dev/null
ct1=$(enc rot "$PTB")
expect_eq "rotate answers key info" "$(post keys/rot/rotate '' | j .data.latest_version)" 2
ct2=$(enc rot "$PTB")
expect_contains "encrypt uses the new version" "$ct2" "vault:v2:"
expect_eq "old version still decrypts" "$(dec rot "$ct1" | base64 -d)" "$PT"
expect_contains "key_version selects v1" "$(enc rot "$PTB" ',"key_version":1')" "vault:v1:"
rw=$(post rewrap/rot "{\"ciphertext\":\"$ct1\"}" | j .data.ciphertext)
expect_contains "rewrap moves to the newest version" "$rw" "vault:v2:"
expect_eq "rewrapped ciphertext decrypts" "$(dec rot "$rw" | base64 -d)" "$PT"
expect_eq "config min_decryption_version" "$(post keys/rot/config '{"min_decryption_version":2}' | j .data.min_decryption_version)" 2
expect_eq "below min_decryption_version refused" "$(err decrypt/rot "{\"ciphertext\":\"$ct1\"}")" \
    "ciphertext or signature version is disallowed by policy (too old)"
expect_eq "rewrap below min_decryption_version refused" "$(code rewrap/rot "{\"ciphertext\":\"$ct1\"}")" 400
expect_eq "min_encryption_version below min_decryption_version refused" "$(code keys/rot/config '{"min_encryption_version":1}')" 400
expect_eq "min_decryption_version beyond latest refused" "$(code keys/rot/config '{"min_decryption_version":3}')" 400
expect_eq "auto_rotate_period accepts 1h" "$(post keys/rot/config '{"auto_rotate_period":"1h"}' | j .data.auto_rotate_period)" 3600
expect_eq "auto_rotate_period under an hour refused" "$(code keys/rot/config '{"auto_rotate_period":"10m"}')" 400
expect_eq "trim" "$(code keys/rot/trim '{"min_available_version":2}')" 204
expect_eq "trimmed versions are gone" "$(hcurl -H "$R" "$T/keys/rot" | jq -c '.data.keys | keys')" '["2"]'
expect_eq "min_decryption_version below trim refused" "$(code keys/rot/config '{"min_decryption_version":1}')" 400
expect_eq "trim cannot exceed min_decryption_version" "$(code keys/rot/trim '{"min_available_version":3}')" 400
expect_contains "delete refused by default" "$(hcurl -H "$R" -X DELETE "$T/keys/rot" | j '.errors[0]')" "deletion is not allowed"
post keys/rot/config '{"deletion_allowed":true}' >/dev/null
expect_eq "delete once allowed" "$(status_of -H "$R" -X DELETE "$T/keys/rot")" 204
expect_eq "deleted key is gone" "$(status_of -H "$R" "$T/keys/rot")" 404
expect_eq "rotate of a missing key" "$(err keys/rot/rotate '')" "key not found"

# -- batches: mixed good and bad items, references, partial failure code
B="{\"batch_input\":[{\"plaintext\":\"$PTB\",\"reference\":\"a\"},{\"plaintext\":\"!!\",\"reference\":\"b\"}]}"
res=$(post encrypt/plain "$B")
expect_eq "mixed batch is 400" "$(code encrypt/plain "$B")" 400
expect_contains "good item encrypted" "$(echo "$res" | j '.data.batch_results[0].ciphertext')" "vault:v1:"
expect_contains "bad item has an error" "$(echo "$res" | j '.data.batch_results[1].error')" "illegal base64"
expect_eq "references echoed" "$(echo "$res" | jq -c '[.data.batch_results[].reference]')" '["a","b"]'
expect_eq "partial_failure_response_code" \
    "$(code encrypt/plain "{\"partial_failure_response_code\":207,${B#\{}")" 207
good=$(echo "$res" | j '.data.batch_results[0].ciphertext')
res=$(post decrypt/plain "{\"batch_input\":[{\"ciphertext\":\"$good\"},{\"ciphertext\":\"$(tamper "$good")\"}]}")
expect_eq "batch decrypt good item" "$(echo "$res" | j '.data.batch_results[0].plaintext' | base64 -d)" "$PT"
expect_eq "batch decrypt tampered item" "$(echo "$res" | j '.data.batch_results[1].error')" "cipher: message authentication failed"
big=$(i=0; printf '{"batch_input":['; while [ $i -lt 40 ]; do [ $i -gt 0 ] && printf ','; printf '{"plaintext":"%s"}' "$PTB"; i=$((i + 1)); done; printf ']}')
expect_eq "40-item batch (pool thread)" "$(post encrypt/plain "$big" | jq '[.data.batch_results[].ciphertext | select(startswith("vault:v1:"))] | length')" 40
expect_eq "empty batch refused" "$(err encrypt/plain '{"batch_input":[]}')" "missing batch input to process"

# -- datakey
dk=$(post datakey/plaintext/plain '{"bits":512}')
expect_eq "datakey plaintext has 64 bytes" "$(echo "$dk" | j .data.plaintext | base64 -d | wc -c)" 64
expect_eq "datakey ciphertext decrypts to it" "$(dec plain "$(echo "$dk" | j .data.ciphertext)")" "$(echo "$dk" | j .data.plaintext)"
DKPT=$(echo "$dk" | j .data.plaintext)
expect_eq "wrapped datakey has no plaintext" "$(post datakey/wrapped/plain '' | j .data.plaintext)" null
expect_eq "datakey bits checked" "$(err datakey/plaintext/plain '{"bits":100}')" "invalid bit length"

# -- ed25519: sign, verify, and openssl's verdict with the published public key
MSG="known-answer message $$"
printf '%s' "$MSG" >"$D/msg.bin"
post keys/ed '{"type":"ed25519"}' >/dev/null
PUB=$(hcurl -H "$R" "$T/keys/ed" | j '.data.keys["1"].public_key')
expect_eq "ed25519 public key is 32 bytes" "$(printf '%s' "$PUB" | base64 -d | wc -c)" 32
sig=$(post sign/ed "{\"input\":\"$(b64 "$MSG")\"}" | j .data.signature)
expect_contains "ed25519 signature is versioned" "$sig" "vault:v1:"
expect_eq "ed25519 verify" "$(post verify/ed "{\"input\":\"$(b64 "$MSG")\",\"signature\":\"$sig\"}" | j .data.valid)" true
expect_eq "ed25519 verify other input" "$(post verify/ed "{\"input\":\"$(b64 x)\",\"signature\":\"$sig\"}" | j .data.valid)" false
{ printf '\060\052\060\005\006\003\053\145\160\003\041\000'; printf '%s' "$PUB" | base64 -d; } >"$D/ed.der"
openssl pkey -pubin -inform DER -in "$D/ed.der" -out "$D/ed.pem" 2>/dev/null
printf '%s' "${sig#vault:v1:}" | base64 -d >"$D/ed.sig"
expect_contains "openssl verifies the ed25519 signature" \
    "$(openssl pkeyutl -verify -pubin -inkey "$D/ed.pem" -rawin -in "$D/msg.bin" -sigfile "$D/ed.sig" 2>&1)" \
    "Signature Verified Successfully"
expect_eq "encrypt with a signing key refused" "$(err encrypt/ed "{\"plaintext\":\"$PTB\"}")" "key type ed25519 not supported for this operation"
post keys/edd '{"type":"ed25519","derived":true}' >/dev/null
s=$(post sign/edd "{\"input\":\"$(b64 "$MSG")\",\"context\":\"$C1\"}")
expect_eq "derived ed25519 returns its public key" "$(echo "$s" | j .data.public_key | base64 -d | wc -c)" 32
expect_eq "keys/<k>?context= gives the derived public key" \
    "$(hcurl -H "$R" "$T/keys/edd?context=$(printf '%s' "$C1" | sed 's/=/%3D/g')" | j '.data.keys["1"].public_key')" \
    "$(echo "$s" | j .data.public_key)"
expect_eq "derived ed25519 verify, other context" \
    "$(post verify/edd "{\"input\":\"$(b64 "$MSG")\",\"context\":\"$C2\",\"signature\":\"$(echo "$s" | j .data.signature)\"}" | j .data.valid)" false

# -- ecdsa-p256: DER by default (openssl dgst verifies), JWS, prehashed, other hashes
post keys/ec '{"type":"ecdsa-p256"}' >/dev/null
hcurl -H "$R" "$T/keys/ec" | j '.data.keys["1"].public_key' >"$D/ec.pem"
expect_contains "ecdsa public key is PEM" "$(cat "$D/ec.pem")" "-----BEGIN PUBLIC KEY-----"
sig=$(post sign/ec "{\"input\":\"$(b64 "$MSG")\"}" | j .data.signature)
printf '%s' "${sig#vault:v1:}" | base64 -d >"$D/ec.sig"
expect_eq "openssl verifies the ecdsa signature" \
    "$(openssl dgst -sha256 -verify "$D/ec.pem" -signature "$D/ec.sig" "$D/msg.bin" 2>&1)" "Verified OK"
sig=$(post sign/ec/sha2-384 "{\"input\":\"$(b64 "$MSG")\"}" | j .data.signature)
printf '%s' "${sig#vault:v1:}" | base64 -d >"$D/ec.sig"
expect_eq "ecdsa with sha2-384 from the path" \
    "$(openssl dgst -sha384 -verify "$D/ec.pem" -signature "$D/ec.sig" "$D/msg.bin" 2>&1)" "Verified OK"
DG=$(openssl dgst -sha256 -binary "$D/msg.bin" | base64 -w0)
sig=$(post sign/ec "{\"input\":\"$DG\",\"prehashed\":true}" | j .data.signature)
printf '%s' "${sig#vault:v1:}" | base64 -d >"$D/ec.sig"
expect_eq "ecdsa prehashed" \
    "$(openssl dgst -sha256 -verify "$D/ec.pem" -signature "$D/ec.sig" "$D/msg.bin" 2>&1)" "Verified OK"
jws=$(post sign/ec "{\"input\":\"$(b64 "$MSG")\",\"marshaling_algorithm\":\"jws\"}" | j .data.signature)
expect_eq "jws signature is r||s in URL base64" "$(printf '%s==' "${jws#vault:v1:}" | tr '_-' '/+' | base64 -d 2>/dev/null | wc -c)" 64
expect_eq "jws verify" "$(post verify/ec "{\"input\":\"$(b64 "$MSG")\",\"signature\":\"$jws\",\"marshaling_algorithm\":\"jws\"}" | j .data.valid)" true
expect_eq "malformed DER signature is a clean 400" "$(err verify/ec "{\"input\":\"$(b64 "$MSG")\",\"signature\":\"vault:v1:AAAA\"}")" "supplied signature is invalid"
expect_eq "signature without prefix" "$(err verify/ec "{\"input\":\"$(b64 "$MSG")\",\"signature\":\"junk\"}")" "invalid signature: no prefix"
expect_eq "signature not base64" "$(err verify/ec "{\"input\":\"$(b64 "$MSG")\",\"signature\":\"vault:v1:!!\"}")" "invalid base64 signature value"
expect_eq "sign with an encryption key refused" "$(code sign/plain "{\"input\":\"$PTB\"}")" 400

# -- hmac: every type has an HMAC key; verify through verify/
post keys/hm '{"type":"hmac"}' >/dev/null
h=$(post hmac/hm "{\"input\":\"$(b64 "$MSG")\"}" | j .data.hmac)
expect_eq "hmac is vault:v1: + 32 bytes" "$(printf '%s' "${h#vault:v1:}" | base64 -d | wc -c)" 32
expect_eq "hmac sha2-512 from the path" "$(post hmac/hm/sha2-512 "{\"input\":\"$(b64 "$MSG")\"}" | j .data.hmac | sed 's/vault:v1://' | base64 -d | wc -c)" 64
expect_eq "hmac verify" "$(post verify/hm "{\"input\":\"$(b64 "$MSG")\",\"hmac\":\"$h\"}" | j .data.valid)" true
expect_eq "hmac verify other input" "$(post verify/hm "{\"input\":\"$(b64 y)\",\"hmac\":\"$h\"}" | j .data.valid)" false
expect_contains "hmac with an aes key" "$(post hmac/plain "{\"input\":\"$(b64 "$MSG")\"}" | j .data.hmac)" "vault:v1:"
expect_eq "hmac of unsupported algorithm" "$(code hmac/hm/md5 "{\"input\":\"$PTB\"}")" 400

# -- export/: public keys of signing keys (Vault's answer even when not exportable); private key
# material never (400); the keys are the ones keys/<k> publishes
xget() { hcurl -H "$R" "$T/export/$1"; }
xcode() { status_of -H "$R" "$T/export/$1"; }
xerr() { xget "$1" | jq -c .errors; }
r=$(xget public-key/ed)
expect_eq "export/public-key ed25519: 200" "$(xcode public-key/ed)" 200
expect_eq "... name, type and keys only" "$(printf '%s' "$r" | jq -c '.data | keys')" '["keys","name","type"]'
expect_eq "... name and type" "$(printf '%s' "$r" | jq -r '.data.name + " " + .data.type')" "ed ed25519"
expect_eq "... base64 of the raw key keys/ed publishes" "$(printf '%s' "$r" | j '.data.keys["1"]')" "$PUB"
r=$(xget public-key/ec)
expect_eq "export/public-key ecdsa: PEM without the final newline (Vault's TrimSpace)" \
    "$(printf '%s' "$r" | jq -r '.data.keys["1"] | endswith("-----END PUBLIC KEY-----")')" true
expect_eq "... the same PEM keys/ec publishes" "$(printf '%s' "$r" | j '.data.keys["1"]')" "$(cat "$D/ec.pem")"
printf '%s' "$r" | j '.data.keys["1"]' >"$D/ecx.pem"
sig=$(post sign/ec "{\"input\":\"$(b64 "$MSG")\"}" | j .data.signature)
printf '%s' "${sig#vault:v1:}" | base64 -d >"$D/ec.sig"
expect_eq "... openssl verifies a signature with the exported PEM" \
    "$(openssl dgst -sha256 -verify "$D/ecx.pem" -signature "$D/ec.sig" "$D/msg.bin" 2>&1)" "Verified OK"
post keys/ec/rotate '' >/dev/null
post keys/ec/rotate '' >/dev/null
r=$(xget public-key/ec)
expect_eq "every version without a version in the path" "$(printf '%s' "$r" | jq -c '.data.keys | keys')" '["1","2","3"]'
expect_eq "... each the key keys/ec publishes (less its final newline)" \
    "$(printf '%s' "$r" | jq -c '[.data.keys | to_entries | sort_by(.key)[] | .value + "\n"]')" \
    "$(hcurl -H "$R" "$T/keys/ec" | jq -c '[.data.keys | to_entries | sort_by(.key)[] | .value.public_key]')"
expect_eq "three different keys" "$(printf '%s' "$r" | jq '[.data.keys[]] | unique | length')" 3
expect_eq "/2 gives version 2 only" "$(xget public-key/ec/2 | jq -c '.data.keys | keys')" '["2"]'
expect_eq "... the same key" "$(xget public-key/ec/2 | j '.data.keys["2"]')" "$(printf '%s' "$r" | j '.data.keys["2"]')"
expect_eq "/latest is the latest version" "$(xget public-key/ec/latest | jq -c '.data.keys | keys')" '["3"]'
expect_eq "/v1 reads as 1 (Vault trims a leading v)" "$(xget public-key/ec/v1 | j '.data.keys["1"]')" \
    "$(printf '%s' "$r" | j '.data.keys["1"]')"
expect_eq "a version that does not exist: 400" "$(xcode public-key/ec/4)" 400
expect_eq "... Vault's message" "$(xerr public-key/ec/4)" '["version does not exist or cannot be found"]'
expect_eq "version 0" "$(xerr public-key/ec/0)" '["version for export is below minimum decryption version"]'
expect_eq "a version that is not a number" "$(xerr public-key/ec/one)" '["invalid key version"]'
expect_eq "a version with a slash" "$(xerr public-key/ec/1/2)" '["invalid key version"]'
post keys/ec/config '{"min_decryption_version":2}' >/dev/null
expect_eq "below min_decryption_version" "$(xerr public-key/ec/1)" \
    '["version for export is below minimum decryption version"]'
expect_eq "every version means min_decryption_version to latest, as Vault" \
    "$(xget public-key/ec | jq -c '.data.keys | keys')" '["2","3"]'
expect_eq "derived ed25519: an empty key per version (its keys depend on a context)" \
    "$(xget public-key/edd | jq -c .data.keys)" '{"1":""}'
for x in encryption-key signing-key hmac-key; do
    for k in plain ed hm; do
        expect_eq "export/$x/$k refused: 400" "$(xcode "$x/$k")" 400
    done
    expect_eq "... Vault's message ($x)" "$(xerr "$x/ec/1")" '["private key material is not exportable"]'
    expect_eq "export/$x of a missing key: 404" "$(xcode "$x/nope")" 404
done
expect_eq "export/public-key of a missing key: 404" "$(xcode public-key/nope)" 404
expect_eq "... with Vault's empty errors" "$(xerr public-key/nope)" '[]'
expect_eq "unknown export type: 400 even for a missing key" "$(xcode private-key/nope)" 400
expect_eq "... Vault's message" "$(xerr private-key/ed)" '["invalid export type: private-key"]'
expect_eq "cmac-key: Vault's community answer" "$(xerr cmac-key/plain)" \
    '["CMAC operations are only available in enterprise versions of Vault"]'
expect_eq "public-key of a symmetric key: Vault's 500" "$(xcode public-key/plain)" 500
expect_eq "... and message" "$(xerr public-key/hm/1)" '["unknown key type hmac for export type public-key"]'
expect_eq "certificate-chain of a symmetric key: 400" "$(xerr certificate-chain/plain)" \
    '["certificate chain not supported for keys that do not support signing"]'
expect_eq "certificate-chain of a signing key: none imported (Vault's 500)" "$(xcode certificate-chain/ed)" 500
expect_eq "export without a name: 404" "$(xcode public-key)" 404
expect_eq "POST on export: 405" "$(status_of -H "$R" -X POST -d '{}' "$T/export/public-key/ed")" 405
expect_eq "export answers carry no wrapped blob" \
    "$(for k in ed ec edd; do xget "public-key/$k"; done | grep -c blob)" 0

# -- random and hash (no key)
expect_eq "random/16" "$(post random/16 '' | j .data.random_bytes | base64 -d | wc -c)" 16
expect_eq "random hex" "$(post random '{"bytes":8,"format":"hex"}' | j .data.random_bytes | wc -c)" 17
expect_eq "random too large" "$(code random/999999999 '')" 400
expect_eq "hash sha2-256 hex" "$(post hash "{\"input\":\"$(b64 "$MSG")\"}" | j .data.sum)" \
    "$(openssl dgst -sha256 -r "$D/msg.bin" | cut -d' ' -f1)"
expect_eq "hash/sha2-512 base64" "$(post hash/sha2-512 "{\"input\":\"$(b64 "$MSG")\",\"format\":\"base64\"}" | j .data.sum)" \
    "$(openssl dgst -sha512 -binary "$D/msg.bin" | base64 -w0)"

# -- LIST, methods, paths
expect_contains "LIST keys" "$(hcurl -H "$R" -X LIST "$T/keys" | jq -c .data.keys)" '"ec"'
expect_contains "GET ?list=true" "$(hcurl -H "$R" "$T/keys?list=true" | jq -c .data.keys)" '"k-aes256-gcm96"'
expect_eq "GET on encrypt is 405" "$(status_of -H "$R" "$T/encrypt/plain")" 405
expect_eq "unknown path is 404" "$(code nothing/here '')" 404

# -- upsert and ACLs: encrypt creates a missing key only with the create capability
pol() {
    jq -n --arg p "$2" '{policy:$p}' | status_of -H "$R" -X PUT --data-binary @- "$ADDR/v1/sys/policies/acl/$1"
}
tok() { hcurl -H "$R" -X POST -d "{\"policies\":[\"$1\"]}" "$ADDR/v1/auth/token/create" | j .auth.client_token; }
pol enc-update 'path "transit/encrypt/*" { capabilities = ["update"] }' >/dev/null
pol enc-create 'path "transit/encrypt/*" { capabilities = ["create", "update"] }' >/dev/null
TU=$(tok enc-update)
TC=$(tok enc-create)
expect_eq "upsert without create: denied (the existence check makes it a create)" \
    "$(hcurl -H "X-Vault-Token: $TU" -X POST -d "{\"plaintext\":\"$PTB\"}" "$T/encrypt/up1" | j '.errors[0]')" "permission denied"
expect_eq "no key was made" "$(status_of -H "$R" "$T/keys/up1")" 404
expect_contains "upsert with create makes the key" \
    "$(hcurl -H "X-Vault-Token: $TC" -X POST -d "{\"plaintext\":\"$PTB\"}" "$T/encrypt/up2" | j .data.ciphertext)" "vault:v1:"
expect_eq "upserted key is aes256-gcm96" "$(hcurl -H "$R" "$T/keys/up2" | j .data.type)" aes256-gcm96
expect_eq "upsert with context makes a derived key" \
    "$(hcurl -H "X-Vault-Token: $TC" -X POST -d "{\"plaintext\":\"$PTB\",\"context\":\"$C1\"}" "$T/encrypt/up3" >/dev/null; hcurl -H "$R" "$T/keys/up3" | j .data.derived)" true
expect_eq "decrypt not granted" "$(status_of -H "X-Vault-Token: $TC" -X POST -d '{}' "$T/decrypt/up2")" 403
pol exp-pub 'path "transit/export/public-key/*" { capabilities = ["read"] }' >/dev/null
TX=$(tok exp-pub)
expect_eq "export/public-key with read on it" "$(status_of -H "X-Vault-Token: $TX" "$T/export/public-key/ed")" 200
expect_eq "export/signing-key is another path: 403 before Vault's 400" \
    "$(status_of -H "X-Vault-Token: $TX" "$T/export/signing-key/ed")" 403
expect_eq "export/public-key denied to a token without read on it" \
    "$(status_of -H "X-Vault-Token: $TC" "$T/export/public-key/ed")" 403

# -- hygiene: key info carries no secret field; nothing we sent reaches the log
for k in plain ed ec hm der; do
    expect_eq "keys/$k has no private or wrapped field" \
        "$(hcurl -H "$R" "$T/keys/$k" | jq '[paths | map(tostring) | join(".") | select(test("blob|private|secret|material"; "i"))] | length')" 0
done
check "log has no plaintext" sh -c "! grep -qF '$PT' '$LOG'"
check "log has no base64 plaintext" sh -c "! grep -qF '$PTB' '$LOG'"
check "log has no data key" sh -c "! grep -qF '$DKPT' '$LOG'"
check "log has no message" sh -c "! grep -qF '$MSG' '$LOG'"

# -- restart: wrapped keys survive, old ciphertext decrypts
ct=$(enc plain "$PTB")
kill -TERM "$PID"
wait "$PID" 2>/dev/null
LOG2="$D/server2.log"
(cd "$D" && exec "$TRESORD" -dev -dev-dir "$D/data" -dev-listen 127.0.0.1:0 >"$LOG2" 2>&1) &
PID=$!
T_PIDS="$T_PIDS $PID"
if PORT=$(wait_port "$LOG2"); then
    ADDR="https://127.0.0.1:$PORT"
    T="$ADDR/v1/transit"
    ROOT2=$(dev_root "$LOG2")
    [ -n "$ROOT2" ] && R="X-Vault-Token: $ROOT2"
    expect_eq "ciphertext decrypts after a restart" "$(dec plain "$ct" | base64 -d)" "$PT"
else
    not_ok "server restarts on the same data"
fi
kill -TERM "$PID" 2>/dev/null
wait "$PID" 2>/dev/null
# sanitizer builds report memory errors and leaks on the server's stderr (its log)
check "no sanitizer report in the server logs" sh -c "! grep -qE 'Sanitizer|runtime error' '$LOG' '$LOG2'"
finish
