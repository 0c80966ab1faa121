/*  sis_backpressure — see sis_backpressure.h. */
#include "sis_backpressure.h"

void
sis_backpressure_init (sis_backpressure_t *self, const sis_backpressure_config_t *config)
{
    self->config = *config;
    self->active = false;
    self->episodes = 0;
    self->shed = 0;
}

bool
sis_backpressure_admit (sis_backpressure_t *self, uint64_t pending)
{
    if (pending < self->config.max_pending)
        return true;
    self->shed++;
    return false;
}

bool
sis_backpressure_update (sis_backpressure_t *self, uint64_t pending)
{
    if (!self->config.enabled)
        return false;
    if (!self->active && pending >= self->config.threshold) {
        self->active = true;
        self->episodes++;
        return true;
    }
    if (self->active
    &&  (double) pending < (double) self->config.threshold * self->config.exit_ratio) {
        self->active = false;
        return true;
    }
    return false;
}

double
sis_backpressure_utilization (const sis_backpressure_t *self, uint64_t pending)
{
    if (self->config.max_pending == 0)
        return 0;
    return 100.0 * (double) pending / (double) self->config.max_pending;
}

bool
sis_backpressure_configure (sis_backpressure_t *self, const sis_backpressure_config_t *config)
{
    self->config = *config;
    if (!config->enabled && self->active) {
        self->active = false;
        return true;
    }
    return false;
}
