/* messages.c: the authentication message table and failure composition. */
#include "auth/messages.h"

#include <stdarg.h>

static const struct auth_msg_desc table[] = {
#define AUTHMSG(id, error, nargs, source, message) {#id, DDB_##error, nargs, source, message},
#include "auth_messages.def"
#undef AUTHMSG
};

const struct auth_msg_desc *auth_msg_desc(enum auth_msg m)
{
    return &table[m];
}

void auth_failure_init(struct auth_failure *f)
{
    f->reason = AUTH_MSG_COUNT;
    f->error = DDB_ERROR_COUNT;
    buf_init(&f->message);
}

void auth_failure_free(struct auth_failure *f)
{
    buf_free(&f->message);
    f->reason = AUTH_MSG_COUNT;
    f->error = DDB_ERROR_COUNT;
}

static void append(struct auth_failure *f, enum auth_msg m, va_list ap)
{
    if (f->reason == AUTH_MSG_COUNT) {
        f->reason = m;
        f->error = table[m].error;
        buf_reset(&f->message);
    } else if (f->message.len) {
        buf_append_char(&f->message, ' ');
    }
    buf_vprintf(&f->message, table[m].format, ap);
}

int auth_fail(struct auth_failure *f, enum auth_msg m, ...)
{
    va_list ap;
    f->reason = AUTH_MSG_COUNT;
    va_start(ap, m);
    append(f, m, ap);
    va_end(ap);
    return -1;
}

void auth_fail_more(struct auth_failure *f, enum auth_msg m, ...)
{
    va_list ap;
    va_start(ap, m);
    append(f, m, ap);
    va_end(ap);
}

int auth_access_denied(struct auth_failure *f, const char *user, const char *action,
                       const char *resource)
{
    return auth_fail(f, AUTH_MSG_ACCESS_DENIED, user, action, resource);
}
