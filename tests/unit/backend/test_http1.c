/*
 * test_http1.c: ddbx's own HTTP/1.1 client (backend/http1.c), chosen by
 * --backend-client auto for an http:// endpoint, through the transport cases
 * every client passes (transport_cases.c).
 */
#include "fixture.h"
#include "transport_cases.h"

int main(void)
{
    fx_client = "auto";
    return backend_transport_tests("http1", "http1");
}
