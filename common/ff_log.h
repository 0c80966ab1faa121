/*  ff_log — one line per event on stdout (debug, info) or stderr (warn, error).

    Line format (fields after the message only when known):
      2026-11-27T05:11:10.123Z INFO  factory: message [peer=ID] [cid=CORRELATION]
    Thread-safe: each line is written with one call under the stdio lock.
*/
#ifndef FF_LOG_H_INCLUDED
#define FF_LOG_H_INCLUDED

#include <stdbool.h>

typedef enum {
    FF_LOG_ERROR = 0,
    FF_LOG_WARN = 1,
    FF_LOG_INFO = 2,
    FF_LOG_DEBUG = 3,
    FF_LOG_TRACE = 4,
} ff_log_level_t;

//  Sets the service name printed on every line and the most verbose level
//  printed. Before it is called: service "farfan", level info.
void
    ff_log_init (const char *service, ff_log_level_t level);

//  Parses "error", "warn", "info", "debug", "trace" (case-insensitive).
//  Returns 0, or -1 when text is none of them.
int
    ff_log_level_parse (const char *text, ff_log_level_t *level);

const char *
    ff_log_level_name (ff_log_level_t level);

//  True when messages at level are printed (skip building costly messages).
bool
    ff_log_enabled (ff_log_level_t level);

//  Logs one event. peer and correlation_id may be NULL.
void
    ff_log (ff_log_level_t level, const char *peer, const char *correlation_id,
            const char *format, ...) __attribute__ ((format (printf, 4, 5)));

#define ff_log_error(...) ff_log (FF_LOG_ERROR, NULL, NULL, __VA_ARGS__)
#define ff_log_warn(...)  ff_log (FF_LOG_WARN, NULL, NULL, __VA_ARGS__)
#define ff_log_info(...)  ff_log (FF_LOG_INFO, NULL, NULL, __VA_ARGS__)
#define ff_log_debug(...) ff_log (FF_LOG_DEBUG, NULL, NULL, __VA_ARGS__)

#endif
