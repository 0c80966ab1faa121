#include "ff_log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static const char *s_level_names [] = { "error", "warn", "info", "debug", "trace" };
static const char *s_level_tags [] = { "ERROR", "WARN ", "INFO ", "DEBUG", "TRACE" };

static char s_service [64] = "farfan";
static atomic_int s_level = FF_LOG_INFO;

void
ff_log_init (const char *service, ff_log_level_t level)
{
    snprintf (s_service, sizeof s_service, "%s", service ? service : "farfan");
    atomic_store (&s_level, (int) level);
}

int
ff_log_level_parse (const char *text, ff_log_level_t *level)
{
    for (int i = FF_LOG_ERROR; i <= FF_LOG_TRACE; i++) {
        if (text && strcasecmp (text, s_level_names [i]) == 0) {
            *level = (ff_log_level_t) i;
            return 0;
        }
    }
    return -1;
}

const char *
ff_log_level_name (ff_log_level_t level)
{
    if (level < FF_LOG_ERROR || level > FF_LOG_TRACE)
        return "unknown";
    return s_level_names [level];
}

bool
ff_log_enabled (ff_log_level_t level)
{
    return (int) level <= atomic_load (&s_level);
}

void
ff_log (ff_log_level_t level, const char *peer, const char *correlation_id,
        const char *format, ...)
{
    if (!ff_log_enabled (level) || level < FF_LOG_ERROR || level > FF_LOG_TRACE)
        return;

    char message [1024];
    va_list args;
    va_start (args, format);
    int length = vsnprintf (message, sizeof message, format, args);
    va_end (args);
    if (length < 0)
        length = 0;
    size_t used = (size_t) length < sizeof message ? (size_t) length : sizeof message - 1;
    if (peer && *peer)
        used += (size_t) snprintf (message + used, sizeof message - used,
                                   " [peer=%.100s]", peer);
    if (used < sizeof message && correlation_id && *correlation_id)
        snprintf (message + used, sizeof message - used, " [cid=%.100s]", correlation_id);
    //  One event, one line: text from the network (ids, reasons) must not
    //  forge further log lines or send terminal control sequences.
    for (unsigned char *c = (unsigned char *) message; *c; c++)
        if (*c < 0x20 || *c == 0x7f)
            *c = ' ';

    struct timespec now;
    clock_gettime (CLOCK_REALTIME, &now);
    struct tm tm;
    gmtime_r (&now.tv_sec, &tm);
    char stamp [32];
    strftime (stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);

    FILE *stream = level <= FF_LOG_WARN ? stderr : stdout;
    fprintf (stream, "%s.%03ldZ %s %s: %s\n", stamp, now.tv_nsec / 1000000L,
             s_level_tags [level], s_service, message);
    fflush (stream);
}
