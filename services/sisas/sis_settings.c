/*  sis_settings — see sis_settings.h. */
#include "sis_settings.h"
#include "sis_core.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

//  Keys CONFIGURE may change, in the order CONFIGURE reports them.
static const char *s_runtime_keys [] = {
    "ingest_burst", "control_interval_ms", "source_idle_ms",
    "fusion_enabled", "fusion_window_ms", "fusion_method", "fusion_max_groups",
    "storm_enabled", "rate_limit", "storm_exit_ratio", "storm_hold_ms", "storm_burst_ms",
    "backpressure_enabled", "backpressure_threshold", "backpressure_exit_ratio", "max_pending",
    "routing_enabled", "success_floor", "quarantine_ms", "min_samples", "routing_alpha",
    "latency_ref_ms", "max_attempts",
    "prediction_enabled", "prediction_alpha",
};

#define S_RUNTIME_COUNT (sizeof s_runtime_keys / sizeof s_runtime_keys [0])

bool
sis_settings_runtime (const char *key)
{
    for (size_t i = 0; i < S_RUNTIME_COUNT; i++)
        if (strcmp (s_runtime_keys [i], key) == 0)
            return true;
    return false;
}

size_t
sis_settings_count (void)
{
    return S_RUNTIME_COUNT;
}

const char *
sis_settings_key (size_t index)
{
    return index < S_RUNTIME_COUNT ? s_runtime_keys [index] : NULL;
}

static const ff_config_key_t *
s_key (const char *name)
{
    for (size_t i = 0; i < sis_config_schema.key_count; i++)
        if (strcmp (sis_config_schema.keys [i].key, name) == 0)
            return &sis_config_schema.keys [i];
    return NULL;
}

int
sis_settings_check (const sis_config_t *config, char *err, size_t err_size)
{
    sis_fusion_method_t method;
    if (!config->fusion_method || sis_fusion_method_parse (config->fusion_method, &method) != 0) {
        snprintf (err, err_size, "fusion_method: \"%s\" is not a method (max, corroborate)",
                  config->fusion_method ? config->fusion_method : "");
        return -1;
    }
    if (config->backpressure_threshold > config->max_pending) {
        snprintf (err, err_size, "backpressure_threshold: %" PRId64 " exceeds max_pending %" PRId64,
                  config->backpressure_threshold, config->max_pending);
        return -1;
    }
    return 0;
}

void
sis_settings_apply (sis_server_t *self, const sis_config_t *config, uint64_t now_us)
{
    sis_config_t old = self->config;
    self->config = *config;
    sis_fusion_method_t method = SIS_FUSION_MAX;
    sis_fusion_method_parse (config->fusion_method, &method);
    self->config.fusion_method = (char *) sis_fusion_method_name (method);

    //  Sources stay at least two fusion windows (groups name them).
    uint64_t idle_us = (uint64_t) config->source_idle_ms * 1000;
    if (idle_us < (uint64_t) config->fusion_window_ms * 2000)
        idle_us = (uint64_t) config->fusion_window_ms * 2000;
    sis_sources_set_idle (self->sources, idle_us);

    sis_fusion_set_window (self->fusion, (uint64_t) config->fusion_window_ms * 1000);
    sis_fusion_set_method (self->fusion, method);
    sis_fusion_set_max_groups (self->fusion, (size_t) config->fusion_max_groups);
    if (old.fusion_enabled && !config->fusion_enabled)
        sis_fusion_close_all (self->fusion);

    sis_storm_config_t storm = {
        .enabled = config->storm_enabled,
        .rate_limit = config->rate_limit,
        .exit_ratio = config->storm_exit_ratio,
        .hold_us = (uint64_t) config->storm_hold_ms * 1000,
        .burst_us = (uint64_t) config->storm_burst_ms * 1000,
    };
    bool was_storm = false;
    if (self->storm) {
        sis_storm_stats_t stats;
        sis_storm_stats (self->storm, now_us, &stats);
        was_storm = stats.active;
        sis_storm_configure (self->storm, &storm, now_us);
        sis_storm_stats (self->storm, now_us, &stats);
        if (was_storm && !stats.active) {
            sis_storm_take_change (self->storm);
            sis_server_publish_throttle (self, now_us);
        }
    }

    sis_backpressure_config_t backpressure = {
        .enabled = config->backpressure_enabled,
        .threshold = (uint64_t) config->backpressure_threshold,
        .exit_ratio = config->backpressure_exit_ratio,
        .max_pending = (uint64_t) config->max_pending,
    };
    if (sis_backpressure_configure (&self->backpressure, &backpressure))
        sis_server_publish_backpressure (self, now_us);

    sis_vehicles_config_t routing = {
        .enabled = config->routing_enabled,
        .success_floor = config->success_floor,
        .quarantine_us = (uint64_t) config->quarantine_ms * 1000,
        .min_samples = (uint32_t) config->min_samples,
        .alpha = config->routing_alpha,
        .latency_ref_ms = config->latency_ref_ms,
        .max_attempts = (uint32_t) config->max_attempts,
    };
    sis_vehicles_set_max_pending (self->vehicles, (size_t) config->max_pending);
    sis_vehicles_configure (self->vehicles, &routing, now_us);

    sis_predict_set_enabled (self->predict, config->prediction_enabled);
    sis_predict_set_alpha (self->predict, config->prediction_alpha);
    sis_server_check_backpressure (self, now_us);
}

//  Parses text into the field of key in config, like ff_config does.
//  0, or -1 with the reason in err.
static int
s_parse (const ff_config_key_t *key, const char *text, sis_config_t *config,
         char *err, size_t err_size)
{
    void *field = (char *) config + key->offset;
    switch (key->type) {
        case FF_CONFIG_INT: {
            errno = 0;
            char *end = NULL;
            long long value = strtoll (text, &end, 10);
            if (*text == '\0' || *end != '\0' || errno == ERANGE) {
                snprintf (err, err_size, "%s: \"%s\" is not an integer", key->key, text);
                return -1;
            }
            if ((double) value < key->min || (double) value > key->max) {
                snprintf (err, err_size, "%s: \"%s\" is outside %.0f..%.0f", key->key, text,
                          key->min, key->max);
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
                snprintf (err, err_size, "%s: \"%s\" is not a number", key->key, text);
                return -1;
            }
            if (value < key->min || value > key->max) {
                snprintf (err, err_size, "%s: \"%s\" is outside %g..%g", key->key, text,
                          key->min, key->max);
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
            snprintf (err, err_size, "%s: \"%s\" is not a boolean (true/false, yes/no, on/off, 1/0)",
                      key->key, text);
            return -1;
        }
        case FF_CONFIG_STRING: {
            //  The only run-time string is fusion_method.
            sis_fusion_method_t method;
            if (sis_fusion_method_parse (text, &method) != 0) {
                snprintf (err, err_size, "%s: \"%s\" is not a method (max, corroborate)",
                          key->key, text);
                return -1;
            }
            *(char **) field = (char *) sis_fusion_method_name (method);
            return 0;
        }
        default:
            snprintf (err, err_size, "%s: cannot be changed at run time", key->key);
            return -1;
    }
}

int
sis_settings_configure (sis_server_t *self, char *const *keys, char *const *values,
                        size_t count, uint64_t now_us, char *err, size_t err_size)
{
    sis_config_t config = self->config;
    for (size_t i = 0; i < count; i++) {
        const ff_config_key_t *key = s_key (keys [i]);
        if (!key) {
            snprintf (err, err_size, "%s: unknown setting", keys [i]);
            return -1;
        }
        if (!sis_settings_runtime (keys [i])) {
            snprintf (err, err_size, "%s: fixed at start (restart farfan-sisas to change it)",
                      keys [i]);
            return -1;
        }
        if (s_parse (key, values [i], &config, err, err_size) != 0)
            return -1;
    }
    if (sis_settings_check (&config, err, err_size) != 0)
        return -1;
    sis_settings_apply (self, &config, now_us);
    return 0;
}

int
sis_settings_format (const sis_config_t *config, const char *name, char *out, size_t size)
{
    const ff_config_key_t *key = s_key (name);
    if (!key)
        return -1;
    const void *field = (const char *) config + key->offset;
    switch (key->type) {
        case FF_CONFIG_INT:
            snprintf (out, size, "%" PRId64, *(const int64_t *) field);
            break;
        case FF_CONFIG_DOUBLE:
            snprintf (out, size, "%.15g", *(const double *) field);
            break;
        case FF_CONFIG_BOOL:
            snprintf (out, size, "%s", *(const bool *) field ? "true" : "false");
            break;
        case FF_CONFIG_STRING:
        case FF_CONFIG_ENDPOINT: {
            const char *text = *(char *const *) field;
            snprintf (out, size, "%s", text ? text : "");
            break;
        }
        case FF_CONFIG_LOG_LEVEL:
            snprintf (out, size, "%d", *(const int *) field);
            break;
    }
    return 0;
}
