#include "tr_log.h"

#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define LOG_LINE_MAX 2048

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static enum tr_log_level log_level = TR_LOG_INFO;
static enum tr_log_format log_format = TR_LOG_TEXT;
static tr_log_sink_fn log_sink;
static void *log_sink_arg;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void tr_log_set_level(enum tr_log_level level)
{
    log_level = level;
}

void tr_log_set_format(enum tr_log_format format)
{
    log_format = format;
}

void tr_log_set_sink(tr_log_sink_fn fn, void *arg)
{
    pthread_mutex_lock(&log_lock);
    log_sink = fn;
    log_sink_arg = arg;
    pthread_mutex_unlock(&log_lock);
}

bool tr_log_enabled(enum tr_log_level level)
{
    return level <= log_level;
}

bool tr_log_parse_level(const char *s, enum tr_log_level *out)
{
    for (int i = 0; i < 4; i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (enum tr_log_level)i;
            return true;
        }
    }
    return false;
}

/* Control bytes and backslashes are escaped so a client-supplied string can neither break a
 * line nor forge one. */
static void escape_into(char *dst, size_t cap, const char *src)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;

    for (const unsigned char *p = (const unsigned char *)src; *p && o + 5 < cap; p++) {
        if (*p < 0x20 || *p == 0x7f || *p == '\\') {
            dst[o++] = '\\';
            dst[o++] = 'x';
            dst[o++] = hex[*p >> 4];
            dst[o++] = hex[*p & 15];
        } else {
            dst[o++] = (char)*p;
        }
    }
    dst[o] = '\0';
}

static void format_time(char *buf, size_t cap)
{
    struct timespec ts;
    struct tm tm;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(buf, cap, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, cap - n, ".%03ldZ", ts.tv_nsec / 1000000);
}

static void emit(enum tr_log_level level, const char *line)
{
    pthread_mutex_lock(&log_lock);
    if (log_sink) {
        log_sink(log_sink_arg, level, line);
    } else {
        fputs(line, stderr);
        fputc('\n', stderr);
        fflush(stderr);
    }
    pthread_mutex_unlock(&log_lock);
}

void tr_log_msg(enum tr_log_level level, const char *func, const char *fmt, ...)
{
    char raw[LOG_LINE_MAX], msg[LOG_LINE_MAX], ts[40], line[LOG_LINE_MAX * 2];
    va_list ap;

    if (!tr_log_enabled(level))
        return;
    va_start(ap, fmt);
    vsnprintf(raw, sizeof(raw), fmt, ap);
    va_end(ap);
    format_time(ts, sizeof(ts));
    if (log_format == TR_LOG_JSON) {
        json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "time", ts, "level", level_names[level],
                              "func", func, "msg", raw);
        char *s = o ? json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
        emit(level, s ? s : "{\"level\":\"error\",\"msg\":\"log encoding failed\"}");
        free(s);
        json_decref(o);
        return;
    }
    escape_into(msg, sizeof(msg), raw);
    snprintf(line, sizeof(line), "%s %-5s %s: %s", ts, level_names[level], func, msg);
    emit(level, line);
}
