/*  The farfanctl command table: one line per command, each implemented in
    its own ctl_<command>.c and declared in ctl_command.h. */
#include "ctl_command.h"

#include <stddef.h>

const ctl_command_t ctl_commands [] = {
    { "ping", "orchestrator|factory|sisas [--endpoint E] [--timeout MS] [--retries N] [--json]",
      "check that a service answers; print its version, uptime and round-trip time", ctl_ping },
    { NULL, NULL, NULL, NULL },
};
