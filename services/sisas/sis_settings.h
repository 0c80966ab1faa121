/*  sis_settings — SISAS's settings at start and at run time.

    The keys are those of sis_config_schema (farfan-sisas --help): the
    same names serve the command line, FARFAN_SISAS_* variables, the
    config file and CONFIGURE. Some shape the process and are fixed at
    start (endpoints, table sizes, the vehicle heartbeat, tick_ms); the
    others can change at run time (sis_settings_runtime says which).

    CONFIGURE is atomic: every key=value is parsed and checked (type,
    bounds, cross-key rules) against a copy of the effective settings;
    only when all pass is the copy applied to the modules at once.
*/
#ifndef SIS_SETTINGS_H_INCLUDED
#define SIS_SETTINGS_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sis_server.h"

//  Cross-key rules (backpressure_threshold ≤ max_pending, a known fusion
//  method). 0, or -1 with the reason in err.
int
    sis_settings_check (const sis_config_t *config, char *err, size_t err_size);

//  Applies config's run-time settings to self's modules and makes it the
//  effective configuration (strings: fusion_method is replaced by a
//  static name, the others stay borrowed).
void
    sis_settings_apply (sis_server_t *self, const sis_config_t *config, uint64_t now_us);

//  Applies count key=value pairs atomically. Returns 0, or -1 with the
//  reason (naming the key and value) in err and nothing changed.
int
    sis_settings_configure (sis_server_t *self, char *const *keys, char *const *values,
                            size_t count, uint64_t now_us, char *err, size_t err_size);

//  True when key can change at run time.
bool
    sis_settings_runtime (const char *key);

//  The run-time keys, in table order: count, and each by index.
size_t
    sis_settings_count (void);
const char *
    sis_settings_key (size_t index);

//  The effective value of key as text (into out). -1 for an unknown key.
int
    sis_settings_format (const sis_config_t *config, const char *key, char *out, size_t size);

#endif
