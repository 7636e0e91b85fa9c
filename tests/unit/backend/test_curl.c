/*
 * test_curl.c: the libcurl client (backend/curl.c), used for https://, for
 * endpoints behind a proxy and with --backend-client curl, through the
 * transport cases every client passes (transport_cases.c) on plain HTTP.
 */
#include "fixture.h"
#include "transport_cases.h"

int main(void)
{
    fx_client = "curl";
    return backend_transport_tests("curl", "curl");
}
