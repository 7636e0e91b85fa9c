/*
 * creds.c: the credential and region chain. The INI reader is the small
 * subset the AWS CLI writes ([section], key = value, # and ; comments); no
 * Debian library reads AWS's dialect of INI, so it is written here.
 */
#include "backend/creds.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/common.h"

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

char *creds_ini_get(const char *path, const char *section, const char *key)
{
    FILE *f = fopen(path, "r");
    if (!f) return NULL;
    char line[4096], *found = NULL;
    int in_section = 0;
    while (!found && fgets(line, sizeof(line), f)) {
        char *s = trim(line);
        if (*s == '#' || *s == ';' || *s == '\0') continue;
        if (*s == '[') {
            char *end = strchr(s, ']');
            if (end) *end = '\0';
            in_section = strcmp(trim(s + 1), section) == 0;
            continue;
        }
        char *eq = strchr(s, '=');
        if (!in_section || !eq) continue;
        *eq = '\0';
        if (strcmp(trim(s), key) == 0) found = xstrdup(trim(eq + 1));
    }
    fclose(f);
    return found;
}

static char *env_dup(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? xstrdup(v) : NULL;
}

static char *aws_file(const char *env, const char *leaf)
{
    const char *p = getenv(env);
    if (p && *p) return xstrdup(p);
    const char *home = getenv("HOME");
    struct buf b = BUF_INIT;
    buf_printf(&b, "%s/.aws/%s", home ? home : "", leaf);
    return b.data;
}

static const char *profile_name(void)
{
    const char *p = getenv("AWS_PROFILE");
    if (!p || !*p) p = getenv("AWS_DEFAULT_PROFILE");
    return p && *p ? p : "default";
}

int creds_load(struct aws_credentials *c)
{
    memset(c, 0, sizeof(*c));
    c->access_key = env_dup("AWS_ACCESS_KEY_ID");
    c->secret_key = env_dup("AWS_SECRET_ACCESS_KEY");
    if (c->access_key && c->secret_key) {
        c->session_token = env_dup("AWS_SESSION_TOKEN");
        c->source = xstrdup("environment");
        return DDBX_OK;
    }
    creds_free(c);
    char *path = aws_file("AWS_SHARED_CREDENTIALS_FILE", "credentials");
    const char *profile = profile_name();
    c->access_key = creds_ini_get(path, profile, "aws_access_key_id");
    c->secret_key = creds_ini_get(path, profile, "aws_secret_access_key");
    if (c->access_key && c->secret_key) {
        c->session_token = creds_ini_get(path, profile, "aws_session_token");
        struct buf b = BUF_INIT;
        buf_printf(&b, "file %s [%s]", path, profile);
        c->source = b.data;
        free(path);
        return DDBX_OK;
    }
    free(path);
    creds_free(c);
    return DDBX_ERR;
}

void creds_free(struct aws_credentials *c)
{
    free(c->access_key);
    free(c->secret_key);
    free(c->session_token);
    free(c->source);
    memset(c, 0, sizeof(*c));
}

char *creds_region(void)
{
    char *r = env_dup("AWS_REGION");
    if (!r) r = env_dup("AWS_DEFAULT_REGION");
    if (r) return r;
    char *path = aws_file("AWS_CONFIG_FILE", "config");
    const char *profile = profile_name();
    struct buf section = BUF_INIT;
    if (strcmp(profile, "default") == 0)
        buf_append_str(&section, "default");
    else
        buf_printf(&section, "profile %s", profile);
    r = creds_ini_get(path, section.data, "region");
    buf_free(&section);
    free(path);
    return r;
}
