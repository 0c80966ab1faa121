/*  ctl_command — the farfanctl commands and what they share.

    Exit codes (every command):
      0  done, and the answer was good
      1  the service answered with an error (or not as the service asked for)
      2  usage error: bad command line
      3  no answer: the service is unreachable or did not reply in time
      4  ran, some contracts failed or timed out (farfanctl factory execute)
*/
#ifndef CTL_COMMAND_H_INCLUDED
#define CTL_COMMAND_H_INCLUDED

#include <stdbool.h>

enum {
    CTL_EXIT_OK = 0,
    CTL_EXIT_ERROR_REPLY = 1,
    CTL_EXIT_USAGE = 2,
    CTL_EXIT_UNREACHABLE = 3,
    CTL_EXIT_SOME_FAILED = 4,
};

//  Runs one command; argv[0] is the command name. Returns the exit code.
typedef int (ctl_command_fn) (int argc, char **argv);

typedef struct {
    const char *name;           // first word on the command line
    const char *usage;          // arguments, one line
    const char *summary;        // one line
    ctl_command_fn *run;
} ctl_command_t;

//  The commands farfanctl knows, ending with an entry whose name is NULL.
extern const ctl_command_t ctl_commands [];

//  The endpoint of a service's request socket: FARFAN_CTL_<SERVICE> from
//  the environment, else the local default. NULL for an unknown service.
const char *
    ctl_default_endpoint (const char *service);

int
    ctl_ping (int argc, char **argv);
int
    ctl_factory (int argc, char **argv);
int
    ctl_sisas (int argc, char **argv);
int
    ctl_signals (int argc, char **argv);
//  The orchestrator's client API (ctl_run.c).
int
    ctl_run (int argc, char **argv);
int
    ctl_status (int argc, char **argv);
int
    ctl_results (int argc, char **argv);
int
    ctl_report (int argc, char **argv);
int
    ctl_cancel (int argc, char **argv);
int
    ctl_runs (int argc, char **argv);
int
    ctl_factories (int argc, char **argv);
//  Contract sets on disk (ctl_contracts.c): generate, check.
int
    ctl_contracts (int argc, char **argv);
//  A command with subcommands in several files has one table line per
//  subcommand, all with the command's name and a usage that starts with
//  the subcommand; farfanctl runs the first. This runs the line of argv[0]
//  whose usage starts with argv[1] (other than caller's own), or prints a
//  usage error and returns CTL_EXIT_USAGE.
int
    ctl_contracts_dispatch (int argc, char **argv, ctl_command_fn *caller);
//  farfanctl contracts import (ctl_contracts_import.c); argv[0] "contracts",
//  argv[1] "import".
int
    ctl_contracts_import (int argc, char **argv);
//  farfanctl keys generate (ctl_keys.c): CURVE certificates.
int
    ctl_keys (int argc, char **argv);

#endif
