/*  sis_fusion — see sis_fusion.h.

    Groups live in chunks of S_CHUNK entries, addressed by number (chunk =
    number / S_CHUNK): growing the table adds chunks and never moves a
    group, and entries are touched only when first used, so a reservation
    costs address space, not memory. Key hashes sit in one dense array by
    number (0 = free entry); an open-addressing index of uint32 numbers
    (linear probing, at least twice the capacity, backward-shift deletion)
    finds a group by its key, comparing the dense hashes first. Growing
    rebuilds the index from the hash array alone (a sequential scan), so
    the pause of a growth stays far below a millisecond. Open groups are
    chained in opening order (a doubly linked list through the entries):
    the oldest is the next to close and the one evicted for room. Freed
    entries form a stack; never-used ones are handed out in order.
*/
#include "sis_fusion.h"
#include "sis_hash.h"

#include <stdlib.h>
#include <string.h>

#define S_NONE UINT32_MAX
#define S_CHUNK_SHIFT 10
#define S_CHUNK (1u << S_CHUNK_SHIFT)
//  Confidence must rise by more than rounding to count as risen.
#define S_EPSILON 1e-12

typedef struct {
    uint64_t close_at_us;               // monotonic time the window ends
    uint64_t window_us;                 // the group's window
    uint64_t anchor_ts_us;              // ts of the first signal
    double first_confidence;
    double max_confidence;              // max over members
    double product;                     // ∏(1 − cᵢ) over members
    uint32_t members;
    uint32_t older;                     // opening-order links; free stack uses older
    uint32_t newer;
    uint32_t sources [SIS_FUSION_SOURCES_MAX];
    uint8_t source_count;
    bool more_sources;
    int8_t phase;
    uint8_t type_size;                  // key = type bytes then subject bytes
    uint16_t subject_size;
    char key [FF_SIGNAL_TYPE_MAX + FF_SIGNAL_SUBJECT_MAX];
    char first_id [FF_SIGNAL_ID_MAX + 1];
} s_group_t;

struct sis_fusion {
    s_group_t **chunks;                 // S_CHUNK entries each
    size_t chunk_count;
    uint64_t *hashes;                   // key hash by number, 0 = free
    size_t capacity;                    // numbers in use may go up to this
    size_t max_groups;
    uint32_t fresh;                     // numbers below were handed out once
    uint32_t *index;                    // slot -> number, S_NONE when free
    size_t index_mask;
    uint32_t free_top;                  // stack of freed numbers
    uint32_t oldest;                    // opening order: head ...
    uint32_t newest;                    // ... and tail
    size_t open;                        // open groups
    uint64_t window_us;                 // for new groups
    sis_fusion_method_t method;
    sis_fusion_emit_fn *emit;
    void *emit_arg;
    sis_fusion_stats_t stats;           // counters (open/capacity filled on read)
};

static int
s_resize (sis_fusion_t *self, size_t capacity);

static inline s_group_t *
s_group (const sis_fusion_t *self, uint32_t number)
{
    return &self->chunks [number >> S_CHUNK_SHIFT][number & (S_CHUNK - 1)];
}

sis_fusion_t *
sis_fusion_new (size_t initial_capacity, size_t max_groups, uint64_t window_us,
                sis_fusion_method_t method, sis_fusion_emit_fn *emit, void *arg)
{
    sis_fusion_t *self = (sis_fusion_t *) calloc (1, sizeof *self);
    if (!self)
        return NULL;
    if (max_groups < 1)
        max_groups = 1;
    if (initial_capacity < 1)
        initial_capacity = 1;
    if (initial_capacity > max_groups)
        initial_capacity = max_groups;
    self->max_groups = max_groups;
    self->window_us = window_us;
    self->method = method;
    self->emit = emit;
    self->emit_arg = arg;
    self->oldest = self->newest = self->free_top = S_NONE;
    if (s_resize (self, initial_capacity) != 0) {
        sis_fusion_destroy (&self);
        return NULL;
    }
    self->stats.resizes = 0;
    return self;
}

void
sis_fusion_destroy (sis_fusion_t **self_p)
{
    if (self_p && *self_p) {
        sis_fusion_t *self = *self_p;
        for (size_t i = 0; i < self->chunk_count; i++)
            free (self->chunks [i]);
        free (self->chunks);
        free (self->hashes);
        free (self->index);
        free (self);
        *self_p = NULL;
    }
}

//  Never 0: 0 marks a free entry in the hash array.
uint64_t
sis_fusion_hash (const ff_signal_t *signal)
{
    uint64_t hash = sis_hash_bytes (signal->type, strlen (signal->type), 0);
    hash = sis_hash_bytes (signal->subject, strlen (signal->subject), hash);
    return hash ? hash : 1;
}

static inline bool
s_key_equal (const s_group_t *group, const char *type, size_t type_size,
             const char *subject, size_t subject_size)
{
    return group->type_size == type_size
        && group->subject_size == subject_size
        && memcmp (group->key, type, type_size) == 0
        && memcmp (group->key + type_size, subject, subject_size) == 0;
}

static void
s_index_insert (sis_fusion_t *self, uint32_t number)
{
    size_t slot = self->hashes [number] & self->index_mask;
    while (self->index [slot] != S_NONE)
        slot = (slot + 1) & self->index_mask;
    self->index [slot] = number;
}

//  Backward-shift deletion of the slot holding number.
static void
s_index_remove (sis_fusion_t *self, uint32_t number)
{
    size_t hole = self->hashes [number] & self->index_mask;
    while (self->index [hole] != number)
        hole = (hole + 1) & self->index_mask;
    size_t next = (hole + 1) & self->index_mask;
    while (self->index [next] != S_NONE) {
        size_t home = self->hashes [self->index [next]] & self->index_mask;
        bool movable = hole <= next ? (home <= hole || home > next)
                                    : (home <= hole && home > next);
        if (movable) {
            self->index [hole] = self->index [next];
            hole = next;
        }
        next = (next + 1) & self->index_mask;
    }
    self->index [hole] = S_NONE;
}

//  Grows the table to capacity entries (more than now): new chunks, a
//  longer hash array, a rebuilt index. 0, or -1 when out of memory
//  (whatever was allocated is kept, the capacity unchanged).
static int
s_resize (sis_fusion_t *self, size_t capacity)
{
    size_t chunks_needed = (capacity + S_CHUNK - 1) / S_CHUNK;
    if (chunks_needed > self->chunk_count) {
        s_group_t **chunks = (s_group_t **) realloc (self->chunks,
                                                     chunks_needed * sizeof (s_group_t *));
        if (!chunks)
            return -1;
        self->chunks = chunks;
        while (self->chunk_count < chunks_needed) {
            //  malloc, not calloc: entries are written before they are read.
            s_group_t *chunk = (s_group_t *) malloc (S_CHUNK * sizeof (s_group_t));
            if (!chunk)
                return -1;
            self->chunks [self->chunk_count++] = chunk;
        }
    }
    uint64_t *hashes = (uint64_t *) realloc (self->hashes, capacity * sizeof (uint64_t));
    if (!hashes)
        return -1;
    self->hashes = hashes;
    memset (hashes + self->capacity, 0, (capacity - self->capacity) * sizeof (uint64_t));
    size_t index_size = 4;
    while (index_size < capacity * 2)
        index_size *= 2;
    uint32_t *index = (uint32_t *) malloc (index_size * sizeof (uint32_t));
    if (!index)
        return -1;
    free (self->index);
    self->index = index;
    self->index_mask = index_size - 1;
    memset (self->index, 0xff, index_size * sizeof (uint32_t));
    self->capacity = capacity;
    for (uint32_t number = 0; number < self->fresh; number++)
        if (hashes [number])
            s_index_insert (self, number);
    self->stats.resizes++;
    return 0;
}

static double
s_fused_confidence (const sis_fusion_t *self, const s_group_t *group)
{
    return self->method == SIS_FUSION_MAX ? group->max_confidence : 1.0 - group->product;
}

//  Closes an open group: unlinks it, emits when it rose, frees it.
static void
s_close (sis_fusion_t *self, uint32_t number, bool early)
{
    s_group_t *group = s_group (self, number);
    s_index_remove (self, number);
    if (group->older != S_NONE)
        s_group (self, group->older)->newer = group->newer;
    else
        self->oldest = group->newer;
    if (group->newer != S_NONE)
        s_group (self, group->newer)->older = group->older;
    else
        self->newest = group->older;
    self->open--;
    double confidence = s_fused_confidence (self, group);
    if (confidence > group->first_confidence + S_EPSILON) {
        self->stats.emitted++;
        if (self->emit) {
            char type [FF_SIGNAL_TYPE_MAX + 1];
            char subject [FF_SIGNAL_SUBJECT_MAX + 1];
            memcpy (type, group->key, group->type_size);
            type [group->type_size] = '\0';
            memcpy (subject, group->key + group->type_size, group->subject_size);
            subject [group->subject_size] = '\0';
            sis_fusion_group_t view = {
                .type = type,
                .subject = subject,
                .first_id = group->first_id,
                .phase = group->phase,
                .anchor_ts_us = group->anchor_ts_us,
                .window_us = group->window_us,
                .members = group->members,
                .first_confidence = group->first_confidence,
                .confidence = confidence > 1.0 ? 1.0 : confidence,
                .method = self->method,
                .sources = group->sources,
                .source_count = group->source_count,
                .more_sources = group->more_sources,
                .early = early,
            };
            self->emit (&view, self->emit_arg);
        }
    }
    self->hashes [number] = 0;
    group->older = self->free_top;
    self->free_top = number;
}

//  The open group of the signal's key, or S_NONE.
static uint32_t
s_find (const sis_fusion_t *self, uint64_t hash, const char *type, size_t type_size,
        const char *subject, size_t subject_size)
{
    size_t slot = hash & self->index_mask;
    uint32_t number;
    while ((number = self->index [slot]) != S_NONE) {
        if (self->hashes [number] == hash
        &&  s_key_equal (s_group (self, number), type, type_size, subject, subject_size))
            return number;
        slot = (slot + 1) & self->index_mask;
    }
    return S_NONE;
}

bool
sis_fusion_absorb (sis_fusion_t *self, const ff_signal_t *signal, uint64_t hash,
                   uint32_t source, uint64_t now_us)
{
    if (signal->subject [0] == '\0' || self->open == 0)
        return false;
    size_t type_size = strlen (signal->type);
    size_t subject_size = strlen (signal->subject);
    uint32_t number = s_find (self, hash, signal->type, type_size, signal->subject, subject_size);
    if (number == S_NONE)
        return false;
    s_group_t *group = s_group (self, number);
    //  A window that ended (clock) or a timestamp outside it: the group is over.
    uint64_t distance = signal->ts_us >= group->anchor_ts_us
                      ? signal->ts_us - group->anchor_ts_us
                      : group->anchor_ts_us - signal->ts_us;
    if (now_us >= group->close_at_us || distance >= group->window_us) {
        s_close (self, number, now_us < group->close_at_us);
        return false;
    }
    group->members++;
    if (signal->confidence > group->max_confidence)
        group->max_confidence = signal->confidence;
    group->product *= 1.0 - signal->confidence;
    bool known = false;
    for (uint32_t i = 0; i < group->source_count && !known; i++)
        known = group->sources [i] == source;
    if (!known) {
        if (group->source_count < SIS_FUSION_SOURCES_MAX)
            group->sources [group->source_count++] = source;
        else
            group->more_sources = true;
    }
    self->stats.absorbed++;
    return true;
}

int
sis_fusion_open (sis_fusion_t *self, const ff_signal_t *signal, uint64_t hash,
                 uint32_t source, uint64_t now_us)
{
    if (signal->subject [0] == '\0')
        return 0;
    if (self->open >= self->max_groups && self->oldest != S_NONE) {
        self->stats.evicted++;
        s_close (self, self->oldest, true);
    }
    if (self->free_top == S_NONE && self->fresh >= self->capacity) {
        size_t capacity = self->capacity * 2;
        if (capacity > self->max_groups)
            capacity = self->max_groups;
        if (capacity <= self->capacity || s_resize (self, capacity) != 0)
            return -1;
    }
    uint32_t number;
    if (self->free_top != S_NONE) {
        number = self->free_top;
        self->free_top = s_group (self, number)->older;
    }
    else
        number = self->fresh++;
    s_group_t *group = s_group (self, number);
    size_t type_size = strlen (signal->type);
    size_t subject_size = strlen (signal->subject);
    self->hashes [number] = hash;
    group->window_us = self->window_us;
    group->close_at_us = now_us + self->window_us;
    group->anchor_ts_us = signal->ts_us;
    group->first_confidence = signal->confidence;
    group->max_confidence = signal->confidence;
    group->product = 1.0 - signal->confidence;
    group->members = 1;
    group->sources [0] = source;
    group->source_count = 1;
    group->more_sources = false;
    group->phase = (int8_t) signal->phase;
    group->type_size = (uint8_t) type_size;
    group->subject_size = (uint16_t) subject_size;
    memcpy (group->key, signal->type, type_size);
    memcpy (group->key + type_size, signal->subject, subject_size);
    size_t id_size = strlen (signal->id);
    memcpy (group->first_id, signal->id, id_size + 1);
    group->older = self->newest;
    group->newer = S_NONE;
    if (self->newest != S_NONE)
        s_group (self, self->newest)->newer = number;
    else
        self->oldest = number;
    self->newest = number;
    s_index_insert (self, number);
    self->open++;
    self->stats.opened++;
    return 0;
}

size_t
sis_fusion_expire (sis_fusion_t *self, uint64_t now_us)
{
    size_t closed = 0;
    while (self->oldest != S_NONE && s_group (self, self->oldest)->close_at_us <= now_us) {
        s_close (self, self->oldest, false);
        closed++;
    }
    return closed;
}

void
sis_fusion_close_all (sis_fusion_t *self)
{
    while (self->oldest != S_NONE)
        s_close (self, self->oldest, true);
}

uint64_t
sis_fusion_next_close_us (const sis_fusion_t *self)
{
    return self->oldest == S_NONE ? UINT64_MAX : s_group (self, self->oldest)->close_at_us;
}

void
sis_fusion_set_window (sis_fusion_t *self, uint64_t window_us)
{
    self->window_us = window_us;
}

void
sis_fusion_set_method (sis_fusion_t *self, sis_fusion_method_t method)
{
    self->method = method;
}

void
sis_fusion_set_max_groups (sis_fusion_t *self, size_t max_groups)
{
    if (max_groups < 1)
        max_groups = 1;
    self->max_groups = max_groups;
    while (self->open > max_groups) {
        self->stats.evicted++;
        s_close (self, self->oldest, true);
    }
}

size_t
sis_fusion_reserve (sis_fusion_t *self, size_t groups)
{
    if (groups > self->max_groups)
        groups = self->max_groups;
    if (groups > self->capacity)
        s_resize (self, groups);
    return self->capacity;
}

void
sis_fusion_stats (const sis_fusion_t *self, sis_fusion_stats_t *stats)
{
    *stats = self->stats;
    stats->open_groups = self->open;
    stats->capacity = self->capacity;
    stats->max_groups = self->max_groups;
}

const char *
sis_fusion_method_name (sis_fusion_method_t method)
{
    return method == SIS_FUSION_CORROBORATE ? "corroborate" : "max";
}

int
sis_fusion_method_parse (const char *text, sis_fusion_method_t *method)
{
    if (strcmp (text, "max") == 0)
        *method = SIS_FUSION_MAX;
    else
    if (strcmp (text, "corroborate") == 0)
        *method = SIS_FUSION_CORROBORATE;
    else
        return -1;
    return 0;
}
