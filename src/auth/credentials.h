/*
 * credentials.h: the principals ddbx accepts (`--credentials FILE`), their
 * table grants, and a keyring worker threads read while it is reloaded.
 *
 * File format, one principal per line:
 *
 *     ACCESS_KEY_ID SECRET_ACCESS_KEY [TABLE ...]    # no TABLE: every table
 *
 * fields separated by spaces or tabs; `#` starts a comment (a whole line, or
 * from a field that begins with '#'); blank lines are ignored. A key id is
 * 1-128 characters of [A-Za-z0-9_.-]; a secret 1-256 printable ASCII
 * characters; a table a DynamoDB table name (3-255 of [A-Za-z0-9_.-]) or an
 * ARN (`arn:...`, up to 1024 printable characters), kept as written.
 * The file is refused, with a message naming the line, for a malformed line
 * or a repeated key id; and, when loaded from disk, if group or others may
 * read or write it (it holds secrets) or it holds no principal.
 *
 * Snapshots and the keyring
 * -------------------------
 * A parsed file is a `struct auth_keys`: an immutable, reference-counted
 * snapshot (its only mutable parts are the per-principal signing-key caches,
 * each under its own mutex). The keyring holds the current snapshot; a reload
 * builds a whole new snapshot and swaps the pointer under the keyring's
 * mutex. A reader takes the mutex only to read the pointer and add a
 * reference, so a reload never waits for requests in flight, and a request
 * in flight keeps using the snapshot it started with until it releases it;
 * the last release frees it. A worker thread can keep its reference across
 * requests and re-acquire only when keyring_generation() changes, which
 * leaves no shared write on the request path. This was preferred to an
 * RCU-style grace period: it is evidently correct under ThreadSanitizer and
 * costs one uncontended lock per acquisition at most.
 *
 * Signing keys are derived per (key id, date, region, service) and cached in
 * the principal: two entries each (today and, around midnight, yesterday).
 */
#ifndef DDBX_AUTH_CREDENTIALS_H
#define DDBX_AUTH_CREDENTIALS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth/sigv4.h"
#include "util/buf.h"

#define CREDENTIALS_MAX_FILE (1 << 20) /* a larger file is refused */

struct auth_principal; /* one line of the file; lives as long as its snapshot */
struct auth_keys;      /* an immutable snapshot of the whole file */
struct keyring;        /* the current snapshot, replaceable at any time */

/* Parses `len` bytes of credentials text; `source` names it in messages
 * ("FILE:LINE: ..."). On success *out is a new snapshot holding one
 * reference and 0 is returned; otherwise -1, and a message in err (never a
 * secret). An empty file is a valid, empty snapshot. */
int credentials_parse(const char *text, size_t len, const char *source, struct auth_keys **out,
                      struct buf *err);
/* Reads and parses the file at `path`, refusing it (-1, message in err) when
 * it cannot be read, is not a regular file, is larger than
 * CREDENTIALS_MAX_FILE, is accessible by group or others (mode & 077), is
 * malformed, or has no principal. */
int credentials_load(const char *path, struct auth_keys **out, struct buf *err);

/* Adds a reference to k; returns k. */
struct auth_keys *auth_keys_retain(struct auth_keys *k);
/* Drops a reference; the last one frees the snapshot (secrets wiped). */
void auth_keys_release(struct auth_keys *k);
size_t auth_keys_count(const struct auth_keys *k);
/* Principal i (in key id order), or NULL when i >= auth_keys_count(k). */
const struct auth_principal *auth_keys_at(const struct auth_keys *k, size_t i);
/* The principal with this key id, or NULL. Valid while k is held. */
const struct auth_principal *auth_keys_find(const struct auth_keys *k, const char *key_id,
                                            size_t len);
/* How many signing keys k's principals have derived (cache misses). */
uint64_t auth_keys_derivations(const struct auth_keys *k);
/* Empties every principal's signing-key cache (benchmarks and tests). */
void auth_keys_forget_signing_keys(const struct auth_keys *k);

const char *auth_principal_key_id(const struct auth_principal *p);
/* The line of the file the principal came from. */
int auth_principal_line(const struct auth_principal *p);
/* Whether p may use the table named `table` (compared exactly with the
 * entries of its line, plain names and ARNs as written: deciding that a name
 * and an ARN are the same table is the caller's business). A principal
 * with no tables listed may use every table. */
bool auth_principal_allows(const struct auth_principal *p, const char *table, size_t len);
/* Tables listed for p (0: all tables); entry i of them. */
size_t auth_principal_table_count(const struct auth_principal *p);
const char *auth_principal_table(const struct auth_principal *p, size_t i);
/* The signing key of p for scope date8 (8 characters) / region / service,
 * from p's cache or derived and cached. Thread-safe. */
void auth_principal_signing_key(const struct auth_principal *p, const char *date8,
                                const char *region, size_t region_len, const char *service,
                                size_t service_len, uint8_t key[SIGV4_KEY_LEN]);

/* A keyring holding `initial` (its reference moves into the keyring; NULL:
 * an empty snapshot). keyring_destroy drops the keyring's reference. */
struct keyring *keyring_create(struct auth_keys *initial);
void keyring_destroy(struct keyring *kr);
/* The current snapshot, with a reference the caller must release. */
struct auth_keys *keyring_acquire(struct keyring *kr);
/* Makes `next` current (its reference moves into the keyring) and releases
 * the keyring's reference to the previous snapshot. */
void keyring_replace(struct keyring *kr, struct auth_keys *next);
/* Loads `path` and, if it is valid, makes it current. Returns 0; or -1 with
 * a message in err, the current snapshot kept (a bad edit never locks every
 * client out). */
int keyring_reload(struct keyring *kr, const char *path, struct buf *err);
/* Incremented by every replacement. */
uint64_t keyring_generation(struct keyring *kr);

#endif
