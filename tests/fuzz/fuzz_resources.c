/*
 * fuzz_resources.c: the tables a request reaches, for grants
 * (src/proto/resources.h over proto/grants.tsv) and the PartiQL statement
 * reader behind it (partiql_table, src/proto/partiql.h).
 *
 * Input: 1 byte choosing the operation (modulo their number), then bytes
 * read two ways: as a request body (when it parses as a JSON object) and as
 * a PartiQL statement. Checked, besides ASan/UBSan:
 * - ddb_resources answers one of its four reaches; TABLES lists at least one
 *   table, every one non-empty, an ARN-marked one a whole table ARN
 *   (ddb_table_arn takes all of it) and a plain one not starting "arn:";
 *   the other reaches list nothing; the same document gives the same answer;
 * - a statement partiql_table reads names a non-empty slice of the input,
 *   found again when the statement is read a second time.
 */
#include <string.h>

#include "fuzz.h"
#include "proto/json.h"
#include "proto/partiql.h"
#include "proto/resources.h"

static void check_reach(struct arena *a, enum op_id op, const struct json *doc)
{
    struct ddb_reached r, again;
    int rc = ddb_resources(a, op, doc, &r);
    FUZZ_CHECK(rc == DDB_REACH_TABLES || rc == DDB_REACH_OPEN || rc == DDB_REACH_ACCOUNT ||
               rc == DDB_REACH_UNREADABLE);
    FUZZ_CHECK((rc == DDB_REACH_TABLES) == (r.n > 0));
    for (int i = 0; i < r.n; i++) {
        const struct ddb_table_ref *t = &r.tables[i];
        FUZZ_CHECK(t->len > 0);
        size_t n = 0;
        if (t->arn)
            FUZZ_CHECK(ddb_table_arn(t->name, t->len, &n) && n == t->len);
        else
            FUZZ_CHECK(t->len < 4 || memcmp(t->name, "arn:", 4) != 0);
    }
    FUZZ_CHECK(ddb_resources(a, op, doc, &again) == rc && again.n == r.n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    enum op_id op = (enum op_id)(data[0] % OP_COUNT);
    const char *s = (const char *)data + 1;
    size_t len = size - 1;
    struct arena a;
    arena_init(&a);
    struct json *doc;
    if (json_parse(&a, s, len, &doc, NULL, 0) == JSON_OK && doc->type == JSON_OBJECT)
        check_reach(&a, op, doc);
    const char *t, *t2;
    size_t tl, tl2;
    if (partiql_table(s, len, &t, &tl) == 0) {
        FUZZ_CHECK(tl > 0 && t >= s && t + tl <= s + len);
        FUZZ_CHECK(partiql_table(s, len, &t2, &tl2) == 0 && t2 == t && tl2 == tl);
    }
    arena_free(&a);
    return 0;
}
