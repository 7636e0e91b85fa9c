/*
 * grant.h: per-table grants, judged once per request before its handler
 * runs, so a principal limited to some tables (a --credentials line that
 * lists them) never reaches another table through the cache or the backend.
 *
 * How a request's tables are matched with a principal's (docs/TRUST.md,
 * "Grants"): every table the request names (proto/resources.h, from
 * proto/grants.tsv) must be listed for the principal, in the spelling the
 * request uses: a plain name by a plain name, a table ARN (or the table of
 * an index, stream, backup, export or import ARN) by that table's ARN
 * written in full. A request that names no table (ListTables, ListBackups
 * without a TableName, ...) or one ddbx cannot read (a PartiQL statement of
 * another form) is refused to a principal limited to tables; DescribeEndpoints
 * and DescribeLimits, which reach no table, are allowed to everyone.
 */
#ifndef DDBX_HANDLER_GRANT_H
#define DDBX_HANDLER_GRANT_H

#include "handler/request.h"

/* DDBX_OK when r->principal may make request r (NULL: ddbx does not
 * authenticate, everything is allowed); else DDBX_ERR, and r was answered
 * AccessDeniedException (or, for a body that is not a JSON object,
 * SerializationException, DynamoDB's earlier answer). */
int handler_authorize(struct request *r);

#endif
