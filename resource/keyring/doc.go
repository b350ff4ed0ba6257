// Package keyring is apisix.data_encryption: the AES encryption APISIX applies
// to SSL private keys and to the plugin fields a plugin schema lists in
// encrypt_fields before they are stored in etcd, bit for bit as APISIX does it
// (apisix/core/data_encryption.lua, apisix/ssl.lua, apisix/plugin.lua), so
// that data written by either one is read by the other.
//
// Invariants:
//
//   - Cipher. Each keyring entry is an AES key: 16 bytes select AES-128-CBC,
//     32 bytes AES-256-CBC. The IV is the entry itself, cut to the 16-byte
//     block size (lua-resty-string copies the key into the IV buffer and
//     OpenSSL reads one block of it). Padding is PKCS#7. Output is standard
//     base64 with padding (ngx.encode_base64). The same key and plaintext
//     always give the same ciphertext: the scheme is APISIX's, not a good
//     one, and compatibility is its only reason to exist.
//   - Keyring. The first entry encrypts; decryption tries every entry in
//     order and returns the first result whose padding checks out, as
//     OpenSSL's EVP_DecryptFinal_ex decides. With an empty keyring nothing is
//     encrypted or decrypted: values pass through unchanged (APISIX).
//   - Base64 is read as nginx's ngx_decode_base64 reads it: input ends at the
//     first '=', a byte outside the standard alphabet (newlines included) or
//     a length of 4n+1 is an error.
//   - SSL private keys (ssl key and keys[i], upstream tls.client_key) are
//     encrypted only when they start with "---" (PEM) and decrypted only when
//     they do not, whatever enable_encrypt_fields says.
//   - Plugin fields follow the enable_encrypt_fields switch (APISIX also
//     requires the etcd config provider: callers pass the switch already
//     combined). Field names are dotted paths; an array met on the way is
//     walked element by element; the value found is encrypted when it is a
//     string, or each string in it when it is an array or an object. Values
//     of other types and missing paths are left alone. Fields that do not
//     decrypt keep their stored value (data written before encryption was
//     enabled stays usable) and are reported, never logged: this is a
//     library.
//   - Errors carry APISIX's texts ("base64 decode ssl key failed", "decrypt
//     failed").
//   - A Keyring is immutable and safe for concurrent use. The Fields
//     functions change the map they are given in place.
package keyring
