#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *g_component = "ledgerca";
static enum lca_log_level g_min = LCA_LOG_INFO;

void lca_log_init(const char *component)
{
    const char *lvl = getenv("LEDGERCA_LOG_LEVEL");

    g_component = component;
    if (lvl == NULL) {
        return;
    }
    g_min = strcmp(lvl, "debug") == 0  ? LCA_LOG_DEBUG
            : strcmp(lvl, "warn") == 0  ? LCA_LOG_WARN
            : strcmp(lvl, "error") == 0 ? LCA_LOG_ERROR
                                        : LCA_LOG_INFO;
}

void lca_log_quote(char *out, size_t cap, const char *s)
{
    size_t o = 0;

    if (cap < 3) {
        return;
    }
    out[o++] = '"';
    for (; *s != '\0' && o + 3 < cap; s++) {
        if (*s == '"' || *s == '\\') {
            out[o++] = '\\';
        }
        out[o++] = (*s == '\n' || *s == '\r') ? ' ' : *s;
    }
    out[o++] = '"';
    out[o] = '\0';
}

void lca_log(enum lca_log_level lvl, const char *msg, const char *fields_fmt, ...)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};
    char line[2048], fields[1024] = "", qmsg[600], ts[32];
    struct timespec now;
    struct tm tm;
    va_list ap;
    int n;

    if (lvl < g_min) {
        return;
    }
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
    if (fields_fmt != NULL) {
        va_start(ap, fields_fmt);
        vsnprintf(fields, sizeof(fields), fields_fmt, ap);
        va_end(ap);
    }
    lca_log_quote(qmsg, sizeof(qmsg), msg);
    n = snprintf(line, sizeof(line), "ts=%s.%03ldZ level=%s comp=%s msg=%s%s%s\n", ts,
                 now.tv_nsec / 1000000, names[lvl], g_component, qmsg, fields[0] ? " " : "",
                 fields);
    if (n > 0) {
        size_t len = (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1;
        if (write(STDERR_FILENO, line, len) < 0) {
            /* nowhere else to report it */
        }
    }
}

void lca_log_err(const char *msg, const struct lca_err *err)
{
    char q[600];

    lca_log_quote(q, sizeof(q), err->msg);
    lca_log(err->cls == LCA_ERR_BAD_INPUT ? LCA_LOG_WARN : LCA_LOG_ERROR, msg,
            "class=%s code=%s err=%s", lca_err_class_name(err->cls), err->code, q);
}
