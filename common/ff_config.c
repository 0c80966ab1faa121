#include "ff_config.h"
#include "ff_log.h"
#include "farfan_build.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

//  Where a value came from, for error messages.
typedef struct {
    const char *kind;       // "default", "config file", "environment", "flag"
    char where [256];       // file:line, variable name or flag
} s_source_t;

static void
s_error (char *err, size_t err_size, const char *format, ...)
    __attribute__ ((format (printf, 3, 4)));

static void
s_error (char *err, size_t err_size, const char *format, ...)
{
    va_list args;
    va_start (args, format);
    vsnprintf (err, err_size, format, args);
    va_end (args);
}

static void *
s_field (void *target, const ff_config_key_t *key)
{
    return (char *) target + key->offset;
}

//  FARFAN_<SERVICE>_<KEY>, upper-cased.
static void
s_env_name (const ff_config_schema_t *schema, const char *key, char *out, size_t out_size)
{
    snprintf (out, out_size, "FARFAN_%s_%s", schema->service, key);
    for (char *c = out; *c; c++)
        *c = (char) toupper ((unsigned char) *c);
}

//  Flag spelling of a key: dashes instead of underscores.
static void
s_flag_name (const char *key, char *out, size_t out_size)
{
    snprintf (out, out_size, "--%s", key);
    for (char *c = out; *c; c++)
        if (*c == '_')
            *c = '-';
}

//  Compares a flag name (after the dashes) with a key, treating '-' and
//  '_' alike; name_length bytes of name are compared.
static bool
s_name_matches (const char *name, size_t name_length, const char *key)
{
    if (strlen (key) != name_length)
        return false;
    for (size_t i = 0; i < name_length; i++) {
        char a = name [i] == '-' ? '_' : name [i];
        if (a != key [i])
            return false;
    }
    return true;
}

static const ff_config_key_t *
s_find_key (const ff_config_schema_t *schema, const char *name, size_t name_length)
{
    for (size_t i = 0; i < schema->key_count; i++)
        if (s_name_matches (name, name_length, schema->keys [i].key))
            return &schema->keys [i];
    return NULL;
}

int
ff_config_check_endpoint (const char *value, char *err, size_t err_size)
{
    static const char *transports [] = { "tcp://", "ipc://", "inproc://", "ws://", "wss://" };
    const char *cursor = value;
    while (true) {
        const char *end = strchr (cursor, ',');
        size_t length = end ? (size_t) (end - cursor) : strlen (cursor);
        const char *item = cursor;
        if (length > 0 && (*item == '@' || *item == '>')) {
            item++;
            length--;
        }
        bool known = false;
        for (size_t i = 0; i < sizeof transports / sizeof transports [0]; i++) {
            size_t prefix = strlen (transports [i]);
            if (length > prefix && strncmp (item, transports [i], prefix) == 0) {
                known = true;
                break;
            }
        }
        if (!known) {
            s_error (err, err_size, "\"%.*s\" is not an endpoint like @tcp://*:5550 "
                     "or >tcp://host:5551", (int) (end ? (size_t) (end - cursor) : strlen (cursor)),
                     cursor);
            return -1;
        }
        if (!end)
            return 0;
        cursor = end + 1;
    }
}

//  Parses text into the key's field. On failure writes "is not ..." to
//  reason and returns -1; the field is unchanged.
static int
s_parse_value (const ff_config_key_t *key, const char *text, void *target,
               char *reason, size_t reason_size)
{
    void *field = s_field (target, key);
    switch (key->type) {
        case FF_CONFIG_STRING:
        case FF_CONFIG_ENDPOINT: {
            if (key->min >= 1 && *text == '\0') {
                s_error (reason, reason_size, "must not be empty");
                return -1;
            }
            if (key->type == FF_CONFIG_ENDPOINT && *text
            &&  ff_config_check_endpoint (text, reason, reason_size) != 0)
                return -1;
            char *copy = strdup (text);
            if (!copy) {
                s_error (reason, reason_size, "could not be stored (out of memory)");
                return -1;
            }
            char **slot = (char **) field;
            free (*slot);
            *slot = copy;
            return 0;
        }
        case FF_CONFIG_INT: {
            errno = 0;
            char *end = NULL;
            long long value = strtoll (text, &end, 10);
            if (*text == '\0' || *end != '\0' || errno == ERANGE) {
                s_error (reason, reason_size, "is not an integer");
                return -1;
            }
            if ((double) value < key->min || (double) value > key->max) {
                s_error (reason, reason_size, "is outside %.0f..%.0f", key->min, key->max);
                return -1;
            }
            *(int64_t *) field = (int64_t) value;
            return 0;
        }
        case FF_CONFIG_DOUBLE: {
            errno = 0;
            char *end = NULL;
            double value = strtod (text, &end);
            if (*text == '\0' || *end != '\0' || errno == ERANGE || !isfinite (value)) {
                s_error (reason, reason_size, "is not a number");
                return -1;
            }
            if (value < key->min || value > key->max) {
                s_error (reason, reason_size, "is outside %g..%g", key->min, key->max);
                return -1;
            }
            *(double *) field = value;
            return 0;
        }
        case FF_CONFIG_BOOL: {
            static const char *yes [] = { "true", "yes", "on", "1" };
            static const char *no [] = { "false", "no", "off", "0" };
            for (size_t i = 0; i < 4; i++) {
                if (strcasecmp (text, yes [i]) == 0) {
                    *(bool *) field = true;
                    return 0;
                }
                if (strcasecmp (text, no [i]) == 0) {
                    *(bool *) field = false;
                    return 0;
                }
            }
            s_error (reason, reason_size, "is not a boolean (true/false, yes/no, on/off, 1/0)");
            return -1;
        }
        case FF_CONFIG_LOG_LEVEL: {
            ff_log_level_t level;
            if (ff_log_level_parse (text, &level) != 0) {
                s_error (reason, reason_size, "is not a log level (error, warn, info, debug, trace)");
                return -1;
            }
            *(int *) field = (int) level;
            return 0;
        }
    }
    s_error (reason, reason_size, "has an unknown setting type");
    return -1;
}

static int
s_apply (const ff_config_key_t *key, const char *text, void *target,
         const s_source_t *source, char *err, size_t err_size)
{
    char reason [256];
    if (s_parse_value (key, text, target, reason, sizeof reason) == 0)
        return 0;
    s_error (err, err_size, "%s: \"%.200s\" %s (from %s%s%s)", key->key, text, reason,
             source->kind, *source->where ? " " : "", source->where);
    return -1;
}

//  Trims spaces in place; returns the trimmed start.
static char *
s_trim (char *text)
{
    while (isspace ((unsigned char) *text))
        text++;
    char *end = text + strlen (text);
    while (end > text && isspace ((unsigned char) end [-1]))
        *--end = '\0';
    return text;
}

static int
s_load_file (const ff_config_schema_t *schema, const char *path, void *target,
             char *err, size_t err_size)
{
    FILE *file = fopen (path, "r");
    if (!file) {
        s_error (err, err_size, "config file %s: %s", path, strerror (errno));
        return -1;
    }
    int rc = 0;
    char *line = NULL;
    size_t capacity = 0;
    unsigned line_number = 0;
    while (getline (&line, &capacity, file) != -1) {
        line_number++;
        char *text = s_trim (line);
        if (*text == '\0' || *text == '#')
            continue;
        char *equals = strchr (text, '=');
        if (!equals) {
            s_error (err, err_size, "config file %s line %u: expected `key = value`",
                     path, line_number);
            rc = -1;
            break;
        }
        *equals = '\0';
        char *name = s_trim (text);
        char *value = s_trim (equals + 1);
        size_t value_length = strlen (value);
        if (value_length >= 2 && value [0] == '"' && value [value_length - 1] == '"') {
            value [value_length - 1] = '\0';
            value++;
        }
        const ff_config_key_t *key = s_find_key (schema, name, strlen (name));
        if (!key) {
            s_error (err, err_size, "config file %s line %u: unknown key \"%.100s\"",
                     path, line_number, name);
            rc = -1;
            break;
        }
        s_source_t source = { "config file", "" };
        snprintf (source.where, sizeof source.where, "%s line %u", path, line_number);
        if (s_apply (key, value, target, &source, err, err_size) != 0) {
            rc = -1;
            break;
        }
    }
    free (line);
    fclose (file);
    return rc;
}

//  Finds --config FILE / --config=FILE in argv. NULL when absent.
static const char *
s_config_flag (int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp (argv [i], "--config") == 0 && i + 1 < argc)
            return argv [i + 1];
        if (strncmp (argv [i], "--config=", 9) == 0)
            return argv [i] + 9;
    }
    return NULL;
}

static int
s_load_flags (const ff_config_schema_t *schema, int argc, char **argv, void *target,
              char *err, size_t err_size)
{
    for (int i = 1; i < argc; i++) {
        const char *arg = argv [i];
        if (strncmp (arg, "--", 2) != 0) {
            s_error (err, err_size, "unexpected argument \"%.100s\" (settings are --key value)", arg);
            return -1;
        }
        const char *name = arg + 2;
        const char *equals = strchr (name, '=');
        size_t name_length = equals ? (size_t) (equals - name) : strlen (name);
        if (s_name_matches (name, name_length, "config")) {
            if (!equals && ++i >= argc) {   //  already loaded; skip its value
                s_error (err, err_size, "flag --config needs a file name");
                return -1;
            }
            continue;
        }
        const ff_config_key_t *key = s_find_key (schema, name, name_length);
        const char *value = equals ? equals + 1 : NULL;
        if (!key && !equals && strncmp (name, "no-", 3) == 0) {
            key = s_find_key (schema, name + 3, name_length - 3);
            if (key && key->type == FF_CONFIG_BOOL)
                value = "false";
            else
                key = NULL;
        }
        if (!key) {
            s_error (err, err_size, "unknown setting \"%.100s\" (see --help)", arg);
            return -1;
        }
        if (!value) {
            if (key->type == FF_CONFIG_BOOL)
                value = "true";
            else
            if (i + 1 < argc)
                value = argv [++i];
            else {
                s_error (err, err_size, "%s: flag --%.*s needs a value", key->key,
                         (int) name_length, name);
                return -1;
            }
        }
        s_source_t source = { "flag", "" };
        snprintf (source.where, sizeof source.where, "--%.*s", (int) name_length, name);
        if (s_apply (key, value, target, &source, err, err_size) != 0)
            return -1;
    }
    return 0;
}

static bool
s_has_flag (int argc, char **argv, const char *flag, const char *short_flag)
{
    for (int i = 1; i < argc; i++)
        if (strcmp (argv [i], flag) == 0 || (short_flag && strcmp (argv [i], short_flag) == 0))
            return true;
    return false;
}

ff_config_result_t
ff_config_load (const ff_config_schema_t *schema, void *target,
                int argc, char **argv, FILE *out, char *err, size_t err_size)
{
    if (s_has_flag (argc, argv, "--help", "-h")) {
        ff_config_print_help (schema, out);
        return FF_CONFIG_EXIT;
    }
    if (s_has_flag (argc, argv, "--version", NULL)) {
        fprintf (out, "%s %s\n", schema->program, FARFAN_VERSION);
        return FF_CONFIG_EXIT;
    }
    s_source_t source = { "default", "" };
    for (size_t i = 0; i < schema->key_count; i++) {
        const ff_config_key_t *key = &schema->keys [i];
        if (s_apply (key, key->default_value, target, &source, err, err_size) != 0)
            return FF_CONFIG_ERROR;
    }
    const char *path = s_config_flag (argc, argv);
    char env_name [128];
    if (!path) {
        s_env_name (schema, "config", env_name, sizeof env_name);
        path = getenv (env_name);
    }
    if (path && *path && s_load_file (schema, path, target, err, err_size) != 0)
        return FF_CONFIG_ERROR;

    source.kind = "environment";
    for (size_t i = 0; i < schema->key_count; i++) {
        const ff_config_key_t *key = &schema->keys [i];
        s_env_name (schema, key->key, env_name, sizeof env_name);
        const char *value = getenv (env_name);
        if (!value)
            continue;
        snprintf (source.where, sizeof source.where, "%s", env_name);
        if (s_apply (key, value, target, &source, err, err_size) != 0)
            return FF_CONFIG_ERROR;
    }
    if (s_load_flags (schema, argc, argv, target, err, err_size) != 0)
        return FF_CONFIG_ERROR;
    return FF_CONFIG_LOADED;
}

void
ff_config_free (const ff_config_schema_t *schema, void *target)
{
    for (size_t i = 0; i < schema->key_count; i++) {
        const ff_config_key_t *key = &schema->keys [i];
        if (key->type == FF_CONFIG_STRING || key->type == FF_CONFIG_ENDPOINT) {
            char **slot = (char **) s_field (target, key);
            free (*slot);
            *slot = NULL;
        }
    }
}

static const char *
s_type_hint (ff_config_type_t type)
{
    switch (type) {
        case FF_CONFIG_STRING:    return "TEXT";
        case FF_CONFIG_ENDPOINT:  return "ENDPOINT";
        case FF_CONFIG_INT:       return "INT";
        case FF_CONFIG_DOUBLE:    return "NUMBER";
        case FF_CONFIG_BOOL:      return "BOOL";
        case FF_CONFIG_LOG_LEVEL: return "LEVEL";
    }
    return "VALUE";
}

void
ff_config_print_help (const ff_config_schema_t *schema, FILE *out)
{
    char env_name [128];
    fprintf (out, "Usage: %s [--KEY VALUE]... [--config FILE]\n", schema->program);
    if (schema->summary)
        fprintf (out, "%s\n", schema->summary);
    fprintf (out, "\nSettings, by precedence: flag > environment > config file > default.\n\n");
    for (size_t i = 0; i < schema->key_count; i++) {
        const ff_config_key_t *key = &schema->keys [i];
        char flag [96];
        s_flag_name (key->key, flag, sizeof flag);
        s_env_name (schema, key->key, env_name, sizeof env_name);
        fprintf (out, "  %s %s\n      %s\n      default: \"%s\"   environment: %s\n",
                 flag, s_type_hint (key->type), key->help, key->default_value, env_name);
    }
    s_env_name (schema, "config", env_name, sizeof env_name);
    fprintf (out, "  --config FILE\n      read settings from FILE (lines `key = value`, # comments)\n"
             "      default: none   environment: %s\n", env_name);
    fprintf (out, "  --help, --version\n");
}

void
ff_config_log (const ff_config_schema_t *schema, const void *target)
{
    if (!ff_log_enabled (FF_LOG_DEBUG))
        return;
    for (size_t i = 0; i < schema->key_count; i++) {
        const ff_config_key_t *key = &schema->keys [i];
        const void *field = (const char *) target + key->offset;
        switch (key->type) {
            case FF_CONFIG_STRING:
            case FF_CONFIG_ENDPOINT:
                ff_log_debug ("config %s = \"%s\"", key->key,
                              *(char * const *) field ? *(char * const *) field : "");
                break;
            case FF_CONFIG_INT:
                ff_log_debug ("config %s = %lld", key->key, (long long) *(const int64_t *) field);
                break;
            case FF_CONFIG_DOUBLE:
                ff_log_debug ("config %s = %g", key->key, *(const double *) field);
                break;
            case FF_CONFIG_BOOL:
                ff_log_debug ("config %s = %s", key->key, *(const bool *) field ? "true" : "false");
                break;
            case FF_CONFIG_LOG_LEVEL:
                ff_log_debug ("config %s = %s", key->key,
                              ff_log_level_name ((ff_log_level_t) *(const int *) field));
                break;
        }
    }
}
