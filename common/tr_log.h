/*
 * tr_log - process-wide logging: levels, text or JSON lines, the calling function's name.
 *
 * Log identifiers, never contents: no token, key, share, secret value or request body may be
 * passed here. Messages are escaped (control bytes become \xNN) so client-supplied strings cannot
 * forge lines. Output goes to stderr unless a sink is installed (tests capture lines with one).
 * Thread-safety: every call is safe from any thread; lines are written whole.
 */
#ifndef TR_LOG_H
#define TR_LOG_H

#include <stdbool.h>

enum tr_log_level { TR_LOG_ERROR = 0, TR_LOG_WARN = 1, TR_LOG_INFO = 2, TR_LOG_DEBUG = 3 };
enum tr_log_format { TR_LOG_TEXT = 0, TR_LOG_JSON = 1 };

/* A sink receives one complete, escaped, newline-free line. It must not call tr_log. */
typedef void (*tr_log_sink_fn)(void *arg, enum tr_log_level level, const char *line);

void tr_log_set_level(enum tr_log_level level);
void tr_log_set_format(enum tr_log_format format);
/* tr_log_set_sink - route lines to fn(arg, ...); NULL restores stderr. */
void tr_log_set_sink(tr_log_sink_fn fn, void *arg);
bool tr_log_enabled(enum tr_log_level level);

/* tr_log_parse_level - "error"|"warn"|"info"|"debug" into *out; false when unknown. */
bool tr_log_parse_level(const char *s, enum tr_log_level *out);

void tr_log_msg(enum tr_log_level level, const char *func, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define tr_log_error(...) tr_log_msg(TR_LOG_ERROR, __func__, __VA_ARGS__)
#define tr_log_warn(...)  tr_log_msg(TR_LOG_WARN, __func__, __VA_ARGS__)
#define tr_log_info(...)  tr_log_msg(TR_LOG_INFO, __func__, __VA_ARGS__)
#define tr_log_debug(...) tr_log_msg(TR_LOG_DEBUG, __func__, __VA_ARGS__)

#endif
