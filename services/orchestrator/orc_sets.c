/*  orc_sets — see orc_sets.h.

    Loaded sets live in one list, most recently used first; the default set
    is not in it (it is never evicted). A set is found by digest after each
    load: a fresh load identical to a loaded set is dropped for it.
*/
#include "orc_sets.h"
#include "ff_log.h"

#include <czmq.h>
#include <string.h>

//  Load errors kept when loading a named set (the first ones are reported).
#define S_ERRORS_KEPT 8

struct orc_set {
    fac_contract_set_t *contracts;  // owned
    char digest [72];               // of contracts, fixed once loaded
    size_t refs;                    // runs holding it
};

struct orc_sets {
    orc_set_t *fallback;            // the default set (contracts_dir)
    char *sets_dir;                 // where names resolve; "" = names refused
    size_t cache_size;              // sets held by no run kept loaded
    const fac_method_env_t *env;    // validation (borrowed)
    zlistx_t *loaded;               // orc_set_t *, most recently used first
};

static orc_set_t *
s_set_new (fac_contract_set_t *contracts)
{
    orc_set_t *set = (orc_set_t *) zmalloc (sizeof (orc_set_t));
    set->contracts = contracts;
    snprintf (set->digest, sizeof set->digest, "%s", fac_contract_set_digest (contracts));
    return set;
}

static void
s_set_free (orc_set_t **set_p)
{
    if (*set_p) {
        fac_contract_set_destroy (&(*set_p)->contracts);
        free (*set_p);
        *set_p = NULL;
    }
}

orc_sets_t *
orc_sets_new (const char *default_dir, const char *sets_dir, size_t cache_size,
              const fac_method_env_t *env, char *err, size_t err_size)
{
    fac_contract_set_t *contracts = fac_contract_set_new (env);
    if (default_dir && *default_dir) {
        fac_load_report_t report;
        fac_load_report_init (&report, 64);
        int loaded = fac_contract_set_load_dir (contracts, default_dir, &report);
        if (loaded < 0) {
            snprintf (err, err_size, "contracts_dir %s cannot be read", default_dir);
            fac_load_report_free (&report);
            fac_contract_set_destroy (&contracts);
            return NULL;
        }
        for (size_t i = 0; i < report.count && i < report.capacity; i++)
            ff_log_warn ("invalid contract %s: %s: %s", report.errors [i].file,
                         report.errors [i].field, report.errors [i].reason);
        ff_log_info ("loaded %d contracts from %s (%zu invalid), set %s", loaded, default_dir,
                     report.count, fac_contract_set_digest (contracts));
        fac_load_report_free (&report);
    }
    orc_sets_t *self = (orc_sets_t *) zmalloc (sizeof (orc_sets_t));
    self->fallback = s_set_new (contracts);
    self->fallback->refs = 1;       //  the sets' own: never released
    self->sets_dir = strdup (sets_dir ? sets_dir : "");
    self->cache_size = cache_size;
    self->env = env;
    self->loaded = zlistx_new ();
    return self;
}

void
orc_sets_destroy (orc_sets_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    orc_sets_t *self = *self_p;
    orc_set_t *set;
    while ((set = (orc_set_t *) zlistx_first (self->loaded))) {
        zlistx_delete (self->loaded, zlistx_cursor (self->loaded));
        s_set_free (&set);
    }
    zlistx_destroy (&self->loaded);
    s_set_free (&self->fallback);
    free (self->sets_dir);
    free (self);
    *self_p = NULL;
}

static bool
s_name_valid (const char *name)
{
    if (!*name || streq (name, ".") || streq (name, ".."))
        return false;
    for (const char *c = name; *c; c++)
        if (!((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9')
              || *c == '.' || *c == '_' || *c == '-'))
            return false;
    return true;
}

int
orc_sets_resolve (orc_sets_t *self, const char *spec, char *location, size_t location_size,
                  char *err, size_t err_size)
{
    if (!spec || !*spec) {
        snprintf (location, location_size, "%s", "");
        return 0;
    }
    if (*spec == '/') {
        if (strlen (spec) >= location_size) {
            snprintf (err, err_size, "contract set path is longer than %zu bytes", location_size - 1);
            return -1;
        }
        snprintf (location, location_size, "%s", spec);
        return 0;
    }
    if (!s_name_valid (spec)) {
        snprintf (err, err_size, "contract set \"%.200s\" is neither a name ([A-Za-z0-9._-]+, "
                  "not . or ..) nor an absolute directory path", spec);
        return -1;
    }
    if (!*self->sets_dir) {
        snprintf (err, err_size, "contract set \"%.200s\": named sets need the orchestrator's "
                  "contract_sets_dir, which is not configured (give an absolute directory path)",
                  spec);
        return -1;
    }
    int n = snprintf (location, location_size, "%s/%s", self->sets_dir, spec);
    if (n < 0 || (size_t) n >= location_size) {
        snprintf (err, err_size, "contract set path %s/%s is too long", self->sets_dir, spec);
        return -1;
    }
    return 0;
}

//  Drops the least recently used sets no run holds beyond the cache size.
static void
s_evict (orc_sets_t *self)
{
    size_t idle = 0;
    for (orc_set_t *set = (orc_set_t *) zlistx_first (self->loaded); set;
         set = (orc_set_t *) zlistx_next (self->loaded))
        idle += set->refs == 0;
    orc_set_t *set = (orc_set_t *) zlistx_last (self->loaded);
    while (set && idle > self->cache_size) {
        void *handle = zlistx_cursor (self->loaded);
        orc_set_t *previous = (orc_set_t *) zlistx_prev (self->loaded);
        if (set->refs == 0) {
            zlistx_delete (self->loaded, handle);
            s_set_free (&set);
            idle--;
        }
        set = previous;
    }
}

orc_set_t *
orc_sets_acquire (orc_sets_t *self, const char *location, char *err, size_t err_size)
{
    if (!location || !*location) {
        self->fallback->refs++;
        return self->fallback;
    }
    fac_contract_set_t *contracts = fac_contract_set_new (self->env);
    fac_load_report_t report;
    fac_load_report_init (&report, S_ERRORS_KEPT);
    int loaded = fac_contract_set_load_dir (contracts, location, &report);
    if (loaded < 0 || report.count > 0) {
        const fac_load_error_t *first = report.count && report.capacity && report.errors
                                     ? &report.errors [0] : NULL;
        if (loaded < 0)
            snprintf (err, err_size, "contract set %s cannot be read: %s", location,
                      first ? first->reason : "no such directory");
        else
            snprintf (err, err_size, "contract set %s: %zu invalid contract definition%s; "
                      "first: %s%s%s: %s", location, report.count, report.count == 1 ? "" : "s",
                      first ? first->file : "?", first && *first->field ? ": " : "",
                      first ? first->field : "", first ? first->reason : "?");
        fac_load_report_free (&report);
        fac_contract_set_destroy (&contracts);
        return NULL;
    }
    fac_load_report_free (&report);
    if (loaded == 0) {
        snprintf (err, err_size, "contract set %s holds no contracts (*.json)", location);
        fac_contract_set_destroy (&contracts);
        return NULL;
    }
    const char *digest = fac_contract_set_digest (contracts);
    orc_set_t *set = NULL;
    if (streq (digest, self->fallback->digest))
        set = self->fallback;
    for (orc_set_t *item = (orc_set_t *) zlistx_first (self->loaded); item && !set;
         item = (orc_set_t *) zlistx_next (self->loaded))
        if (streq (item->digest, digest)) {
            set = item;
            zlistx_move_start (self->loaded, zlistx_cursor (self->loaded));
        }
    if (set)
        fac_contract_set_destroy (&contracts);      //  shared: identical definitions
    else {
        set = s_set_new (contracts);
        zlistx_add_start (self->loaded, set);
        ff_log_info ("loaded contract set %s: %d contracts, %s", location, loaded, set->digest);
    }
    set->refs++;
    return set;
}

void
orc_sets_release (orc_sets_t *self, orc_set_t **set_p)
{
    if (!set_p || !*set_p)
        return;
    orc_set_t *set = *set_p;
    *set_p = NULL;
    if (set->refs > 0)
        set->refs--;
    if (set != self->fallback && set->refs == 0)
        s_evict (self);
}

size_t
orc_sets_loaded (orc_sets_t *self)
{
    return zlistx_size (self->loaded) + 1;
}

fac_contract_set_t *
orc_set_contracts (orc_set_t *set)
{
    return set->contracts;
}

const char *
orc_set_digest (orc_set_t *set)
{
    return set->digest;
}
