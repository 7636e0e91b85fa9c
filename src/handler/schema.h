/*
 * schema.h: the key schemas of the tables ddbx has seen, learnt from
 * DescribeTable (and from CreateTable/DescribeTable answers passing through)
 * and shared by all threads.
 *
 * Each table's record carries an epoch that is part of every cache key of
 * the table: forgetting a table (DeleteTable, CreateTable, a PartiQL write,
 * the backend saying the table is gone) gives it a new epoch next time, so
 * all its old entries become unreachable at once and age out by LRU.
 */
#ifndef DDBX_HANDLER_SCHEMA_H
#define DDBX_HANDLER_SCHEMA_H

#include "handler/request.h"
#include "proto/json.h"
#include "proto/key.h"

/* Called with the schema (copied into r->arena), or NULL when the table's
 * schema cannot be had (unknown table, backend failure): relay then. */
typedef void (*schema_cb)(struct request *r, const struct key_schema *ks, void *arg);

void schema_setup(void);
void schema_teardown(void);
/* Gets the table's schema: at once when known, else after a DescribeTable. */
void schema_get(struct request *r, const char *table, size_t len, schema_cb cb, void *arg);
/* Called once every table's schema is had: ks[i] for names[i]; ks NULL when
 * one of them cannot be had (relay then). */
typedef void (*schema_all_cb)(struct request *r, const struct key_schema **ks, void *arg);
/* Gets the schemas of n tables (names: JSON strings), one after another. */
void schema_get_all(struct request *r, const struct json **names, int n, schema_all_cb cb,
                    void *arg);
/* The schema if known (copied into r->arena), else NULL; never calls the backend. */
const struct key_schema *schema_peek(struct request *r, const char *table, size_t len);
/* Learns from a TableDescription object (KeySchema, AttributeDefinitions). */
void schema_learn(const struct json *description);
void schema_forget(const char *table, size_t len);
void schema_forget_all(void);

#endif
