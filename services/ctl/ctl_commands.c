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
    { "run", "FILE [--phases P02-P03] [--deadline S [--strict-deadline]] [--budget N]\n"
      "      [--params JSON] [--name NAME] [--path] [--wait | --no-wait] [--endpoint E] [--json]",
      "submit a document (text or PDF) to the orchestrator; print the run id, or watch\n"
      "      it with a progress bar per phase and a summary (farfanctl run --help)", ctl_run },
    { "status", "RUN [--wait] [--endpoint E] [--json]",
      "a run's state, phases, conflicts, warnings and failures; --wait watches it", ctl_status },
    { "results", "RUN [--phase P] [--contract ID] [--endpoint E] [--json]",
      "a run's contract results", ctl_results },
    { "report", "RUN [--format json|markdown|html] [--out FILE] [--endpoint E] [--json]",
      "a run's report", ctl_report },
    { "cancel", "RUN [--endpoint E] [--json]", "cancel a run", ctl_cancel },
    { "runs", "[--limit N] [--endpoint E] [--json]", "the orchestrator's runs, most recent first",
      ctl_runs },
    { "factories", "[--endpoint E] [--json]",
      "the factories registered with the orchestrator: capabilities, load, metrics",
      ctl_factories },
    { "contracts", "generate [--source DIR] [--out DIR] [--force] [--json]",
      "write the default contract set from its source (contracts/README.md)", ctl_contracts },
    { "contracts", "check DIR [--json]",
      "load a contract set as a factory would: contracts per phase, digest, load errors",
      ctl_contracts },
    { "contracts", "import --farfan DIR --out DIR [--source DIR] [--json]",
      "write a contract set from upstream FARFAN's questionnaire, with an import report\n"
      "      (farfanctl contracts import --help)", ctl_contracts_import },
    { "keys", "generate DIR NAME... [--json]",
      "write CURVE certificates: DIR/NAME.cert (public) and DIR/NAME.cert_secret (0600)",
      ctl_keys },
    { NULL, NULL, NULL, NULL },
};
