/*  sis_sources — see sis_sources.h.

    Open addressing with linear probing over an index of uint32 slot
    numbers (power of two, at least twice max_sources, so probes stay
    short); entries live in one array allocated at creation. Removal
    (eviction) uses backward-shift deletion, so no tombstones build up.
*/
#include "sis_sources.h"
#include "sis_hash.h"

#include <stdlib.h>
#include <string.h>

#define S_EMPTY UINT32_MAX

struct sis_sources {
    sis_source_t *entries;      // max_sources + 1; the last is the untracked entry
    size_t max_sources;         // tracked entries at most
    double rate_limit;          // per-source signals/s; 0 = off
    size_t used;                // tracked entries in use
    uint32_t *index;            // slot -> entry number, S_EMPTY when free
    size_t index_mask;          // index size - 1
    uint64_t idle_us;           // eviction needs this much idleness
    sis_source_t *last;         // last entry found
    uint64_t untracked;         // signals counted on the untracked entry
    uint64_t evicted;           // idle sources dropped to make room
    uint64_t no_idle_until_us;  // no entry can be evicted before then
};

sis_sources_t *
sis_sources_new (size_t max_sources, uint64_t idle_us)
{
    if (max_sources < 1)
        max_sources = 1;
    sis_sources_t *self = (sis_sources_t *) calloc (1, sizeof *self);
    if (!self)
        return NULL;
    size_t index_size = 4;
    while (index_size < max_sources * 2)
        index_size *= 2;
    self->entries = (sis_source_t *) calloc (max_sources + 1, sizeof (sis_source_t));
    self->index = (uint32_t *) malloc (index_size * sizeof (uint32_t));
    if (!self->entries || !self->index) {
        sis_sources_destroy (&self);
        return NULL;
    }
    memset (self->index, 0xff, index_size * sizeof (uint32_t));
    self->index_mask = index_size - 1;
    self->max_sources = max_sources;
    self->idle_us = idle_us;
    sis_source_t *untracked = &self->entries [max_sources];
    strcpy (untracked->name, "(untracked)");
    untracked->name_size = (uint32_t) strlen (untracked->name);
    untracked->index = (uint32_t) max_sources;
    untracked->in_use = true;
    untracked->tracked = false;
    return self;
}

void
sis_sources_destroy (sis_sources_t **self_p)
{
    if (self_p && *self_p) {
        sis_sources_t *self = *self_p;
        free (self->entries);
        free (self->index);
        free (self);
        *self_p = NULL;
    }
}

static inline bool
s_matches (const sis_source_t *entry, const char *name, size_t size, uint64_t hash)
{
    return entry->hash == hash && entry->name_size == size
        && memcmp (entry->name, name, size) == 0;
}

//  Removes entry from the index (backward-shift deletion).
static void
s_unindex (sis_sources_t *self, sis_source_t *entry)
{
    size_t slot = entry->hash & self->index_mask;
    while (self->index [slot] != entry->index)
        slot = (slot + 1) & self->index_mask;
    size_t hole = slot;
    size_t next = (hole + 1) & self->index_mask;
    while (self->index [next] != S_EMPTY) {
        size_t home = self->entries [self->index [next]].hash & self->index_mask;
        //  The entry at next may fill the hole when its home is not
        //  between hole (exclusive) and next (inclusive), cyclically.
        bool movable = hole <= next ? (home <= hole || home > next)
                                    : (home <= hole && home > next);
        if (movable) {
            self->index [hole] = self->index [next];
            hole = next;
        }
        next = (next + 1) & self->index_mask;
    }
    self->index [hole] = S_EMPTY;
}

//  Adds entry to the index (it is not there).
static void
s_reindex (sis_sources_t *self, sis_source_t *entry)
{
    size_t slot = entry->hash & self->index_mask;
    while (self->index [slot] != S_EMPTY)
        slot = (slot + 1) & self->index_mask;
    self->index [slot] = entry->index;
}

//  A free entry: an unused one, or the least recently seen idle one
//  (evicted). NULL when every entry is busy. Entries are never left
//  unused in the middle (the caller refills an evicted entry at once),
//  so while the table fills up the next unused one is entries[used].
//  When no entry is idle, none can be before the oldest becomes idle:
//  the scan is skipped until then, so a flood of new sources costs one
//  comparison each.
static sis_source_t *
s_free_entry (sis_sources_t *self, uint64_t now_us)
{
    if (self->used < self->max_sources)
        return &self->entries [self->used];
    if (now_us < self->no_idle_until_us)
        return NULL;
    sis_source_t *oldest = NULL;
    for (size_t i = 0; i < self->max_sources; i++) {
        sis_source_t *entry = &self->entries [i];
        if (!oldest || entry->last_seen_us < oldest->last_seen_us)
            oldest = entry;
    }
    if (!oldest || now_us < oldest->last_seen_us + self->idle_us) {
        self->no_idle_until_us = oldest ? oldest->last_seen_us + self->idle_us : now_us;
        return NULL;
    }
    s_unindex (self, oldest);
    if (self->last == oldest)
        self->last = NULL;
    oldest->in_use = false;
    self->used--;
    self->evicted++;
    return oldest;
}

sis_source_t *
sis_sources_lookup (sis_sources_t *self, const char *name, size_t size, uint64_t now_us)
{
    sis_source_t *last = self->last;
    if (last && last->name_size == size && memcmp (last->name, name, size) == 0) {
        last->last_seen_us = now_us;
        return last;
    }
    if (size > FF_SIGNAL_SOURCE_MAX)
        size = FF_SIGNAL_SOURCE_MAX;
    uint64_t hash = sis_hash_bytes (name, size, 0);
    size_t slot = hash & self->index_mask;
    while (self->index [slot] != S_EMPTY) {
        sis_source_t *entry = &self->entries [self->index [slot]];
        if (s_matches (entry, name, size, hash)) {
            entry->last_seen_us = now_us;
            self->last = entry;
            return entry;
        }
        slot = (slot + 1) & self->index_mask;
    }
    sis_source_t *entry = s_free_entry (self, now_us);
    if (!entry) {
        entry = &self->entries [self->max_sources];
        entry->last_seen_us = now_us;
        self->untracked++;
        return entry;
    }
    uint32_t index = (uint32_t) (entry - self->entries);
    memset (entry, 0, sizeof *entry);
    memcpy (entry->name, name, size);
    entry->name [size] = '\0';
    entry->name_size = (uint32_t) size;
    entry->index = index;
    entry->hash = hash;
    entry->in_use = true;
    entry->tracked = true;
    entry->last_seen_us = now_us;
    sis_rate_init (&entry->rate, now_us);
    ff_token_bucket_init (&entry->limit, self->rate_limit, self->rate_limit, now_us);
    s_reindex (self, entry);
    self->used++;
    self->last = entry;
    return entry;
}

uint64_t
sis_sources_check_seq (sis_source_t *source, uint64_t seq, bool *restarted)
{
    *restarted = false;
    if (!source->tracked)
        return 0;
    uint64_t lost = 0;
    if (source->seq_seen) {
        if (seq > source->last_seq)
            lost = seq - source->last_seq - 1;
        else {
            *restarted = true;
            source->restarts++;
        }
    }
    source->seq_seen = true;
    source->last_seq = seq;
    source->lost += lost;
    return lost;
}

size_t
sis_sources_size (const sis_sources_t *self)
{
    return self->used;
}

uint64_t
sis_sources_untracked (const sis_sources_t *self)
{
    return self->untracked;
}

uint64_t
sis_sources_evicted (const sis_sources_t *self)
{
    return self->evicted;
}

sis_source_t *
sis_sources_at (sis_sources_t *self, size_t index)
{
    if (index > self->max_sources || !self->entries [index].in_use)
        return NULL;
    return &self->entries [index];
}

size_t
sis_sources_slots (const sis_sources_t *self)
{
    return self->max_sources + 1;
}

void
sis_sources_set_idle (sis_sources_t *self, uint64_t idle_us)
{
    self->idle_us = idle_us;
    self->no_idle_until_us = 0;
}

void
sis_sources_set_rate_limit (sis_sources_t *self, double rate, uint64_t now_us)
{
    self->rate_limit = rate > 0 ? rate : 0;
    for (size_t i = 0; i <= self->max_sources; i++)
        ff_token_bucket_init (&self->entries [i].limit, self->rate_limit, self->rate_limit,
                              now_us);
}

bool
sis_sources_admit (sis_sources_t *self, sis_source_t *source, uint64_t now_us)
{
    return self->rate_limit <= 0 || ff_token_bucket_take (&source->limit, 1, now_us);
}
