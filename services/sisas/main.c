/*  farfan-sisas: see sis_server.h.

    The settings whose validity depends on each other (sis_settings_check:
    backpressure_threshold ≤ max_pending, a known fusion_method) are
    checked before the daemon starts, so a bad combination ends with exit
    code 2 and a message naming the key, like any other bad setting. */
#include "sis_server.h"
#include "sis_settings.h"
#include "ff_daemon.h"

#include <stdio.h>

//  0 when the settings pass the cross-key rules (or do not load: the
//  daemon reports that itself), 2 after printing why not.
static int
s_precheck (int argc, char **argv)
{
    sis_config_t config = { 0 };
    char err [512] = "";
    FILE *quiet = fopen ("/dev/null", "w");
    ff_config_result_t loaded = ff_config_load (&sis_config_schema, &config, argc, argv,
                                                quiet ? quiet : stdout, err, sizeof err);
    int rc = 0;
    if (loaded == FF_CONFIG_LOADED && sis_settings_check (&config, err, sizeof err) != 0) {
        fprintf (stderr, "%s: %s\n", sis_config_schema.program, err);
        rc = 2;
    }
    ff_config_free (&sis_config_schema, &config);
    if (quiet)
        fclose (quiet);
    return rc;
}

int
main (int argc, char **argv)
{
    int rc = s_precheck (argc, argv);
    if (rc)
        return rc;
    return ff_daemon_main (&sis_daemon, argc, argv);
}
