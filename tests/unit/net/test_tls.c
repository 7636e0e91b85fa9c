/*
 * test_tls.c: net/tls.h over a socketpair: an OpenSSL client on one end, the
 * memory-BIO server on the other, driven step by step in one thread. Checked:
 * the handshake and data both ways; records fed one byte at a time; a client
 * that leaves mid-handshake; renegotiation refused (TLS 1.2); TLS 1.1
 * refused; close_notify; SIGHUP's reload (new connections get the new
 * certificate, open ones keep working, a bad pair of files changes nothing);
 * files that cannot be loaded.
 */
#include "nettest.h"
#include "tlstest.h"

#include <fcntl.h>
#include <sys/socket.h>

#include "net/tls.h"
#include "util/common.h"

struct pair {
    int fd[2]; /* [0] the client's, [1] the server's */
    SSL *client;
    struct tls_conn *server;
    struct buf plain; /* what the server decrypted */
    int status;       /* the server's last tls_conn_read status */
};

static struct tmpdir dir;
static struct tlstest_cert one, two;
static const char *cert_path, *key_path;
static struct tls_server *server;

static void write_files(const struct tlstest_cert *c)
{
    dir.nfiles = 0; /* the same two names again */
    cert_path = tmpdir_write(&dir, "cert.pem", c->cert_pem);
    key_path = tmpdir_write(&dir, "key.pem", c->key_pem);
}

static int setup(void **state)
{
    tmpdir_create(&dir);
    tlstest_cert_make(&one, "one.test");
    tlstest_cert_make(&two, "two.test");
    write_files(&one);
    struct buf err = BUF_INIT;
    if (tls_server_create(cert_path, key_path, &server, &err) != DDBX_OK)
        fail_msg("tls_server_create: %s", err.data);
    buf_free(&err);
    return 0;
}

static int teardown(void **state)
{
    tls_server_destroy(server);
    tlstest_cert_free(&one);
    tlstest_cert_free(&two);
    tmpdir_remove(&dir);
    return 0;
}

static void pair_open(struct pair *p, SSL_CTX *cctx)
{
    memset(p, 0, sizeof(*p));
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, p->fd), 0);
    for (int i = 0; i < 2; i++)
        fcntl(p->fd[i], F_SETFL, fcntl(p->fd[i], F_GETFL) | O_NONBLOCK);
    p->client = SSL_new(cctx);
    SSL_set_fd(p->client, p->fd[0]);
    SSL_set_connect_state(p->client);
    p->server = tls_conn_new(server);
}

static void pair_close(struct pair *p)
{
    SSL_free(p->client);
    tls_conn_free(p->server);
    buf_free(&p->plain);
    close(p->fd[0]);
    close(p->fd[1]);
}

/* Gives the server what the client sent, `step` bytes per call, and sends
 * what it answers back. Returns the bytes given. */
static size_t pump(struct pair *p, size_t step)
{
    char in[1 << 16];
    size_t total = 0;
    ssize_t n;
    while ((n = read(p->fd[1], in, sizeof(in))) > 0) {
        for (size_t off = 0; off < (size_t)n; off += step) {
            struct buf out = BUF_INIT;
            p->status =
                tls_conn_read(p->server, in + off, MIN(step, (size_t)n - off), &p->plain, &out);
            if (out.len) nettest_send(p->fd[1], out.data, out.len);
            buf_free(&out);
            if (p->status != TLS_OK) return total + (size_t)n;
        }
        total += (size_t)n;
    }
    return total;
}

/* Runs the client's handshake to its end, the server answering each step. */
static void handshake(struct pair *p, size_t step)
{
    for (int i = 0; i < 100; i++) {
        int rc = SSL_do_handshake(p->client);
        if (rc == 1) break;
        int e = SSL_get_error(p->client, rc);
        if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
            fail_msg("client handshake failed: %s", ERR_reason_error_string(ERR_get_error()));
        pump(p, step);
        assert_int_equal(p->status, TLS_OK);
    }
    assert_int_equal(SSL_is_init_finished(p->client), 1);
    pump(p, step); /* TLS 1.3: the client's Finished is still on its way */
    assert_true(tls_conn_established(p->server));
}

/* The server sends `text`; the client reads it whole. */
static void server_says(struct pair *p, const char *text)
{
    struct buf out = BUF_INIT;
    assert_int_equal(tls_conn_write(p->server, text, strlen(text), &out), TLS_OK);
    nettest_send(p->fd[1], out.data, out.len);
    buf_free(&out);
    char got[256];
    size_t have = 0;
    for (int i = 0; i < 1000 && have < strlen(text); i++) {
        int n = SSL_read(p->client, got + have, (int)(sizeof(got) - have));
        if (n > 0) have += (size_t)n;
        pump(p, SIZE_MAX); /* TLS 1.3 tickets and such need no answer, but keep going */
    }
    assert_int_equal(have, strlen(text));
    assert_memory_equal(got, text, have);
}

static void test_handshake_and_data(void **state)
{
    SSL_CTX *cctx = tlstest_client_ctx(&one, 0, 0);
    struct pair p;
    pair_open(&p, cctx);
    handshake(&p, SIZE_MAX);
    char cn[64];
    tlstest_peer_cn(p.client, cn, sizeof(cn));
    assert_string_equal(cn, "one.test");
    assert_int_equal(SSL_version(p.client), TLS1_3_VERSION);
    const char req[] = "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}";
    assert_int_equal(SSL_write(p.client, req, sizeof(req) - 1), (int)sizeof(req) - 1);
    pump(&p, SIZE_MAX);
    assert_int_equal(p.plain.len, sizeof(req) - 1);
    assert_memory_equal(p.plain.data, req, sizeof(req) - 1);
    server_says(&p, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    /* the client's close_notify: the server reads the end */
    SSL_shutdown(p.client);
    pump(&p, SIZE_MAX);
    assert_int_equal(p.status, TLS_ECLOSED);
    pair_close(&p);
    SSL_CTX_free(cctx);
}

/* Every record split into one-byte pieces, in the handshake and after it;
 * TLS 1.2 this time. */
static void test_split_records(void **state)
{
    SSL_CTX *cctx = tlstest_client_ctx(&one, TLS1_2_VERSION, TLS1_2_VERSION);
    struct pair p;
    pair_open(&p, cctx);
    handshake(&p, 1);
    assert_int_equal(SSL_version(p.client), TLS1_2_VERSION);
    char *big = malloc(40000); /* several records */
    memset(big, 'x', 40000);
    size_t sent = 0;
    while (sent < 40000) {
        int n = SSL_write(p.client, big + sent, (int)(40000 - sent));
        if (n > 0) sent += (size_t)n;
        pump(&p, 1);
    }
    pump(&p, 1);
    assert_int_equal(p.plain.len, 40000);
    assert_memory_equal(p.plain.data, big, 40000);
    free(big);
    server_says(&p, "done");
    pair_close(&p);
    SSL_CTX_free(cctx);
}

/* A client that sends half its ClientHello and goes: nothing established,
 * nothing leaked (ASan), and the server holds no state but the connection. */
static void test_client_leaves_mid_handshake(void **state)
{
    SSL_CTX *cctx = tlstest_client_ctx(&one, 0, 0);
    struct pair p;
    pair_open(&p, cctx);
    assert_true(SSL_do_handshake(p.client) <= 0); /* the ClientHello is out */
    char hello[4096];
    ssize_t n = read(p.fd[1], hello, sizeof(hello));
    assert_true(n > 10);
    struct buf out = BUF_INIT;
    assert_int_equal(tls_conn_read(p.server, hello, (size_t)n / 2, &p.plain, &out), TLS_OK);
    assert_int_equal(out.len, 0); /* nothing to answer yet */
    assert_false(tls_conn_established(p.server));
    tls_conn_close_notify(p.server, &out); /* nothing to close before a handshake */
    assert_int_equal(out.len, 0);
    buf_free(&out);
    pair_close(&p);
    SSL_CTX_free(cctx);
}

static void test_renegotiation_refused(void **state)
{
    SSL_CTX *cctx = tlstest_client_ctx(&one, TLS1_2_VERSION, TLS1_2_VERSION);
    struct pair p;
    pair_open(&p, cctx);
    handshake(&p, SIZE_MAX);
    assert_int_equal(SSL_renegotiate(p.client), 1);
    int rc = 0;
    for (int i = 0; i < 20 && rc <= 0; i++) {
        rc = SSL_do_handshake(p.client);
        int e = SSL_get_error(p.client, rc);
        if (rc <= 0 && e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) break;
        pump(&p, SIZE_MAX);
    }
    /* the server said no_renegotiation and stays as it was */
    assert_true(rc <= 0);
    assert_int_equal(ERR_GET_REASON(ERR_peek_error()), SSL_R_NO_RENEGOTIATION);
    ERR_clear_error();
    assert_int_equal(p.status, TLS_OK);
    assert_true(tls_conn_established(p.server));
    pair_close(&p);
    SSL_CTX_free(cctx);
}

static void test_old_versions_refused(void **state)
{
    SSL_CTX *cctx = tlstest_client_ctx(&one, TLS1_VERSION, TLS1_1_VERSION);
    struct pair p;
    pair_open(&p, cctx);
    for (int i = 0; i < 10 && p.status == TLS_OK; i++) {
        SSL_do_handshake(p.client);
        pump(&p, SIZE_MAX);
    }
    assert_int_equal(p.status, TLS_EFAIL);
    assert_false(tls_conn_established(p.server));
    assert_contains(tls_conn_error(p.server), "unsupported protocol");
    ERR_clear_error();
    pair_close(&p);
    SSL_CTX_free(cctx);
}

static void test_reload(void **state)
{
    SSL_CTX *trust_one = tlstest_client_ctx(&one, 0, 0),
            *trust_two = tlstest_client_ctx(&two, 0, 0);
    struct pair old, fresh, after_bad;
    pair_open(&old, trust_one);
    handshake(&old, SIZE_MAX);
    write_files(&two);
    struct buf err = BUF_INIT;
    assert_int_equal(tls_server_reload(server, &err), DDBX_OK);
    pair_open(&fresh, trust_two);
    handshake(&fresh, SIZE_MAX);
    char cn[64];
    tlstest_peer_cn(fresh.client, cn, sizeof(cn));
    assert_string_equal(cn, "two.test");
    server_says(&old, "still here"); /* the old connection keeps its context */
    /* a key that does not match its certificate: refused, "two" stays */
    dir.nfiles = 0;
    tmpdir_write(&dir, "cert.pem", one.cert_pem);
    tmpdir_write(&dir, "key.pem", two.key_pem);
    assert_int_equal(tls_server_reload(server, &err), DDBX_ERR);
    assert_contains(err.data, "key values mismatch");
    pair_open(&after_bad, trust_two);
    handshake(&after_bad, SIZE_MAX);
    buf_free(&err);
    pair_close(&old);
    pair_close(&fresh);
    pair_close(&after_bad);
    write_files(&one);
    assert_int_equal(tls_server_reload(server, &err), DDBX_OK);
    SSL_CTX_free(trust_one);
    SSL_CTX_free(trust_two);
}

static void test_files_that_do_not_load(void **state)
{
    struct tls_server *s = NULL;
    struct buf err = BUF_INIT;
    assert_int_equal(tls_server_create("/nonexistent/cert.pem", key_path, &s, &err), DDBX_ERR);
    assert_contains(err.data, "--tls-cert /nonexistent/cert.pem: cannot read the certificate");
    buf_reset(&err);
    assert_int_equal(tls_server_create(cert_path, cert_path, &s, &err), DDBX_ERR);
    assert_contains(err.data, "cannot use the private key");
    assert_null(s);
    buf_free(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_handshake_and_data),
        cmocka_unit_test(test_split_records),
        cmocka_unit_test(test_client_leaves_mid_handshake),
        cmocka_unit_test(test_renegotiation_refused),
        cmocka_unit_test(test_old_versions_refused),
        cmocka_unit_test(test_reload),
        cmocka_unit_test(test_files_that_do_not_load),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
