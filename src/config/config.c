/*
 * config.c: parses options from the table in options.def. Each option's
 * flag, environment twin, default and help text live only in that table.
 */
#include "config/config.h"

#include <stdlib.h>
#include <string.h>

#include "util/common.h"
#include "util/units.h"
#include "version.h"

struct option_desc {
    const char *flag;
    const char *env;
    enum opt_type type;
    const char *dflt;
    const char *help;
    size_t offset;
};

static const struct option_desc options[] = {
#define OPTION(field, flag, env, type, dflt, help)                                                 \
    {flag, env, type, dflt, help, offsetof(struct config, field)},
#include "config/options.def"
#undef OPTION
};

static const char *type_names[] = {"STRING", "N", "SIZE", "DURATION", "BOOL"};

static int parse_bool(const char *v, bool *out)
{
    static const char *yes[] = {"1", "true", "yes", "on"}, *no[] = {"0", "false", "no", "off"};
    for (size_t i = 0; i < ARRAY_SIZE(yes); i++) {
        if (strcmp(v, yes[i]) == 0) return *out = true, DDBX_OK;
        if (strcmp(v, no[i]) == 0) return *out = false, DDBX_OK;
    }
    return DDBX_ERR;
}

static int parse_uint(const char *v, uint64_t *out)
{
    char *end;
    if (*v < '0' || *v > '9') return DDBX_ERR;
    unsigned long long n = strtoull(v, &end, 10);
    if (*end) return DDBX_ERR;
    *out = n;
    return DDBX_OK;
}

static int set_option(struct config *c, const struct option_desc *o, const char *v, char *err,
                      size_t errlen, const char *origin)
{
    void *field = (char *)c + o->offset;
    int rc = DDBX_OK;
    switch (o->type) {
    case OPT_STR:
        free(*(char **)field);
        *(char **)field = xstrdup(v);
        break;
    case OPT_UINT: rc = parse_uint(v, field); break;
    case OPT_SIZE: rc = units_parse_size(v, field); break;
    case OPT_DURATION: rc = units_parse_duration(v, field); break;
    case OPT_BOOL: rc = parse_bool(v, field); break;
    }
    if (rc < 0)
        snprintf(err, errlen, "%s%s: \"%s\" is not a valid %s", origin, o->flag, v,
                 type_names[o->type]);
    return rc;
}

static const struct option_desc *find_flag(const char *name, size_t len)
{
    for (size_t i = 0; i < ARRAY_SIZE(options); i++)
        if (strlen(options[i].flag) == len && strncmp(options[i].flag, name, len) == 0)
            return &options[i];
    return NULL;
}

void config_defaults(struct config *c)
{
    char err[256];
    memset(c, 0, sizeof(*c));
    for (size_t i = 0; i < ARRAY_SIZE(options); i++)
        if (set_option(c, &options[i], options[i].dflt, err, sizeof(err), "default ") < 0)
            abort(); /* a bad default is a bug in options.def */
}

static int parse_env(struct config *c, char **envp, char *err, size_t errlen)
{
    for (char **e = envp; e && *e; e++) {
        const char *eq = strchr(*e, '=');
        if (!eq || strncmp(*e, "DDBX_", 5) != 0) continue;
        for (size_t i = 0; i < ARRAY_SIZE(options); i++) {
            size_t n = strlen(options[i].env);
            if ((size_t)(eq - *e) == n && strncmp(*e, options[i].env, n) == 0 &&
                set_option(c, &options[i], eq + 1, err, errlen, "environment for --") < 0)
                return DDBX_ERR;
        }
    }
    return DDBX_OK;
}

static int parse_flag(struct config *c, int argc, char **argv, int *i, char *err, size_t errlen)
{
    const char *arg = argv[*i] + 2;
    const char *eq = strchr(arg, '=');
    size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
    const struct option_desc *o = find_flag(arg, len);
    if (!o && !eq && strncmp(arg, "no-", 3) == 0) {
        o = find_flag(arg + 3, len - 3);
        if (o && o->type == OPT_BOOL) return set_option(c, o, "false", err, errlen, "--");
        o = NULL;
    }
    if (!o) {
        snprintf(err, errlen, "unknown option --%.*s (see --help)", (int)len, arg);
        return DDBX_ERR;
    }
    if (eq) return set_option(c, o, eq + 1, err, errlen, "--");
    if (o->type == OPT_BOOL) return set_option(c, o, "true", err, errlen, "--");
    if (*i + 1 >= argc) {
        snprintf(err, errlen, "--%s needs a value", o->flag);
        return DDBX_ERR;
    }
    return set_option(c, o, argv[++*i], err, errlen, "--");
}

enum config_result config_parse(struct config *c, int argc, char **argv, char **envp, FILE *out,
                                char *err, size_t errlen)
{
    config_defaults(c);
    if (parse_env(c, envp, err, errlen) < 0) return CONFIG_ERROR;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            config_print_help(out);
            return CONFIG_HELP;
        }
        if (strcmp(argv[i], "--version") == 0) {
            fprintf(out, "ddbx %s\n", DDBX_VERSION);
            return CONFIG_VERSION;
        }
        if (strcmp(argv[i], "--help-markdown") == 0) {
            config_print_markdown(out);
            return CONFIG_MARKDOWN;
        }
        if (strcmp(argv[i], "--help-metrics") == 0) return CONFIG_HELP_METRICS;
        if (strncmp(argv[i], "--", 2) != 0) {
            snprintf(err, errlen, "unexpected argument \"%s\" (see --help)", argv[i]);
            return CONFIG_ERROR;
        }
        if (parse_flag(c, argc, argv, &i, err, errlen) < 0) return CONFIG_ERROR;
    }
    return CONFIG_OK;
}

void config_free(struct config *c)
{
    for (size_t i = 0; i < ARRAY_SIZE(options); i++)
        if (options[i].type == OPT_STR) {
            char **p = (char **)((char *)c + options[i].offset);
            free(*p);
            *p = NULL;
        }
}

void config_print_help(FILE *out)
{
    fprintf(out,
            "ddbx %s: a write-through cache server for Amazon DynamoDB\n\n"
            "usage: ddbx [--option value]...\n\n"
            "Sizes take 4MiB, 1GiB; durations take 500ms, 2s, 5m. Every option has an\n"
            "environment twin, used when the flag is absent.\n\n",
            DDBX_VERSION);
    for (size_t i = 0; i < ARRAY_SIZE(options); i++) {
        const struct option_desc *o = &options[i];
        fprintf(out, "  --%s %s\n      %s\n      env %s, default \"%s\"\n", o->flag,
                type_names[o->type], o->help, o->env, o->dflt);
    }
    fprintf(out, "  --help, --version, --help-markdown (the README's options table),\n"
                 "  --help-metrics (docs/metrics.md's tables)\n");
}

void config_print_markdown(FILE *out)
{
    fprintf(out, "| flag | environment | type | default | meaning |\n|---|---|---|---|---|\n");
    for (size_t i = 0; i < ARRAY_SIZE(options); i++) {
        const struct option_desc *o = &options[i];
        fprintf(out, "| `--%s` | `%s` | %s | %s%s%s | %s |\n", o->flag, o->env, type_names[o->type],
                *o->dflt ? "`" : "", *o->dflt ? o->dflt : "(none)", *o->dflt ? "`" : "", o->help);
    }
}
