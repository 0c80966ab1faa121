/*  ff_config — settings from one declarative table per service.

    Precedence, highest first:
      1. command-line flag      --key VALUE, --key=VALUE (dashes or
                                underscores); booleans also --key, --no-key
      2. environment            FARFAN_<SERVICE>_<KEY>   (KEY upper-cased)
      3. config file            --config FILE or FARFAN_<SERVICE>_CONFIG;
                                lines `key = value`, `#` comments, values
                                optionally in double quotes
      4. the table's default
    Every value, defaults included, goes through the same parser, so a bad
    value is reported the same way wherever it came from: naming the key,
    the value and its source. Unknown flags and unknown file keys are
    errors too (a typo must not silently fall back to a default).

    Each table entry writes one field of the service's config struct:
      FF_CONFIG_STRING, FF_CONFIG_ENDPOINT -> char *   (owned; ff_config_free)
      FF_CONFIG_INT                        -> int64_t
      FF_CONFIG_DOUBLE                     -> double
      FF_CONFIG_BOOL                       -> bool
      FF_CONFIG_LOG_LEVEL                  -> int      (ff_log_level_t)
*/
#ifndef FF_CONFIG_H_INCLUDED
#define FF_CONFIG_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum {
    FF_CONFIG_STRING,
    FF_CONFIG_ENDPOINT,     // CZMQ endpoint list: [@|>]transport://address[,...]
    FF_CONFIG_INT,
    FF_CONFIG_DOUBLE,
    FF_CONFIG_BOOL,
    FF_CONFIG_LOG_LEVEL,
} ff_config_type_t;

typedef struct {
    const char *key;            // snake_case name
    ff_config_type_t type;
    size_t offset;              // offsetof the target field in the config struct
    const char *default_value;  // text, parsed like any other source
    double min;                 // numbers: inclusive bounds; strings and
    double max;                 //   endpoints: min 1 = must not be empty
    const char *help;           // one line
} ff_config_key_t;

typedef struct {
    const char *program;        // "farfan-factory" (usage line)
    const char *service;        // "factory": environment prefix FARFAN_FACTORY_
    const char *summary;        // one line shown by --help
    const ff_config_key_t *keys;
    size_t key_count;
} ff_config_schema_t;

typedef enum {
    FF_CONFIG_LOADED = 0,       // target filled; run
    FF_CONFIG_EXIT = 1,         // --help or --version printed to out; exit 0
    FF_CONFIG_ERROR = -1,       // err holds the reason; exit non-zero
} ff_config_result_t;

//  Fills target (a zeroed config struct) from defaults, the config file,
//  the environment and argv[1..argc-1], in that order of increasing
//  precedence. --help and --version print to out. On FF_CONFIG_ERROR,
//  err holds one line like:
//    max_msg_size: "12x" is not an integer (from environment FARFAN_FACTORY_MAX_MSG_SIZE)
//  Strings already stored are freed by ff_config_free in every case.
ff_config_result_t
    ff_config_load (const ff_config_schema_t *schema, void *target,
                    int argc, char **argv, FILE *out,
                    char *err, size_t err_size);

//  Frees the strings ff_config_load stored in target. Idempotent.
void
    ff_config_free (const ff_config_schema_t *schema, void *target);

//  Prints the usage: every key with its flag, default and environment name.
void
    ff_config_print_help (const ff_config_schema_t *schema, FILE *out);

//  Logs every effective setting at debug level, one per line.
void
    ff_config_log (const ff_config_schema_t *schema, const void *target);

//  Checks one endpoint list in CZMQ syntax. Returns 0, or -1 with the
//  reason in err.
int
    ff_config_check_endpoint (const char *value, char *err, size_t err_size);

#endif
