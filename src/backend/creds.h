/*
 * creds.h: ddbx's own AWS credentials and region, from the standard places:
 * AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN, else the
 * shared credentials file (AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials)
 * for AWS_PROFILE (or "default"); region from AWS_REGION, AWS_DEFAULT_REGION,
 * then the profile in AWS_CONFIG_FILE or ~/.aws/config.
 */
#ifndef DDBX_BACKEND_CREDS_H
#define DDBX_BACKEND_CREDS_H

struct aws_credentials {
    char *access_key;    /* owned; NULL when none were found */
    char *secret_key;    /* owned */
    char *session_token; /* owned; NULL without temporary credentials */
    char *source;        /* owned: "environment", "file <path> [profile]" (no secrets) */
};

/* Fills c from the environment and files. Returns DDBX_OK, or DDBX_ERR when no
 * complete key pair was found (c then holds NULLs). */
int creds_load(struct aws_credentials *c);
void creds_free(struct aws_credentials *c);
/* The region from the environment or the profile, or NULL (owned by caller). */
char *creds_region(void);
/* Looks `key` up in section `section` of INI file `path`; owned result or NULL. */
char *creds_ini_get(const char *path, const char *section, const char *key);

#endif
