/*
 * config.h: the options table turned into a struct, and its parser.
 *
 * Precedence: defaults, then environment twins (DDBX_*), then flags. Flags are
 * `--name value` or `--name=value`; booleans also take `--name` / `--no-name`.
 */
#ifndef DDBX_CONFIG_CONFIG_H
#define DDBX_CONFIG_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum opt_type { OPT_STR, OPT_UINT, OPT_SIZE, OPT_DURATION, OPT_BOOL };

/* Storage per type: OPT_STR char * (owned), OPT_UINT/OPT_SIZE uint64_t,
 * OPT_DURATION uint64_t milliseconds, OPT_BOOL bool. */
#define OPT_CTYPE_OPT_STR char *
#define OPT_CTYPE_OPT_UINT uint64_t
#define OPT_CTYPE_OPT_SIZE uint64_t
#define OPT_CTYPE_OPT_DURATION uint64_t
#define OPT_CTYPE_OPT_BOOL bool

struct config {
#define OPTION(field, flag, env, type, dflt, help) OPT_CTYPE_##type field;
#include "config/options.def"
#undef OPTION
};

/* What config_parse found: options to run with (CONFIG_OK), an error, or a
 * request for a text instead of a run; the last are negative like libuv's
 * UV_EOF: not failures, but the caller does not go on to serve. */
enum config_result {
    CONFIG_OK = 0,
    CONFIG_ERROR = -1,        /* message in err */
    CONFIG_HELP = -2,         /* --help: usage was printed */
    CONFIG_VERSION = -3,      /* --version: version was printed */
    CONFIG_MARKDOWN = -4,     /* --help-markdown: the README's options table was printed */
    CONFIG_HELP_METRICS = -5, /* --help-metrics: nothing printed; the caller prints the
                               * metrics table (metrics_print_markdown), which config
                               * cannot see */
};

/* Fills `c` from defaults, `envp` (NULL: no environment) and argv.
 * Output for --help/--version goes to `out`. Returns a config_result. */
enum config_result config_parse(struct config *c, int argc, char **argv, char **envp, FILE *out,
                                char *err, size_t errlen);
/* Sets `c` to the defaults only (for unit tests of other modules). */
void config_defaults(struct config *c);
void config_free(struct config *c);
void config_print_help(FILE *out);
void config_print_markdown(FILE *out);

#endif
