/*  ff_config: precedence flag > environment > file > default, bad values,
    help. Criterion runs each test in its own process, so setenv is local. */
#include <criterion/criterion.h>

#include "ff_test.h"
#include <criterion/redirect.h>
#include <stdlib.h>
#include <unistd.h>

#include "ff_config.h"
#include "ff_log.h"

typedef struct {
    char *endpoint;
    int64_t workers;
    double ratio;
    bool strict;
    int log_level;
    char *name;
} s_config_t;

static const ff_config_key_t s_keys [] = {
    { "endpoint", FF_CONFIG_ENDPOINT, offsetof (s_config_t, endpoint), "@tcp://*:5560", 1, 0,
      "where to listen" },
    { "max_workers", FF_CONFIG_INT, offsetof (s_config_t, workers), "8", 1, 64, "threads" },
    { "ratio", FF_CONFIG_DOUBLE, offsetof (s_config_t, ratio), "0.5", 0, 1, "a fraction" },
    { "strict", FF_CONFIG_BOOL, offsetof (s_config_t, strict), "false", 0, 0, "refuse bad input" },
    { "log_level", FF_CONFIG_LOG_LEVEL, offsetof (s_config_t, log_level), "info", 0, 0, "verbosity" },
    { "name", FF_CONFIG_STRING, offsetof (s_config_t, name), "", 0, 0, "optional name" },
};

static const ff_config_schema_t s_schema = {
    .program = "farfan-test", .service = "test", .summary = "A test daemon.",
    .keys = s_keys, .key_count = sizeof s_keys / sizeof s_keys [0],
};

static s_config_t s_config;
static char s_err [512];

static ff_config_result_t
s_load (int argc, char **argv)
{
    ff_config_free (&s_schema, &s_config);
    memset (&s_config, 0, sizeof s_config);
    s_err [0] = '\0';
    return ff_config_load (&s_schema, &s_config, argc, argv, stdout, s_err, sizeof s_err);
}

static void
s_cleanup (void)
{
    ff_config_free (&s_schema, &s_config);
}

//  Writes text to a fresh temporary file; returns its path (static buffer).
static const char *
s_config_file (const char *text)
{
    static char path [] = "/tmp/farfan-config-XXXXXX";
    strcpy (path, "/tmp/farfan-config-XXXXXX");
    int fd = mkstemp (path);
    cr_assert (fd >= 0);
    cr_assert_eq (write (fd, text, strlen (text)), (ssize_t) strlen (text));
    close (fd);
    return path;
}

TestSuite (config, .fini = s_cleanup);

FF_TEST (config, defaults_apply_when_nothing_is_set)
{
    char *argv [] = { "prog" };
    cr_assert_eq (s_load (1, argv), FF_CONFIG_LOADED, "%s", s_err);
    cr_assert_str_eq (s_config.endpoint, "@tcp://*:5560");
    cr_assert_eq (s_config.workers, 8);
    cr_assert_float_eq (s_config.ratio, 0.5, 1e-12);
    cr_assert_not (s_config.strict);
    cr_assert_eq (s_config.log_level, FF_LOG_INFO);
    cr_assert_str_eq (s_config.name, "");
}

FF_TEST (config, precedence_flag_over_environment_over_file_over_default)
{
    const char *path = s_config_file ("# a comment\n\nmax_workers = 2\nratio = 0.25\n"
                                      "name = \"from file\"\n");
    setenv ("FARFAN_TEST_CONFIG", path, 1);
    setenv ("FARFAN_TEST_MAX_WORKERS", "3", 1);
    setenv ("FARFAN_TEST_NAME", "from env", 1);
    char *argv [] = { "prog", "--max-workers", "4" };
    cr_assert_eq (s_load (3, argv), FF_CONFIG_LOADED, "%s", s_err);
    cr_assert_eq (s_config.workers, 4, "flag wins");
    cr_assert_str_eq (s_config.name, "from env", "environment beats file");
    cr_assert_float_eq (s_config.ratio, 0.25, 1e-12, "file beats default");
    cr_assert_str_eq (s_config.endpoint, "@tcp://*:5560", "default when nothing else");
    unlink (path);
}

FF_TEST (config, flag_spellings)
{
    char *argv [] = { "prog", "--max_workers=5", "--strict", "--log-level", "DEBUG",
                      "--endpoint=@tcp://127.0.0.1:*,>ipc:///tmp/x" };
    cr_assert_eq (s_load (6, argv), FF_CONFIG_LOADED, "%s", s_err);
    cr_assert_eq (s_config.workers, 5);
    cr_assert (s_config.strict);
    cr_assert_eq (s_config.log_level, FF_LOG_DEBUG);
    cr_assert_str_eq (s_config.endpoint, "@tcp://127.0.0.1:*,>ipc:///tmp/x");

    setenv ("FARFAN_TEST_STRICT", "yes", 1);
    char *no [] = { "prog", "--no-strict" };
    cr_assert_eq (s_load (2, no), FF_CONFIG_LOADED, "%s", s_err);
    cr_assert_not (s_config.strict, "--no-KEY beats the environment");
}

FF_TEST (config, config_file_given_by_flag)
{
    const char *path = s_config_file ("strict = on\n");
    char *argv [] = { "prog", "--config", (char *) path };
    cr_assert_eq (s_load (3, argv), FF_CONFIG_LOADED, "%s", s_err);
    cr_assert (s_config.strict);
    unlink (path);
}

//  Asserts loading fails and the message names each of the fragments.
static void
s_assert_error (int argc, char **argv, const char *a, const char *b, const char *c)
{
    cr_assert_eq (s_load (argc, argv), FF_CONFIG_ERROR);
    const char *fragments [] = { a, b, c };
    for (size_t i = 0; i < 3; i++)
        if (fragments [i])
            cr_assert (strstr (s_err, fragments [i]), "error \"%s\" lacks \"%s\"", s_err, fragments [i]);
}

FF_TEST (config, bad_values_name_key_value_and_source)
{
    char *not_int [] = { "prog", "--max-workers", "12x" };
    s_assert_error (3, not_int, "max_workers", "\"12x\"", "not an integer");
    char *too_big [] = { "prog", "--max-workers=65" };
    s_assert_error (2, too_big, "max_workers", "outside 1..64", "flag --max-workers");
    char *bad_bool [] = { "prog", "--strict=maybe" };
    s_assert_error (2, bad_bool, "strict", "maybe", "not a boolean");
    char *bad_level [] = { "prog", "--log-level", "loud" };
    s_assert_error (3, bad_level, "log_level", "loud", "not a log level");
    char *bad_endpoint [] = { "prog", "--endpoint", "localhost:5560" };
    s_assert_error (3, bad_endpoint, "endpoint", "localhost:5560", "not an endpoint");
    char *empty_endpoint [] = { "prog", "--endpoint=" };
    s_assert_error (2, empty_endpoint, "endpoint", "must not be empty", NULL);

    setenv ("FARFAN_TEST_RATIO", "1.5", 1);
    char *plain [] = { "prog" };
    s_assert_error (1, plain, "ratio", "1.5", "environment FARFAN_TEST_RATIO");
}

FF_TEST (config, unknown_settings_are_errors)
{
    char *typo [] = { "prog", "--max-worker", "3" };
    s_assert_error (3, typo, "unknown setting", "--max-worker", NULL);
    char *positional [] = { "prog", "oops" };
    s_assert_error (2, positional, "unexpected argument", "oops", NULL);
    char *no_value [] = { "prog", "--max-workers" };
    s_assert_error (2, no_value, "needs a value", NULL, NULL);
    char *no_config [] = { "prog", "--config" };
    s_assert_error (2, no_config, "--config needs", NULL, NULL);

    const char *path = s_config_file ("max_workers = 2\nworkers = 3\n");
    char *file [] = { "prog", "--config", (char *) path };
    s_assert_error (3, file, "line 2", "unknown key", "workers");
    unlink (path);
    const char *bad = s_config_file ("ratio = 2\n");
    char *bad_file [] = { "prog", "--config", (char *) bad };
    s_assert_error (3, bad_file, "ratio", "config file", "line 1");
    unlink (bad);
    char *missing [] = { "prog", "--config", "/nonexistent/farfan.conf" };
    s_assert_error (3, missing, "/nonexistent/farfan.conf", "No such file", NULL);
}

FF_TEST_OPTS (config, help_lists_every_key_default_and_environment, .init = cr_redirect_stdout)
{
    char *argv [] = { "prog", "--help" };
    cr_assert_eq (s_load (2, argv), FF_CONFIG_EXIT);
    fflush (stdout);
    char output [8192] = "";
    FILE *captured = cr_get_redirected_stdout ();
    size_t size = fread (output, 1, sizeof output - 1, captured);
    output [size] = '\0';
    const char *expected [] = {
        "Usage: farfan-test", "--endpoint ENDPOINT", "@tcp://*:5560", "FARFAN_TEST_ENDPOINT",
        "--max-workers INT", "FARFAN_TEST_MAX_WORKERS", "--strict BOOL", "FARFAN_TEST_CONFIG",
        "--log-level LEVEL", "--ratio NUMBER",
    };
    for (size_t i = 0; i < sizeof expected / sizeof expected [0]; i++)
        cr_assert (strstr (output, expected [i]), "help lacks \"%s\":\n%s", expected [i], output);
}
