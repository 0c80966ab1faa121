/*  farfanctl ping SERVICE [--endpoint E] [--timeout MS] [--retries N] [--json]

    Sends PING to the service's request socket and prints one line: name,
    version, instance, uptime and round-trip time — or why not.
*/
#include "ctl_command.h"
#include "ff_client.h"
#include "ff_clock.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *service;        // name on the command line
    const char *environment;    // endpoint override variable
    const char *endpoint;       // local default: the request socket
} s_service_t;

static const s_service_t s_services [] = {
    { "orchestrator", "FARFAN_CTL_ORCHESTRATOR", "tcp://127.0.0.1:5550" },
    { "factory", "FARFAN_CTL_FACTORY", "tcp://127.0.0.1:5560" },
    { "sisas", "FARFAN_CTL_SISAS", "tcp://127.0.0.1:5572" },
};

const char *
ctl_default_endpoint (const char *service)
{
    for (size_t i = 0; i < sizeof s_services / sizeof s_services [0]; i++) {
        if (strcmp (service, s_services [i].service) != 0)
            continue;
        const char *value = getenv (s_services [i].environment);
        return value && *value ? value : s_services [i].endpoint;
    }
    return NULL;
}

//  Parses a positive integer option value; -1 when it is not one.
static long
s_positive (const char *text)
{
    char *end = NULL;
    errno = 0;
    long value = strtol (text, &end, 10);
    if (!*text || *end || errno || value <= 0)
        return -1;
    return value;
}

int
ctl_ping (int argc, char **argv)
{
    const char *service = NULL;
    const char *endpoint = NULL;
    long timeout_ms = 1000;
    long attempts = 3;
    bool json = false;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv [i];
        bool has_value = i + 1 < argc;
        if (strcmp (arg, "--json") == 0)
            json = true;
        else
        if (strcmp (arg, "--endpoint") == 0 && has_value)
            endpoint = argv [++i];
        else
        if (strcmp (arg, "--timeout") == 0 && has_value) {
            if ((timeout_ms = s_positive (argv [++i])) < 0) {
                fprintf (stderr, "farfanctl ping: --timeout takes milliseconds > 0, not \"%s\"\n", argv [i]);
                return CTL_EXIT_USAGE;
            }
        }
        else
        if (strcmp (arg, "--retries") == 0 && has_value) {
            if ((attempts = s_positive (argv [++i])) < 0) {
                fprintf (stderr, "farfanctl ping: --retries takes a count > 0, not \"%s\"\n", argv [i]);
                return CTL_EXIT_USAGE;
            }
        }
        else
        if (*arg != '-' && !service)
            service = arg;
        else {
            fprintf (stderr, "farfanctl ping: unexpected argument \"%s\"\n", arg);
            return CTL_EXIT_USAGE;
        }
    }
    if (!service || !ctl_default_endpoint (service)) {
        fprintf (stderr, "farfanctl ping: name the service: orchestrator, factory or sisas\n");
        return CTL_EXIT_USAGE;
    }
    if (!endpoint)
        endpoint = ctl_default_endpoint (service);

    char err [512] = "";
    ff_client_t *client = ff_client_new (endpoint, NULL, err, sizeof err);
    if (!client) {
        fprintf (stderr, "farfanctl ping %s: %s\n", service, err);
        return CTL_EXIT_USAGE;
    }
    Farfan__Ping ping = FARFAN__PING__INIT;
    ping.sent_at_us = ff_clock_wall_us ();
    ff_msg_t *reply = NULL;
    uint64_t started = ff_clock_mono_us ();
    int rc = ff_client_request (client, FARFAN__MESSAGE_TYPE__PING, &ping.base,
                                (int) timeout_ms, (int) attempts, &reply, err, sizeof err);
    double rtt_ms = (double) (ff_clock_mono_us () - started) / 1000.0;
    int exit_code = CTL_EXIT_OK;
    Farfan__Pong *pong = NULL;
    if (rc == -1) {
        fprintf (stderr, "farfanctl ping %s: %s\n", service, err);
        exit_code = CTL_EXIT_UNREACHABLE;
        goto cleanup;
    }
    if (rc == -2) {
        fprintf (stderr, "farfanctl ping %s: %s\n", service, err);
        exit_code = CTL_EXIT_ERROR_REPLY;
        goto cleanup;
    }
    if (ff_msg_type (reply) != FARFAN__MESSAGE_TYPE__PONG) {
        fprintf (stderr, "farfanctl ping %s: %s answered %s %s: %s\n", service, endpoint,
                 ff_msg_type_name (ff_msg_type (reply)),
                 ff_msg_code_name (ff_msg_status_code (reply)), ff_msg_status_message (reply));
        exit_code = CTL_EXIT_ERROR_REPLY;
        goto cleanup;
    }
    pong = farfan__pong__unpack (NULL, ff_msg_body_size (reply), ff_msg_body_data (reply));
    if (!pong) {
        fprintf (stderr, "farfanctl ping %s: %s answered a PONG that does not decode\n",
                 service, endpoint);
        exit_code = CTL_EXIT_ERROR_REPLY;
        goto cleanup;
    }
    if (strcmp (pong->service, service) != 0) {
        fprintf (stderr, "farfanctl ping %s: %s is %s, not %s\n", service, endpoint,
                 pong->service, service);
        exit_code = CTL_EXIT_ERROR_REPLY;
        goto cleanup;
    }
    if (json)
        printf ("{\"service\":\"%s\",\"version\":\"%s\",\"instance_id\":\"%s\","
                "\"uptime_ms\":%llu,\"rtt_ms\":%.3f,\"endpoint\":\"%s\"}\n",
                pong->service, pong->version, pong->instance_id,
                (unsigned long long) pong->uptime_ms, rtt_ms, endpoint);
    else
        printf ("%s %s instance=%s uptime=%.1fs rtt=%.2fms (%s)\n", pong->service,
                pong->version, pong->instance_id, (double) pong->uptime_ms / 1000.0,
                rtt_ms, endpoint);

cleanup:
    if (pong)
        farfan__pong__free_unpacked (pong, NULL);
    ff_msg_destroy (&reply);
    ff_client_destroy (&client);
    return exit_code;
}
