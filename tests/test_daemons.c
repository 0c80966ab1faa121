/*  The real binaries: start-up errors, clean exit on SIGTERM/SIGINT, and
    farfanctl ping against them. Every daemon binds ephemeral loopback
    ports and announces them on its first info line, which is how these
    tests find them. */
#include <criterion/criterion.h>
#include <signal.h>

#include "ff_heap.h"
#include "ff_test.h"

#define S_EXIT_TIMEOUT_MS 5000

static const char *
s_program (const char *name)
{
    static char path [512];
    return ff_test_build_path (name, path, sizeof path);
}

typedef struct {
    const char *name;               // service
    const char *program;            // build-relative binary
    const char *request_socket;     // announced as <socket>=tcp://...
    const char *args [12];          // loopback ephemeral settings
} s_daemon_t;

static const s_daemon_t s_daemons [] = {
    { "factory", "services/farfan-factory", "direct",
      { "--endpoint", "@tcp://127.0.0.1:*", "--orchestrator-endpoint", "",
        "--sisas-endpoint", "", NULL } },
    { "orchestrator", "services/farfan-orchestrator", "client",
      { "--client-endpoint", "@tcp://127.0.0.1:*", "--worker-endpoint", "@tcp://127.0.0.1:*",
        "--sisas-endpoint", "", NULL } },
    { "sisas", "services/farfan-sisas", "control",
      { "--ingest-endpoint", "@tcp://127.0.0.1:*", "--publish-endpoint", "@tcp://127.0.0.1:*",
        "--control-endpoint", "@tcp://127.0.0.1:*", NULL } },
};

//  Starts a daemon on ephemeral ports; writes its request endpoint.
static ff_test_process_t *
s_start (const s_daemon_t *daemon, char *endpoint, size_t endpoint_size)
{
    char *argv [24];
    int argc = 0;
    argv [argc++] = (char *) daemon->name;
    for (int i = 0; daemon->args [i]; i++)
        argv [argc++] = (char *) daemon->args [i];
    argv [argc++] = "--http-port";
    argv [argc++] = "-1";
    argv [argc++] = "--http-address";
    argv [argc++] = "127.0.0.1";
    //  An orchestrator's store goes to scratch space of its own (left for
    //  the system's /tmp cleaning: the daemon may outlive this call).
    static char data_dir [64];
    if (streq (daemon->name, "orchestrator")) {
        snprintf (data_dir, sizeof data_dir, "/tmp/farfan-daemon-test-XXXXXX");
        cr_assert_not_null (mkdtemp (data_dir));
        argv [argc++] = "--data-dir";
        argv [argc++] = data_dir;
    }
    argv [argc] = NULL;
    ff_test_process_t *process = ff_test_spawn (s_program (daemon->program), argv, NULL);
    char needle [64];
    snprintf (needle, sizeof needle, " %s=tcp://", daemon->request_socket);
    const char *line = ff_test_process_wait_line (process, needle, FF_TEST_TIMEOUT_MS);
    cr_assert_not_null (line, "%s did not announce its endpoints; stderr:\n%s", daemon->name,
                        ff_test_process_stderr (process));
    const char *start = strstr (line, needle) + strlen (needle) - strlen ("tcp://");
    size_t length = strcspn (start, " ");
    cr_assert_lt (length, endpoint_size);
    memcpy (endpoint, start, length);
    endpoint [length] = '\0';
    return process;
}

//  Runs farfanctl to completion; returns its exit code.
static int
s_farfanctl (ff_test_process_t **process_p, char *const argv [])
{
    *process_p = ff_test_spawn (s_program ("services/farfanctl"), argv, NULL);
    return ff_test_process_wait_exit (*process_p, 20000);
}

FF_TEST (daemons, sigterm_and_sigint_end_each_daemon_cleanly)
{
    for (size_t i = 0; i < sizeof s_daemons / sizeof s_daemons [0]; i++) {
        for (int round = 0; round < 2; round++) {
            char endpoint [128];
            ff_test_process_t *daemon = s_start (&s_daemons [i], endpoint, sizeof endpoint);
            //  Serving first, so the signal hits a running service.
            zsock_t *dealer = ff_test_dealer (endpoint);
            ff_test_assert_pings (dealer);
            zsock_destroy (&dealer);
            ff_test_process_signal (daemon, round == 0 ? SIGTERM : SIGINT);
            int code = ff_test_process_wait_exit (daemon, S_EXIT_TIMEOUT_MS);
            cr_assert_eq (code, 0, "%s exit %d on %s; stderr:\n%s", s_daemons [i].name, code,
                          round == 0 ? "SIGTERM" : "SIGINT", ff_test_process_stderr (daemon));
            cr_assert (strstr (ff_test_process_stdout (daemon), "stopped"),
                       "no stop line:\n%s", ff_test_process_stdout (daemon));
            ff_test_process_destroy (&daemon);
        }
    }
}

FF_TEST (daemons, help_lists_settings_and_exits_zero)
{
    char *argv [] = { "farfan-orchestrator", "--help", NULL };
    ff_test_process_t *process = ff_test_spawn (s_program ("services/farfan-orchestrator"), argv, NULL);
    cr_assert_eq (ff_test_process_wait_exit (process, S_EXIT_TIMEOUT_MS), 0);
    const char *out = ff_test_process_stdout (process);
    cr_assert (strstr (out, "FARFAN_ORCHESTRATOR_CLIENT_ENDPOINT"), "%s", out);
    cr_assert (strstr (out, "@tcp://*:5551"), "%s", out);
    cr_assert (strstr (out, "FARFAN_ORCHESTRATOR_HTTP_PORT"), "%s", out);
    ff_test_process_destroy (&process);
}

FF_TEST (daemons, bad_setting_exits_two_naming_key_and_value)
{
    char *argv [] = { "farfan-factory", NULL };
    char *env [] = { "FARFAN_FACTORY_HWM=lots", NULL };
    ff_test_process_t *process = ff_test_spawn (s_program ("services/farfan-factory"), argv, env);
    cr_assert_eq (ff_test_process_wait_exit (process, S_EXIT_TIMEOUT_MS), 2);
    const char *err = ff_test_process_stderr (process);
    cr_assert (strstr (err, "hwm") && strstr (err, "\"lots\"") && strstr (err, "FARFAN_FACTORY_HWM"),
               "%s", err);
    ff_test_process_destroy (&process);
}

//  heap_retain_mb: bounded like every setting; ff_heap takes 0..1024 MiB.
FF_TEST (daemons, heap_retain_is_bounded)
{
    char *argv [] = { "farfan-sisas", "--heap-retain-mb", "4096", NULL };
    ff_test_process_t *process = ff_test_spawn (s_program ("services/farfan-sisas"), argv, NULL);
    cr_assert_eq (ff_test_process_wait_exit (process, S_EXIT_TIMEOUT_MS), 2);
    const char *err = ff_test_process_stderr (process);
    cr_assert (strstr (err, "heap_retain_mb") && strstr (err, "4096"), "%s", err);
    ff_test_process_destroy (&process);
    cr_assert_eq (ff_heap_retain (-1), -1);
    cr_assert_eq (ff_heap_retain (FF_HEAP_RETAIN_MAX_MB + 1), -1);
    cr_assert_eq (ff_heap_retain (0), 0);
    //  Applied by glibc's allocator; ASan's has no such settings (1).
    int applied = ff_heap_retain (FF_HEAP_RETAIN_DEFAULT_MB);
    cr_assert (applied == 0 || applied == 1, "%d", applied);
    cr_assert_eq (ff_heap_retain (FF_HEAP_RETAIN_MAX_MB), applied);
#if !defined (__SANITIZE_ADDRESS__)
    cr_assert_eq (applied, 0, "glibc's allocator refused the heap settings");
#endif
}

FF_TEST (daemons, endpoint_in_use_exits_one_with_the_reason)
{
    char endpoint [128];
    ff_test_process_t *first = s_start (&s_daemons [0], endpoint, sizeof endpoint);
    char bind [160];
    snprintf (bind, sizeof bind, "@%s", endpoint);
    char *argv [] = { "farfan-factory", "--endpoint", bind, "--orchestrator-endpoint", "",
                      "--sisas-endpoint", "", "--http-port", "0", NULL };
    ff_test_process_t *second = ff_test_spawn (s_program ("services/farfan-factory"), argv, NULL);
    cr_assert_eq (ff_test_process_wait_exit (second, S_EXIT_TIMEOUT_MS), 1);
    cr_assert (strstr (ff_test_process_stderr (second), "Address already in use"),
               "%s", ff_test_process_stderr (second));
    ff_test_process_destroy (&second);
    ff_test_process_signal (first, SIGTERM);
    cr_assert_eq (ff_test_process_wait_exit (first, S_EXIT_TIMEOUT_MS), 0);
    ff_test_process_destroy (&first);
}

FF_TEST (daemons, farfanctl_pings_each_daemon)
{
    for (size_t i = 0; i < sizeof s_daemons / sizeof s_daemons [0]; i++) {
        char endpoint [128];
        ff_test_process_t *daemon = s_start (&s_daemons [i], endpoint, sizeof endpoint);
        char *argv [] = { "farfanctl", "ping", (char *) s_daemons [i].name, "--endpoint", endpoint,
                          "--timeout", "2000", NULL };
        ff_test_process_t *ctl = NULL;
        cr_assert_eq (s_farfanctl (&ctl, argv), 0, "%s", ff_test_process_stderr (ctl));
        const char *out = ff_test_process_stdout (ctl);
        char expected [64];
        snprintf (expected, sizeof expected, "%s 0.", s_daemons [i].name);
        cr_assert (strncmp (out, expected, strlen (expected)) == 0, "%s", out);
        cr_assert (strstr (out, "uptime=") && strstr (out, "rtt=") && strstr (out, "instance="), "%s", out);
        ff_test_process_destroy (&ctl);

        char *json [] = { "farfanctl", "ping", (char *) s_daemons [i].name, "--endpoint", endpoint,
                          "--json", NULL };
        cr_assert_eq (s_farfanctl (&ctl, json), 0);
        cr_assert (strstr (ff_test_process_stdout (ctl), "\"rtt_ms\":"), "%s", ff_test_process_stdout (ctl));
        ff_test_process_destroy (&ctl);

        //  The environment names the endpoint just as well.
        char variable [160];
        const char *names [] = { "FARFAN_CTL_FACTORY", "FARFAN_CTL_ORCHESTRATOR", "FARFAN_CTL_SISAS" };
        snprintf (variable, sizeof variable, "%s=%s", names [i], endpoint);
        char *env [] = { variable, NULL };
        char *plain [] = { "farfanctl", "ping", (char *) s_daemons [i].name, NULL };
        ctl = ff_test_spawn (s_program ("services/farfanctl"), plain, env);
        cr_assert_eq (ff_test_process_wait_exit (ctl, 20000), 0, "%s", ff_test_process_stderr (ctl));
        ff_test_process_destroy (&ctl);

        ff_test_process_signal (daemon, SIGTERM);
        cr_assert_eq (ff_test_process_wait_exit (daemon, S_EXIT_TIMEOUT_MS), 0);
        ff_test_process_destroy (&daemon);
    }
}

FF_TEST (daemons, farfanctl_reports_what_went_wrong)
{
    //  Nothing listens: Lazy Pirate gives up, exit 3.
    zsock_t *probe = zsock_new_router ("@tcp://127.0.0.1:*");
    char *unused = zsock_last_endpoint (probe);
    zsock_destroy (&probe);
    char *argv [] = { "farfanctl", "ping", "factory", "--endpoint", unused, "--timeout", "100",
                      "--retries", "2", NULL };
    ff_test_process_t *ctl = NULL;
    cr_assert_eq (s_farfanctl (&ctl, argv), 3);
    cr_assert (strstr (ff_test_process_stderr (ctl), "no reply") &&
               strstr (ff_test_process_stderr (ctl), "2 attempts"), "%s", ff_test_process_stderr (ctl));
    ff_test_process_destroy (&ctl);
    free (unused);

    //  A service that is not the one asked for: exit 1.
    char endpoint [128];
    ff_test_process_t *sisas = s_start (&s_daemons [2], endpoint, sizeof endpoint);
    char *wrong [] = { "farfanctl", "ping", "factory", "--endpoint", endpoint, NULL };
    cr_assert_eq (s_farfanctl (&ctl, wrong), 1);
    cr_assert (strstr (ff_test_process_stderr (ctl), "is sisas, not factory"), "%s",
               ff_test_process_stderr (ctl));
    ff_test_process_destroy (&ctl);
    ff_test_process_signal (sisas, SIGTERM);
    ff_test_process_wait_exit (sisas, S_EXIT_TIMEOUT_MS);
    ff_test_process_destroy (&sisas);

    //  Usage errors: exit 2.
    char *no_service [] = { "farfanctl", "ping", NULL };
    cr_assert_eq (s_farfanctl (&ctl, no_service), 2);
    ff_test_process_destroy (&ctl);
    char *unknown [] = { "farfanctl", "frobnicate", NULL };
    cr_assert_eq (s_farfanctl (&ctl, unknown), 2);
    cr_assert (strstr (ff_test_process_stderr (ctl), "unknown command"));
    ff_test_process_destroy (&ctl);
    char *bad_timeout [] = { "farfanctl", "ping", "sisas", "--timeout", "soon", NULL };
    cr_assert_eq (s_farfanctl (&ctl, bad_timeout), 2);
    ff_test_process_destroy (&ctl);

    char *help [] = { "farfanctl", "--help", NULL };
    cr_assert_eq (s_farfanctl (&ctl, help), 0);
    cr_assert (strstr (ff_test_process_stdout (ctl), "ping orchestrator|factory|sisas"));
    ff_test_process_destroy (&ctl);
}
