/*  farfanctl — the command-line client of the farfan services.
    Usage: farfanctl COMMAND [ARGS...]; farfanctl --help lists commands. */
#include "ctl_command.h"
#include "farfan_build.h"

#include <czmq.h>
#include <stdio.h>
#include <string.h>

static void
s_usage (FILE *out)
{
    fprintf (out, "Usage: farfanctl COMMAND [ARGS...]\n\nCommands:\n");
    for (const ctl_command_t *command = ctl_commands; command->name; command++)
        fprintf (out, "  %s %s\n      %s\n", command->name, command->usage, command->summary);
    fprintf (out, "\nEndpoints default to the local services; override per command with\n"
                  "--endpoint or with FARFAN_CTL_ORCHESTRATOR, FARFAN_CTL_FACTORY, FARFAN_CTL_SISAS.\n"
                  "Exit codes: 0 ok, 1 error reply, 2 usage error, 3 no answer,\n"
                  "4 ran but some contracts failed or timed out.\n");
}

int
main (int argc, char **argv)
{
    //  A client has nothing to clean up on Ctrl-C: the default action is right.
    zsys_handler_set (NULL);
    if (argc < 2) {
        s_usage (stderr);
        return CTL_EXIT_USAGE;
    }
    if (strcmp (argv [1], "--help") == 0 || strcmp (argv [1], "-h") == 0
    ||  strcmp (argv [1], "help") == 0) {
        s_usage (stdout);
        return CTL_EXIT_OK;
    }
    if (strcmp (argv [1], "--version") == 0) {
        printf ("farfanctl %s\n", FARFAN_VERSION);
        return CTL_EXIT_OK;
    }
    for (const ctl_command_t *command = ctl_commands; command->name; command++)
        if (strcmp (argv [1], command->name) == 0)
            return command->run (argc - 1, argv + 1);
    fprintf (stderr, "farfanctl: unknown command \"%s\" (see farfanctl --help)\n", argv [1]);
    return CTL_EXIT_USAGE;
}
