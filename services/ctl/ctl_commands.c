/*  The farfanctl command table: one line per command, each implemented in
    its own ctl_<command>.c and declared in ctl_command.h. */
#include "ctl_command.h"

#include <stddef.h>

const ctl_command_t ctl_commands [] = {
    { "ping", "orchestrator|factory|sisas [--endpoint E] [--timeout MS] [--retries N] [--json]",
      "check that a service answers; print its version, uptime and round-trip time", ctl_ping },
    { "factory", "[--endpoint E] [--timeout MS] [--json] SUBCOMMAND ...",
      "the factory's direct API: capabilities, metrics, optimize-caches, snapshot, restore,\n"
      "      plan, sync, put-contracts, execute (farfanctl factory --help)", ctl_factory },
    { "sisas", "[--endpoint E] [--timeout MS] [--json] health | stats | predict PHASE |\n"
      "      route SOURCE [--type T] | vehicles | configure [KEY=VALUE...]",
      "SISAS's control API: health of every feature, accounting, load prediction,\n"
      "      routing, vehicles, run-time settings (farfanctl sisas --help)", ctl_sisas },
    { "signals", "publish --type T [--subject S] [--confidence C] [--count N --rate R]\n"
      "      [--endpoint E] [--json] | tail [--topic PREFIX] [--count N] [--endpoint E] [--json]",
      "publish signals to SISAS, or watch the delivered stream (farfanctl signals --help)",
      ctl_signals },
    { NULL, NULL, NULL, NULL },
};
