/*
 * log.h: one line per event on stderr, with a level and the thread's name.
 *
 * Never pass a header value, a secret or a token to these functions: callers
 * log operation names, addresses and error codes only.
 */
#ifndef DDBX_UTIL_LOG_H
#define DDBX_UTIL_LOG_H

enum log_level { LOG_ERROR = 0, LOG_WARN, LOG_INFO, LOG_DEBUG };

/* Sets the threshold; DDBX_OK, or DDBX_ERR if `name` is not error|warn|info|debug. */
int log_set_level_name(const char *name);
void log_set_level(enum log_level level);
enum log_level log_level(void);
/* Names the calling thread in its log lines (copied; at most 15 characters). */
void log_set_thread_name(const char *name);

void log_write(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_write(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_write(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_write(LOG_INFO, __VA_ARGS__)
#define log_debug(...)                                                                             \
    do {                                                                                           \
        if (log_level() >= LOG_DEBUG) log_write(LOG_DEBUG, __VA_ARGS__);                           \
    } while (0)

#endif
