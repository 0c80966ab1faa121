/*  farfanctl — the command-line client of the farfan services.
    Usage: farfanctl COMMAND [ARGS...]; farfanctl --help lists commands. */
#include "ctl_command.h"
#include "farfan_build.h"
#include "ff_curve.h"

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
                  "CURVE (services started with curve_cert): --curve-cert FILE (this client's\n"
                  "NAME.cert_secret) and --curve-server-cert FILE (the services' public NAME.cert),\n"
                  "anywhere on the command line, or FARFAN_CTL_CURVE_CERT and\n"
                  "FARFAN_CTL_CURVE_SERVER_CERT.\n"
                  "Exit codes: 0 ok, 1 error reply, 2 usage error, 3 no answer,\n"
                  "4 ran but some contracts failed or timed out.\n");
}

//  Takes --curve-cert FILE / --curve-server-cert FILE (or --flag=FILE)
//  out of argv wherever they are; the environment fills what is not given.
//  Returns the new argc, or -1 after printing a usage error.
static int
s_take_curve_flags (int argc, char **argv, const char **cert, const char **server_cert)
{
    static const char *const flags [] = { "--curve-cert", "--curve-server-cert" };
    const char **targets [] = { cert, server_cert };
    int kept = 1;
    for (int i = 1; i < argc; i++) {
        bool taken = false;
        for (int f = 0; f < 2 && !taken; f++) {
            size_t size = strlen (flags [f]);
            if (strcmp (argv [i], flags [f]) == 0) {
                if (i + 1 >= argc || !*argv [i + 1]) {
                    fprintf (stderr, "farfanctl: %s takes a file\n", flags [f]);
                    return -1;
                }
                *targets [f] = argv [++i];
                taken = true;
            }
            else
            if (strncmp (argv [i], flags [f], size) == 0 && argv [i][size] == '=') {
                *targets [f] = argv [i] + size + 1;
                taken = true;
            }
        }
        if (!taken)
            argv [kept++] = argv [i];
    }
    argv [kept] = NULL;
    if (!*cert)
        *cert = getenv ("FARFAN_CTL_CURVE_CERT");
    if (!*server_cert)
        *server_cert = getenv ("FARFAN_CTL_CURVE_SERVER_CERT");
    return kept;
}

int
main (int argc, char **argv)
{
    //  A client has nothing to clean up on Ctrl-C: the default action is right.
    zsys_handler_set (NULL);
    const char *cert = NULL;
    const char *server_cert = NULL;
    argc = s_take_curve_flags (argc, argv, &cert, &server_cert);
    if (argc < 0)
        return CTL_EXIT_USAGE;
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
    const ctl_command_t *found = NULL;
    for (const ctl_command_t *command = ctl_commands; command->name && !found; command++)
        if (strcmp (argv [1], command->name) == 0)
            found = command;
    if (!found) {
        fprintf (stderr, "farfanctl: unknown command \"%s\" (see farfanctl --help)\n", argv [1]);
        return CTL_EXIT_USAGE;
    }
    //  Every command that connects uses these client credentials.
    char err [512] = "";
    ff_curve_t *curve = ff_curve_new (cert, NULL, server_cert, "--curve-", err, sizeof err);
    if (!curve && *err) {
        fprintf (stderr, "farfanctl: %s\n", err);
        return CTL_EXIT_USAGE;
    }
    ff_curve_set_client_default (curve);
    int code = found->run (argc - 1, argv + 1);
    ff_curve_destroy (&curve);
    return code;
}
