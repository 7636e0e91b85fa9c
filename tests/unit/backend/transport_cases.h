/*
 * transport_cases.h: the cases every backend HTTP client must pass (see
 * transport_cases.c), run by test_http1.c and test_curl.c.
 */
#ifndef DDBX_TESTS_BACKEND_TRANSPORT_CASES_H
#define DDBX_TESTS_BACKEND_TRANSPORT_CASES_H

/* Runs every case with the client fx_client asks for, which must come out
 * as backend_client_name() `expect`; returns the number of failures. */
int backend_transport_tests(const char *group, const char *expect);

#endif
